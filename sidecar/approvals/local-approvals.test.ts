import { describe, it, expect } from '@jest/globals';
import { LocalApprovals, type ApprovalRequestInput, type DecidedApproval } from './local-approvals.js';

const base: ApprovalRequestInput = {
  policy: 'team-a/writes',
  rule: 'review-updates',
  connection: 'orders-db',
  protocol: 'postgres',
  operation: 'update orders set status = $1',
  requester: { sub: 'system:serviceaccount:team-a:agent', iss: 'kubernetes', groups: [] },
};

function pendingId(approvals: LocalApprovals): string {
  const [p] = approvals.list();
  if (!p) throw new Error('nothing pending');
  return p.id;
}

describe('LocalApprovals', () => {
  it('holds a request until it is approved, telling the caller its id', async () => {
    const decided: DecidedApproval[] = [];
    const approvals = new LocalApprovals({ onDecided: (d) => decided.push(d) });
    let told = '';
    const outcome = approvals.request({ ...base, onPending: ({ id }) => (told = id) });
    const id = pendingId(approvals);
    expect(told).toBe(id);
    expect(id).toMatch(/^ar-[a-z2-9]{8}$/);
    expect(approvals.list()[0]).toMatchObject({ policy: 'team-a/writes', rule: 'review-updates', operation: base.operation });
    approvals.approve(id, { user: 'alice', reason: 'ticket 42' });
    await expect(outcome).resolves.toBe('approved');
    expect(approvals.list()).toEqual([]);
    expect(decided[0]).toMatchObject({ id, outcome: 'approved', decidedBy: 'alice', reason: 'ticket 42' });
  });

  it('denies', async () => {
    const approvals = new LocalApprovals();
    const outcome = approvals.request(base);
    approvals.deny(pendingId(approvals), { user: 'bob', reason: 'not today' });
    await expect(outcome).resolves.toBe('denied');
  });

  it('expires after the policy timeout', async () => {
    const decided: DecidedApproval[] = [];
    const approvals = new LocalApprovals({ onDecided: (d) => decided.push(d) });
    await expect(approvals.request({ ...base, timeout: '5ms' })).resolves.toBe('expired');
    expect(decided[0]).toMatchObject({ outcome: 'expired', decidedBy: null });
  });

  it('needs `required` distinct approvers and never the requester', async () => {
    const approvals = new LocalApprovals();
    const outcome = approvals.request({ ...base, required: 2 });
    const id = pendingId(approvals);
    expect(() => approvals.approve(id, { user: base.requester.sub })).toThrow(expect.objectContaining({ code: 'APPROVAL_SELF' }));
    expect(approvals.approve(id, { user: 'alice' })).toMatchObject({ approvals: [{ user: 'alice' }] });
    expect(() => approvals.approve(id, { user: 'alice' })).toThrow(expect.objectContaining({ code: 'APPROVAL_DUPLICATE_APPROVER' }));
    expect(approvals.list()).toHaveLength(1);
    approvals.approve(id, { user: 'carol' });
    await expect(outcome).resolves.toBe('approved');
  });

  it('reports unknown ids and bad input with stable codes', () => {
    const approvals = new LocalApprovals();
    expect(() => approvals.approve('ar-nope', { user: 'a' })).toThrow(expect.objectContaining({ code: 'APPROVAL_NOT_FOUND', status: 404 }));
    void approvals.request(base);
    expect(() => approvals.approve(pendingId(approvals), { user: ' ' })).toThrow(expect.objectContaining({ code: 'APPROVAL_BAD_INPUT' }));
    approvals.close();
  });

  it('withdraws a request whose client went away, and refuses everything on close', async () => {
    const approvals = new LocalApprovals();
    const ac = new AbortController();
    const withdrawn = approvals.request({ ...base, signal: ac.signal });
    const other = approvals.request(base);
    ac.abort();
    await expect(withdrawn).resolves.toBe('denied');
    expect(approvals.list()).toHaveLength(1);
    approvals.close();
    await expect(other).resolves.toBe('denied');
    await expect(approvals.request(base)).resolves.toBe('denied');
  });
});

describe('LocalApprovals grants', () => {
  it('lets an approved grant cover the same rule for the same requester until it runs out', async () => {
    let now = 1_000_000;
    const approvals = new LocalApprovals({ now: () => now });
    const grantReq = { ...base, scope: 'grant' as const, grantDurationMs: 60_000 };
    const first = approvals.request(grantReq);
    approvals.approve(pendingId(approvals), { user: 'alice' });
    await expect(first).resolves.toBe('approved');
    expect(approvals.activeGrants()).toHaveLength(1);
    // Covered: resolves without a pending request.
    await expect(approvals.request(grantReq)).resolves.toBe('approved');
    expect(approvals.list()).toEqual([]);
    // Another rule or another requester is not covered.
    void approvals.request({ ...grantReq, rule: 'other' });
    void approvals.request({ ...grantReq, requester: { ...base.requester, sub: 'someone-else' } });
    expect(approvals.list()).toHaveLength(2);
    // After the window, a new approval is needed.
    now += 60_001;
    void approvals.request(grantReq);
    expect(approvals.list()).toHaveLength(3);
    expect(approvals.activeGrants()).toEqual([]);
    approvals.close();
  });

  it('a once-scoped approval covers nothing after it', async () => {
    const approvals = new LocalApprovals();
    const first = approvals.request(base);
    approvals.approve(pendingId(approvals), { user: 'alice' });
    await expect(first).resolves.toBe('approved');
    void approvals.request(base);
    expect(approvals.list()).toHaveLength(1);
    approvals.close();
  });
});
