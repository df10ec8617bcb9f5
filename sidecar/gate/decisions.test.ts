import { describe, expect, it } from '@jest/globals';
import type { ApprovalRequest, ApprovalService, GateDecision } from './gate.js';
import { awaitApproval, denyMessage } from './decisions.js';

const decision: GateDecision = {
  action: 'review',
  policy: 'team-a/agent-rules',
  rule: 'review-accounts',
  message: 'review required by policy team-a/agent-rules rule review-accounts: balance changes need a human',
};

const req = { sessionId: 's', connection: 'db', protocol: 'postgres', operation: 'UPDATE x', decision } as unknown as ApprovalRequest;

describe('denyMessage', () => {
  it('names policy and rule once, with the rule author message', () => {
    expect(
      denyMessage({ policy: 'ns/p', rule: 'no-ddl', message: 'denied by policy ns/p rule no-ddl: schema changes are not allowed' }),
    ).toBe('agentgate: denied by policy ns/p rule "no-ddl": schema changes are not allowed');
    expect(denyMessage({ policy: 'ns/p', rule: 'r:1', message: 'denied by policy ns/p rule r:1' })).toBe(
      'agentgate: denied by policy ns/p rule "r:1": not allowed',
    );
    expect(denyMessage({ rule: 'unparseable', message: 'the statement cannot be parsed' })).toBe(
      'agentgate: denied by built-in rule "unparseable": the statement cannot be parsed',
    );
    expect(denyMessage({ message: 'no policy allows this (default deny)' })).toBe('agentgate: denied: no policy allows this (default deny)');
  });
});

describe('awaitApproval', () => {
  const service = (outcome: 'approved' | 'denied' | 'expired' | Error): ApprovalService => ({
    async request(_r, opts) {
      opts.onPending('ar-1');
      opts.onPending('ar-dup');
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
  });

  it('calls onPending once and passes the outcome through', async () => {
    const ids: string[] = [];
    const r = await awaitApproval(service('approved'), req, { signal: new AbortController().signal, onPending: (id) => ids.push(id) });
    expect(r).toMatchObject({ outcome: 'approved', approvalId: 'ar-1' });
    expect(ids).toEqual(['ar-1']);
  });

  it('turns denied and expired into refusals that name the rule and the request', async () => {
    const d = await awaitApproval(service('denied'), req, { signal: new AbortController().signal, onPending: () => undefined });
    expect(d.message).toBe('agentgate: approval denied by policy team-a/agent-rules rule "review-accounts": balance changes need a human (request ar-1)');
    const e = await awaitApproval(service('expired'), req, { signal: new AbortController().signal, onPending: () => undefined });
    expect(e.outcome).toBe('expired');
    expect(e.message).toContain('approval expired');
  });

  it('fails closed when the approval service cannot be reached, without leaking its error text', async () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:8443 token=abc'), { code: 'ECONNREFUSED' });
    const r = await awaitApproval(service(err), req, { signal: new AbortController().signal, onPending: () => undefined });
    expect(r.outcome).toBe('unavailable');
    expect(r.message).toContain('approval service is unavailable (ECONNREFUSED)');
    expect(r.message).not.toContain('10.1.2.3');
  });
});
