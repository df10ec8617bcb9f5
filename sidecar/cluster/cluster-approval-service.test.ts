import { describe, it, expect } from '@jest/globals';
import type { AccessRequestView } from './api-types.js';
import { ClusterApprovalService } from './cluster-approval-service.js';
import { OperatorApiError, OperatorUnreachableError } from './errors.js';
import type { ApprovalRequest } from '../gate/gate.js';

// In-process stand-ins for the operator answer each edge the e2e tests cannot
// reach on demand (an operator that vanishes mid-wait, a client that leaves).
const view = (phase: AccessRequestView['phase'], expiresAt = new Date(Date.now() + 60_000).toISOString()): AccessRequestView =>
  ({ name: 'ar-test', phase, scope: 'once', expiresAt, approvals: 0 });

const req: ApprovalRequest = {
  sessionId: 's1', connection: 'db', protocol: 'postgres', operation: 'DELETE FROM t',
  identity: { kind: 'oidc', sub: 'me', iss: 'iss', groups: [], claims: {}, pod: { namespace: 'a', name: 'p', serviceAccount: 'sa', labels: {} } },
  decision: { action: 'review', policy: 'a/pol', rule: 'r', message: '' },
};

describe('ClusterApprovalService', () => {
  it('tells the request name, then resolves with the decision', async () => {
    const phases: Array<AccessRequestView['phase']> = ['Pending', 'Approved'];
    const svc = new ClusterApprovalService({
      client: { createAccessRequest: async () => view('Pending'), getAccessRequest: async () => view(phases.shift() ?? 'Denied') },
    });
    const names: string[] = [];
    expect(await svc.request(req, { signal: new AbortController().signal, onPending: (n) => names.push(n) })).toBe('approved');
    expect(names).toEqual(['ar-test']);
  });

  it('expires when the operator stays unreachable until the request expiry', async () => {
    const svc = new ClusterApprovalService({
      retryMs: 10, graceMs: 0,
      client: {
        createAccessRequest: async () => view('Pending', new Date(Date.now() + 200).toISOString()),
        getAccessRequest: async () => { throw new OperatorUnreachableError('down'); },
      },
    });
    expect(await svc.request(req, { signal: new AbortController().signal, onPending: () => undefined })).toBe('expired');
  });

  it('rejects at once when the operator refuses to create the request, and resolves denied when the client leaves', async () => {
    const refusing = new ClusterApprovalService({
      client: { createAccessRequest: async () => { throw new OperatorApiError(403, 'AG_AR_NOT_REVIEW', 'no'); }, getAccessRequest: async () => view('Pending') },
    });
    await expect(refusing.request(req, { signal: new AbortController().signal, onPending: () => undefined })).rejects.toMatchObject({ code: 'AG_APPROVAL_UNAVAILABLE' });

    const ac = new AbortController();
    const waiting = new ClusterApprovalService({
      retryMs: 10,
      client: { createAccessRequest: async () => view('Pending'), getAccessRequest: async () => { ac.abort(); throw new OperatorUnreachableError('aborted'); } },
    });
    expect(await waiting.request(req, { signal: ac.signal, onPending: () => undefined })).toBe('denied');
  });

  it('approves from a live grant for the same rule, connection and identity without a request', async () => {
    let created = 0;
    const grant = { request: 'ar-g', policy: 'a/pol', rule: 'r', connection: 'db', identity: { sub: 'me', iss: 'iss' }, expiresAt: new Date(Date.now() + 60_000).toISOString() };
    const svc = new ClusterApprovalService({
      grants: () => [grant],
      client: { createAccessRequest: async () => { created++; return view('Denied'); }, getAccessRequest: async () => view('Denied') },
    });
    expect(await svc.request(req, { signal: new AbortController().signal, onPending: () => undefined })).toBe('approved');
    expect(await svc.request({ ...req, connection: 'other' }, { signal: new AbortController().signal, onPending: () => undefined })).toBe('denied');
    expect(created).toBe(1);
  });
});
