import { describe, it, expect } from '@jest/globals';
import type { AccessRequestStatus } from '../../core/resources/generated.js';
import { decideTransition, isApprover, rfc3339, type ApproverRules, type TransitionInput } from './approval-decision.js';
import { accessRequestMutator, accessRequestValidator } from './access-request-admission.js';
import type { AdmissionRequest } from '../webhooks/admission.js';

const NOW = new Date('2026-11-21T10:00:00Z');
const SPEC: TransitionInput['spec'] = {
  requester: { sub: 'agent@example.com', groups: ['agents'], pod: { namespace: 'team-a', name: 'agent-1', serviceAccount: 'agent' } },
  policy: 'orders',
  scope: 'once',
  expiresAt: '2026-11-21T10:10:00Z',
};
const ONE: ApproverRules = { users: ['bob'], groups: ['dba'], required: 1 };
const TWO: ApproverRules = { ...ONE, required: 2 };
const alice = { username: 'alice', groups: ['dba', 'system:authenticated'] };
const bob = { username: 'bob', groups: ['system:authenticated'] };
const carol = { username: 'carol', groups: ['dba'] };
const mallory = { username: 'mallory', groups: ['devs'] };
const pending: AccessRequestStatus = { phase: 'Pending' };
const approve = (old: AccessRequestStatus, user = 'someone', reason = 'looks fine'): AccessRequestStatus =>
  ({ ...old, approvals: [...(old.approvals ?? []), { user, reason, at: rfc3339(NOW) }] });

function run(o: Partial<TransitionInput>) {
  return decideTransition({ name: 'ar-x', spec: SPEC, old: pending, proposed: pending, user: alice, rules: ONE, now: NOW, mode: 'stamp', ...o });
}

describe('decideTransition (stamp mode): who may decide', () => {
  const table: Array<[string, Partial<TransitionInput>, string]> = [
    ['the requester (same sub) approving', { user: { username: 'agent@example.com', groups: ['dba'] }, proposed: approve(pending) }, 'AG_APPROVAL_SELF'],
    ['the requester pod service account approving', { user: { username: 'system:serviceaccount:team-a:agent', groups: ['dba'] }, proposed: approve(pending) }, 'AG_APPROVAL_SELF'],
    ['the requester denying', { user: { username: 'agent@example.com', groups: ['dba'] }, proposed: { phase: 'Denied', reason: 'no' } }, 'AG_APPROVAL_SELF'],
    ['an outsider approving', { user: mallory, proposed: approve(pending) }, 'AG_APPROVAL_NOT_APPROVER'],
    ['an outsider denying', { user: mallory, proposed: { phase: 'Denied', reason: 'no' } }, 'AG_APPROVAL_NOT_APPROVER'],
    ['a service account in an approver group', { user: { username: 'system:serviceaccount:x:y', groups: ['dba'] }, proposed: approve(pending) }, 'AG_APPROVAL_NOT_APPROVER'],
    ['anyone when the policy is gone', { rules: undefined, proposed: approve(pending) }, 'AG_APPROVAL_POLICY_GONE'],
    ['an approval after expiry', { now: new Date('2026-11-21T10:10:00Z'), proposed: approve(pending) }, 'AG_APPROVAL_EXPIRED'],
    ['an approval without a reason', { proposed: approve(pending, 'x', ' ') }, 'AG_APPROVAL_REASON_REQUIRED'],
    ['a denial without a reason', { proposed: { phase: 'Denied' } }, 'AG_APPROVAL_REASON_REQUIRED'],
    ['approve and deny at once', { proposed: { ...approve(pending), phase: 'Denied', reason: 'x' } }, 'AG_APPROVAL_BAD_UPDATE'],
    ['setting Approved without an approval', { proposed: { phase: 'Approved', decidedBy: 'alice' } }, 'AG_APPROVAL_BAD_UPDATE'],
    ['two approvals in one update', { proposed: approve(approve(pending, 'a'), 'b') }, 'AG_APPROVAL_BAD_UPDATE'],
    ['expiring before expiresAt', { proposed: { phase: 'Expired' } }, 'AG_APPROVAL_NOT_EXPIRED'],
  ];
  it.each(table)('refuses %s', (_label, input, code) => {
    const r = run(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.message).toMatch(/^agentgate: /);
    }
  });

  it('lets a user named in approvers.users approve (required 1): Approved, stamped with the authenticated user', () => {
    const r = run({ user: bob, proposed: { ...approve(pending, 'i-claim-to-be-carol'), phase: 'Pending' } });
    expect(r).toMatchObject({ ok: true, kind: 'approve', settled: true });
    if (r.ok) {
      expect(r.status.phase).toBe('Approved');
      expect(r.status.decidedBy).toBe('bob');
      expect(r.status.approvals).toEqual([{ user: 'bob', reason: 'looks fine', at: rfc3339(NOW) }]);
      expect(r.status.decidedAt).toBe(rfc3339(NOW));
    }
  });

  it('lets a member of an approver group approve', () => {
    const r = run({ user: carol, proposed: approve(pending) });
    expect(r.ok && r.status.phase).toBe('Approved');
  });

  it('needs two distinct approvers when required is 2', () => {
    const first = run({ rules: TWO, user: alice, proposed: approve(pending) });
    expect(first).toMatchObject({ ok: true, settled: false });
    if (!first.ok) return;
    expect(first.status.phase).toBe('Pending');
    expect(first.status.decidedBy).toBeUndefined();

    const again = run({ rules: TWO, user: alice, old: first.status, proposed: approve(first.status) });
    expect(again).toMatchObject({ ok: false, code: 'AG_APPROVAL_DUPLICATE' });

    const second = run({ rules: TWO, user: bob, old: first.status, proposed: approve(first.status) });
    expect(second).toMatchObject({ ok: true, settled: true });
    if (second.ok) {
      expect(second.status.phase).toBe('Approved');
      expect(second.status.decidedBy).toBe('bob');
      expect(second.status.approvals?.map((a) => a.user)).toEqual(['alice', 'bob']);
    }
  });

  it('refuses to rewrite an earlier approval', () => {
    const first = run({ rules: TWO, user: alice, proposed: approve(pending) });
    if (!first.ok) throw new Error('first approval refused');
    const forged = { ...first.status, approvals: [{ user: 'bob', reason: 'x', at: rfc3339(NOW) }, { user: 'x', reason: 'y', at: rfc3339(NOW) }] };
    expect(run({ rules: TWO, user: carol, old: first.status, proposed: forged })).toMatchObject({ ok: false, code: 'AG_APPROVAL_BAD_UPDATE' });
  });

  it('denies on a single deny, stamping decidedBy', () => {
    const r = run({ user: carol, proposed: { phase: 'Denied', reason: 'not now', decidedBy: 'bob' } });
    expect(r).toMatchObject({ ok: true, kind: 'deny', settled: true, status: { phase: 'Denied', decidedBy: 'carol', reason: 'not now' } });
  });

  it.each(['Approved', 'Denied', 'Expired'] as const)('changes nothing after %s', (phase) => {
    const old: AccessRequestStatus = { phase, decidedBy: 'bob', decidedAt: rfc3339(NOW), reason: 'r' };
    expect(run({ old, user: carol, proposed: approve(old) })).toMatchObject({ ok: false, code: 'AG_APPROVAL_DECIDED' });
    expect(run({ old, user: carol, proposed: { ...old, phase: 'Denied', reason: 'changed my mind' } })).toMatchObject({ ok: false, code: 'AG_APPROVAL_DECIDED' });
  });

  it('accepts conditions-only updates and the operator initializing or expiring a request', () => {
    expect(run({ old: pending, proposed: { ...pending, conditions: [] } })).toMatchObject({ ok: true, kind: 'unchanged' });
    expect(run({ old: undefined, proposed: { phase: 'Pending' }, user: mallory })).toMatchObject({ ok: true, kind: 'initialize' });
    const late = new Date('2026-11-21T10:10:01Z');
    expect(run({ now: late, proposed: { phase: 'Expired', decidedAt: rfc3339(late), reason: 'expired' }, user: mallory }))
      .toMatchObject({ ok: true, kind: 'expire' });
  });

  it('lets an approved grant end only after its window', () => {
    const spec = { ...SPEC, scope: 'grant' as const };
    const old: AccessRequestStatus = { phase: 'Approved', approvals: [{ user: 'bob', reason: 'r', at: rfc3339(NOW) }], decidedBy: 'bob', decidedAt: rfc3339(NOW), reason: 'r' };
    const rules = { ...ONE, grantDurationMs: 60_000 };
    const proposed = { ...old, phase: 'Expired' as const };
    expect(run({ spec, old, proposed, rules, now: new Date(NOW.getTime() + 30_000) })).toMatchObject({ ok: false, code: 'AG_APPROVAL_DECIDED' });
    expect(run({ spec, old, proposed, rules, now: new Date(NOW.getTime() + 60_000) })).toMatchObject({ ok: true, kind: 'grant-ended' });
  });
});

describe('decideTransition (verify mode): the client-written fields must match the authenticated user', () => {
  it('accepts exactly what stamp mode produced', () => {
    const stamped = run({ user: bob, proposed: approve(pending) });
    if (!stamped.ok) throw new Error('stamp refused');
    expect(run({ user: bob, proposed: stamped.status, mode: 'verify' })).toMatchObject({ ok: true, kind: 'approve' });
  });

  it('refuses an approval entry naming another user', () => {
    const r = run({ user: carol, proposed: { ...approve(pending, 'bob'), phase: 'Approved', decidedBy: 'bob', decidedAt: rfc3339(NOW), reason: 'looks fine' }, mode: 'verify' });
    expect(r).toMatchObject({ ok: false, code: 'AG_APPROVAL_STAMP_MISMATCH' });
    if (!r.ok) expect(r.message).toContain('authenticated as "carol"');
  });

  it('refuses Approved when more approvals are required', () => {
    const r = run({ rules: TWO, user: carol, proposed: { ...approve(pending, 'carol'), phase: 'Approved', decidedBy: 'carol', decidedAt: rfc3339(NOW), reason: 'looks fine' }, mode: 'verify' });
    expect(r).toMatchObject({ ok: false, code: 'AG_APPROVAL_STAMP_MISMATCH' });
    if (!r.ok) expect(r.message).toContain('1 of 2 approvals');
  });

  it('refuses a deny whose decidedBy is someone else', () => {
    expect(run({ user: carol, proposed: { phase: 'Denied', reason: 'no', decidedBy: 'bob', decidedAt: rfc3339(NOW) }, mode: 'verify' }))
      .toMatchObject({ ok: false, code: 'AG_APPROVAL_STAMP_MISMATCH' });
  });
});

describe('isApprover', () => {
  it('matches users by name and people by group, never anonymous', () => {
    expect(isApprover(bob, ONE)).toBe(true);
    expect(isApprover(carol, ONE)).toBe(true);
    expect(isApprover(mallory, ONE)).toBe(false);
    expect(isApprover({ username: 'system:anonymous', groups: ['dba'] }, ONE)).toBe(false);
    expect(isApprover({ username: 'system:serviceaccount:ops:bot', groups: [] }, { ...ONE, users: ['system:serviceaccount:ops:bot'] })).toBe(true);
  });
});

describe('admission handlers', () => {
  const policy = {
    apiVersion: 'agentgate.dev/v1alpha1' as const, kind: 'AccessPolicy' as const, metadata: { name: 'orders', namespace: 'team-a' },
    spec: { podSelector: {}, subjects: [], connections: ['db'], approval: { approvers: { groups: ['dba'] }, required: 1 } },
  };
  const object = (status: AccessRequestStatus) => ({
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessRequest', metadata: { name: 'ar-x', namespace: 'team-a' },
    spec: { ...SPEC, rule: 'review-deletes', connection: 'db', protocol: 'postgres', operation: 'DELETE FROM orders' }, status,
  });
  const review = (user: { username: string; groups: string[] }, status: AccessRequestStatus): AdmissionRequest => ({
    uid: 'u1', kind: { group: 'agentgate.dev', version: 'v1alpha1', kind: 'AccessRequest' },
    resource: { group: 'agentgate.dev', version: 'v1alpha1', resource: 'accessrequests' }, subResource: 'status',
    namespace: 'team-a', name: 'ar-x', operation: 'UPDATE', userInfo: user, object: object(status), oldObject: object(pending),
  });
  const deps = { policy: () => policy, now: () => NOW };

  it('the mutator patches /status with the stamped decision, and the validator accepts the result', async () => {
    const req = review(carol, approve(pending, 'whoever'));
    const res = await accessRequestMutator(deps)(req);
    expect(res.allowed).toBe(true);
    const ops = JSON.parse(Buffer.from(res.patch ?? '', 'base64').toString('utf8')) as Array<{ path: string; value: AccessRequestStatus }>;
    expect(ops[0]?.path).toBe('/status');
    expect(ops[0]?.value.decidedBy).toBe('carol');
    const after = await accessRequestValidator(deps)(review(carol, ops[0]?.value ?? {}));
    expect(after.allowed).toBe(true);
  });

  it('the validator refuses an outsider with 403 and a message naming the approvers', async () => {
    const res = await accessRequestValidator(deps)(review(mallory, approve(pending, 'mallory')));
    expect(res.allowed).toBe(false);
    expect(res.status?.code).toBe(403);
    expect(res.status?.message).toContain('mallory is not an approver of AccessPolicy orders (approvers: groups dba)');
  });

  it('refuses creation by anyone but the configured creators', async () => {
    const create: AdmissionRequest = { ...review(mallory, pending), operation: 'CREATE', subResource: undefined };
    const res = await accessRequestValidator({ ...deps, creators: ['system:serviceaccount:agentgate-system:agentgate-operator'] })(create);
    expect(res.allowed).toBe(false);
    expect(res.status?.message).toContain('AG_APPROVAL_CREATE_FORBIDDEN');
  });
});
