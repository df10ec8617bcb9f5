// The gate's ApprovalService in injected mode: a `review` decision becomes an
// AccessRequest in the cluster (the operator creates it; the agent is told
// its name through onPending), and the service waits for the decision with
// long polls. Fail closed throughout: no request could be created → reject
// (the gate refuses the operation); the operator unreachable while waiting →
// keep trying until the request's expiry, then 'expired'; the client gone →
// 'denied'. A live grant (scope: grant) from the configuration lets the
// operation through without a new request.
import type { ApprovalOutcome } from '../../core/recording/events.js';
import type { ApprovalRequest, ApprovalService } from '../gate/gate.js';
import type { AccessRequestView, ActiveGrant } from './api-types.js';
import { OperatorApiError } from './errors.js';
import type { OperatorClient } from './operator-client.js';

export interface ClusterApprovalServiceOptions {
  client: Pick<OperatorClient, 'createAccessRequest' | 'getAccessRequest'>;
  /** Live grants of this pod (from the cluster configuration). */
  grants?: () => readonly ActiveGrant[];
  /** How long to keep trying to create the request when the operator does not answer (default 10 s). */
  createTimeoutMs?: number;
  /** Long-poll length per status call (default 30 s). */
  pollSeconds?: number;
  /** Wait after a failed status call (default 1 s). */
  retryMs?: number;
  /** Waiting ends this long after the request's expiry even without an answer (clock skew; default 5 s). */
  graceMs?: number;
  now?: () => number;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export class ApprovalUnavailableError extends Error {
  readonly code = 'AG_APPROVAL_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApprovalUnavailableError';
  }
}

function timeoutOf(approval: unknown): number {
  const t = typeof approval === 'object' && approval !== null ? (approval as { timeoutMs?: unknown }).timeoutMs : undefined;
  return typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : DEFAULT_TIMEOUT_MS;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export class ClusterApprovalService implements ApprovalService {
  private readonly o: Required<Omit<ClusterApprovalServiceOptions, 'grants'>> & Pick<ClusterApprovalServiceOptions, 'grants'>;

  constructor(o: ClusterApprovalServiceOptions) {
    this.o = { createTimeoutMs: 10_000, pollSeconds: 30, retryMs: 1_000, graceMs: 5_000, now: Date.now, ...o };
  }

  async request(req: ApprovalRequest, opts: { signal: AbortSignal; onPending: (id: string) => void }): Promise<ApprovalOutcome> {
    const { policy, rule } = req.decision;
    if (policy === undefined || rule === undefined) throw new ApprovalUnavailableError('a review decision must name its policy and rule');
    if (this.granted(req, policy, rule)) return 'approved';

    const created = await this.create(req, policy, rule, opts.signal);
    if (opts.signal.aborted) return 'denied';
    opts.onPending(created.name);
    return this.wait(created, opts.signal, timeoutOf(req.decision.approval));
  }

  private granted(req: ApprovalRequest, policy: string, rule: string): boolean {
    const now = this.o.now();
    return (this.o.grants?.() ?? []).some((g) =>
      g.policy === policy && g.rule === rule && g.connection === req.connection && g.identity.sub === req.identity.sub &&
      (g.identity.iss === undefined || g.identity.iss === req.identity.iss) && Date.parse(g.expiresAt) > now);
  }

  private async create(req: ApprovalRequest, policy: string, rule: string, signal: AbortSignal): Promise<AccessRequestView> {
    const deadline = this.o.now() + this.o.createTimeoutMs;
    for (;;) {
      try {
        return await this.o.client.createAccessRequest({
          policy, rule, connection: req.connection, protocol: req.protocol, operation: req.operation, sessionId: req.sessionId,
          requester: { sub: req.identity.sub, iss: req.identity.iss, groups: [...req.identity.groups] },
        }, signal);
      } catch (err) {
        // The operator refused (4xx): retrying would not change its answer.
        if (err instanceof OperatorApiError && err.status < 500) throw new ApprovalUnavailableError(err.message, { cause: err });
        if (signal.aborted || this.o.now() + this.o.retryMs >= deadline) {
          throw new ApprovalUnavailableError(`no access request could be created: ${(err as Error).message}`, { cause: err });
        }
        await sleep(this.o.retryMs, signal);
      }
    }
  }

  private async wait(created: AccessRequestView, signal: AbortSignal, timeoutMs: number): Promise<ApprovalOutcome> {
    const expires = Date.parse(created.expiresAt);
    // The request's own expiry, bounded by the policy timeout as this sidecar knows it.
    const deadline = Math.min(Number.isFinite(expires) ? expires : Infinity, this.o.now() + timeoutMs) + this.o.graceMs;
    let phase = created.phase;
    while (phase === 'Pending') {
      if (signal.aborted) return 'denied';
      const left = deadline - this.o.now();
      if (left <= 0) return 'expired';
      try {
        const view = await this.o.client.getAccessRequest(created.name, 'Pending', Math.max(1, Math.min(this.o.pollSeconds, Math.ceil(left / 1000))), signal);
        phase = view.phase;
      } catch {
        if (signal.aborted) return 'denied';
        await sleep(Math.min(this.o.retryMs, Math.max(0, deadline - this.o.now())), signal);
      }
    }
    return phase === 'Approved' ? 'approved' : phase === 'Denied' ? 'denied' : 'expired';
  }
}
