// In-memory approvals for standalone mode. A `review` decision calls
// request(), which holds until a person approves or denies through the admin
// server (or `agentgate-sidecar approve|deny`), or until the policy's
// approval.timeout passes (then: expired, which the gate treats as a refusal).

import { randomBytes } from 'node:crypto';
import { parseDuration } from '../../core/policy/duration.js';
import { ApprovalInputError, ApprovalNotFoundError, DuplicateApproverError, SelfApprovalError } from './errors.js';

export type ApprovalOutcome = 'approved' | 'denied' | 'expired';

export interface ApprovalRequester {
  sub: string;
  iss: string;
  groups: readonly string[];
  pod?: { namespace: string; name: string; serviceAccount: string } | undefined;
}

export interface ApprovalRequestInput {
  policy: string;
  rule: string;
  connection: string;
  protocol: string;
  /** The exact statement / command / request, as the approver must see it. */
  operation: string;
  requester: ApprovalRequester;
  sessionId?: string | undefined;
  /** The policy's approval.timeout ("10m") or milliseconds; default 10m. */
  timeout?: string | number | undefined;
  /** approval.required (distinct approvers); default 1. */
  required?: number | undefined;
  scope?: 'once' | 'grant' | undefined;
  /** For scope grant: how long an approval covers the same rule for the same requester and connection. */
  grantDurationMs?: number | undefined;
  /** Told the id as soon as the request is pending (the gate tells the agent which request waits). */
  onPending?: ((info: { id: string; expiresAt: Date }) => void) | undefined;
  /** Aborting (the client went away) withdraws the request; it resolves 'denied'. */
  signal?: AbortSignal | undefined;
}

export interface ApprovalVote {
  user: string;
  reason: string;
  at: string;
}

export interface PendingApproval {
  id: string;
  policy: string;
  rule: string;
  connection: string;
  protocol: string;
  operation: string;
  requester: ApprovalRequester;
  sessionId: string | null;
  scope: 'once' | 'grant';
  required: number;
  approvals: ApprovalVote[];
  createdAt: string;
  expiresAt: string;
}

export interface DecidedApproval extends PendingApproval {
  outcome: ApprovalOutcome | 'withdrawn';
  decidedBy: string | null;
  decidedAt: string;
  reason: string;
}

export interface LocalApprovalsOptions {
  defaultTimeoutMs?: number;
  now?: () => number;
  /** Every decision (approved, denied, expired, withdrawn): for logs, metrics and recordings. */
  onDecided?: (decided: DecidedApproval) => void;
  /** Most pending requests at once; more are refused (denied) to bound memory. */
  maxPending?: number;
}

interface Grant {
  key: string;
  expiresAt: number;
  approvalId: string;
}

interface Entry {
  pending: PendingApproval;
  grantDurationMs: number | undefined;
  resolve: (outcome: ApprovalOutcome) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

export const DEFAULT_APPROVAL_TIMEOUT_MS = 10 * 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_TEXT = 1024;

export class LocalApprovals {
  private readonly entries = new Map<string, Entry>();
  private readonly grants = new Map<string, Grant>();
  private readonly defaultTimeoutMs: number;
  private readonly now: () => number;
  private readonly onDecided: LocalApprovalsOptions['onDecided'];
  private readonly maxPending: number;
  private closed = false;

  constructor(opts: LocalApprovalsOptions = {}) {
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    this.onDecided = opts.onDecided;
    this.maxPending = opts.maxPending ?? 1000;
  }

  request(req: ApprovalRequestInput): Promise<ApprovalOutcome> {
    if (this.closed || this.entries.size >= this.maxPending || req.signal?.aborted) return Promise.resolve('denied');
    // A live grant (scope: grant) already covers this rule for this requester on this connection.
    const grant = this.grants.get(grantKey(req));
    if (grant && grant.expiresAt > this.now()) return Promise.resolve('approved');
    const timeoutMs = resolveTimeout(req.timeout, this.defaultTimeoutMs);
    const createdAt = this.now();
    const id = newApprovalId((candidate) => this.entries.has(candidate));
    const pending: PendingApproval = {
      id,
      policy: req.policy,
      rule: req.rule,
      connection: req.connection,
      protocol: req.protocol,
      operation: req.operation,
      requester: req.requester,
      sessionId: req.sessionId ?? null,
      scope: req.scope ?? 'once',
      required: Math.max(1, Math.floor(req.required ?? 1)),
      approvals: [],
      createdAt: new Date(createdAt).toISOString(),
      expiresAt: new Date(createdAt + timeoutMs).toISOString(),
    };
    return new Promise<ApprovalOutcome>((resolve) => {
      const onAbort = (): void => {
        this.finish(id, 'withdrawn', null, 'the client went away');
      };
      const expire = (): void => {
        this.finish(id, 'expired', null, 'no decision before the approval timeout');
      };
      const timer = setTimeout(expire, Math.min(timeoutMs, MAX_TIMER_MS));
      timer.unref();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      this.entries.set(id, {
        pending,
        grantDurationMs: req.scope === 'grant' ? req.grantDurationMs : undefined,
        resolve,
        timer,
        cleanup: () => req.signal?.removeEventListener('abort', onAbort),
      });
      req.onPending?.({ id, expiresAt: new Date(createdAt + timeoutMs) });
    });
  }

  list(): PendingApproval[] {
    return [...this.entries.values()].map((e) => structuredClone(e.pending));
  }

  get(id: string): PendingApproval | undefined {
    const e = this.entries.get(id);
    return e ? structuredClone(e.pending) : undefined;
  }

  /** Add an approval; resolves the request once `required` distinct approvers agree. */
  approve(id: string, by: { user: string; reason?: string | undefined }): PendingApproval | DecidedApproval {
    const { user, reason } = checkInput(by);
    const e = this.entries.get(id);
    if (!e) throw new ApprovalNotFoundError(id);
    if (user === e.pending.requester.sub) throw new SelfApprovalError(id);
    if (e.pending.approvals.some((a) => a.user === user)) throw new DuplicateApproverError(id, user);
    e.pending.approvals.push({ user, reason, at: new Date(this.now()).toISOString() });
    if (e.pending.approvals.length < e.pending.required) return structuredClone(e.pending);
    return this.finish(id, 'approved', user, reason) ?? structuredClone(e.pending);
  }

  deny(id: string, by: { user: string; reason?: string | undefined }): DecidedApproval {
    const { user, reason } = checkInput(by);
    const decided = this.finish(id, 'denied', user, reason);
    if (!decided) throw new ApprovalNotFoundError(id);
    return decided;
  }

  /** Live grants (scope: grant approvals that have not run out). */
  activeGrants(): Array<{ approvalId: string; expiresAt: string }> {
    const now = this.now();
    for (const [k, g] of this.grants) if (g.expiresAt <= now) this.grants.delete(k);
    return [...this.grants.values()].map((g) => ({ approvalId: g.approvalId, expiresAt: new Date(g.expiresAt).toISOString() }));
  }

  /** Refuse everything still pending (shutdown). */
  close(reason = 'the sidecar is shutting down'): void {
    this.closed = true;
    for (const id of [...this.entries.keys()]) this.finish(id, 'denied', null, reason);
  }

  private finish(
    id: string,
    outcome: ApprovalOutcome | 'withdrawn',
    decidedBy: string | null,
    reason: string,
  ): DecidedApproval | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    this.entries.delete(id);
    clearTimeout(e.timer);
    e.cleanup();
    const decided: DecidedApproval = {
      ...structuredClone(e.pending),
      outcome,
      decidedBy,
      decidedAt: new Date(this.now()).toISOString(),
      reason,
    };
    if (outcome === 'approved' && e.grantDurationMs !== undefined && e.grantDurationMs > 0) {
      const key = grantKey(e.pending);
      this.grants.set(key, { key, approvalId: id, expiresAt: this.now() + e.grantDurationMs });
    }
    e.resolve(outcome === 'withdrawn' ? 'denied' : outcome);
    this.onDecided?.(decided);
    return decided;
  }
}

function grantKey(r: { policy: string; rule: string; connection: string; requester: ApprovalRequester }): string {
  return JSON.stringify([r.policy, r.rule, r.connection, r.requester.iss, r.requester.sub, r.requester.pod?.namespace ?? '', r.requester.pod?.name ?? '']);
}

function resolveTimeout(timeout: string | number | undefined, fallback: number): number {
  if (timeout === undefined) return fallback;
  const ms = typeof timeout === 'number' ? timeout : parseDuration(timeout);
  // A zero or broken timeout would expire at once: fall back to the default instead of refusing silently.
  return Number.isFinite(ms) && ms > 0 ? ms : fallback;
}

function checkInput(by: { user: string; reason?: string | undefined }): { user: string; reason: string } {
  const user = typeof by.user === 'string' ? by.user.trim() : '';
  if (user === '' || user.length > 256) throw new ApprovalInputError('"user" is required: who decides (at most 256 characters)');
  const reason = typeof by.reason === 'string' ? by.reason : '';
  if (reason.length > MAX_TEXT) throw new ApprovalInputError(`"reason" is longer than ${MAX_TEXT} characters`);
  return { user, reason };
}

const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

function newApprovalId(taken: (id: string) => boolean): string {
  for (;;) {
    const bytes = randomBytes(8);
    let s = '';
    for (const b of bytes) s += ALPHABET[b % ALPHABET.length];
    const id = `ar-${s}`;
    if (!taken(id)) return id;
  }
}
