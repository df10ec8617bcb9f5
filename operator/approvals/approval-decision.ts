// The AccessRequest status transitions, as one pure function. Who may change
// a request's status, and into what, is decided here and only here; the
// admission handlers call it twice: the mutating handler in `stamp` mode (it
// writes the deciding user and times from the API server's authentication, so
// an approver cannot name someone else), the validating handler in `verify`
// mode (the final object must be exactly what stamping would produce, which
// also holds when no mutating webhook ran and the client filled the fields).
import type { AccessRequestSpec, AccessRequestStatus, ApprovalRecord } from '../../core/resources/generated.js';
import type { ApprovalRefusalCode } from './errors.js';

export interface Decider {
  /** userInfo.username, as the API server authenticated the caller. */
  username: string;
  groups: readonly string[];
}

/** The deciding policy's approval section, with defaults applied. */
export interface ApproverRules {
  users: readonly string[];
  groups: readonly string[];
  /** Distinct approvers needed (≥ 1). */
  required: number;
  /** scope grant: how long an approval lasts. */
  grantDurationMs?: number | undefined;
}

export interface TransitionInput {
  name: string;
  spec: Pick<AccessRequestSpec, 'requester' | 'expiresAt' | 'scope' | 'policy'>;
  old: AccessRequestStatus | undefined;
  proposed: AccessRequestStatus | undefined;
  user: Decider;
  /** undefined: the policy (or its approval section) no longer exists. */
  rules: ApproverRules | undefined;
  now: Date;
  mode: 'stamp' | 'verify';
  /** verify mode: how far a client-written timestamp may be from now (default 5 minutes). */
  skewMs?: number;
}

export type TransitionKind = 'unchanged' | 'initialize' | 'expire' | 'approve' | 'deny' | 'grant-ended';

export type TransitionResult =
  | { ok: true; kind: TransitionKind; status: AccessRequestStatus; settled: boolean }
  | { ok: false; code: ApprovalRefusalCode; message: string };

const TERMINAL = new Set(['Approved', 'Denied', 'Expired']);
const DEFAULT_SKEW_MS = 5 * 60_000;
const SA_PREFIX = 'system:serviceaccount:';

const refuse = (code: ApprovalRefusalCode, message: string): TransitionResult => ({ ok: false, code, message: `agentgate: ${message}` });

/** RFC 3339 with seconds, as Kubernetes writes timestamps. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** True when `user` is the requester itself or the requester pod's service account. */
export function isRequester(spec: Pick<AccessRequestSpec, 'requester'>, username: string): boolean {
  if (username === spec.requester.sub) return true;
  const pod = spec.requester.pod;
  return pod?.serviceAccount !== undefined && username === `${SA_PREFIX}${pod.namespace}:${pod.serviceAccount}`;
}

/**
 * True when the policy names this user, or one of its groups. Service accounts
 * qualify only when named exactly: approvers are people, and broad groups
 * (system:authenticated) also hold every service account.
 */
export function isApprover(user: Decider, rules: ApproverRules): boolean {
  if (user.username === '' || user.username === 'system:anonymous') return false;
  if (rules.users.includes(user.username)) return true;
  if (user.username.startsWith(SA_PREFIX)) return false;
  return user.groups.some((g) => rules.groups.includes(g));
}

function approvalsOf(s: AccessRequestStatus | undefined): ApprovalRecord[] {
  return s?.approvals ?? [];
}

function sameApproval(a: ApprovalRecord | undefined, b: ApprovalRecord | undefined): boolean {
  return a !== undefined && b !== undefined && a.user === b.user && a.at === b.at && (a.reason ?? '') === (b.reason ?? '');
}

function sameApprovals(a: readonly ApprovalRecord[], b: readonly ApprovalRecord[]): boolean {
  return a.length === b.length && a.every((x, i) => sameApproval(x, b[i]));
}

/** The fields a decision writes (conditions and observedGeneration are the operator's bookkeeping). */
function sameDecision(a: AccessRequestStatus | undefined, b: AccessRequestStatus | undefined): boolean {
  return a?.phase === b?.phase && sameApprovals(approvalsOf(a), approvalsOf(b)) && a?.decidedBy === b?.decidedBy &&
    a?.decidedAt === b?.decidedAt && a?.reason === b?.reason;
}

function withinSkew(ts: string | undefined, now: Date, skewMs: number): boolean {
  if (ts === undefined) return false;
  const t = Date.parse(ts);
  return Number.isFinite(t) && Math.abs(t - now.getTime()) <= skewMs;
}

function describeApprovers(rules: ApproverRules): string {
  const users = rules.users.length > 0 ? `users ${rules.users.join(', ')}` : '';
  const groups = rules.groups.length > 0 ? `groups ${rules.groups.join(', ')}` : '';
  return [users, groups].filter((x) => x !== '').join(' and ') || 'nobody';
}

/** Decides one status update. Never throws. */
export function decideTransition(input: TransitionInput): TransitionResult {
  const { name, spec, old, proposed, user, rules, now, mode } = input;
  const skewMs = input.skewMs ?? DEFAULT_SKEW_MS;
  const oldPhase = old?.phase;
  const nextPhase = proposed?.phase;
  const prior = approvalsOf(old);
  const next = approvalsOf(proposed);
  const keep = { ...(proposed?.conditions ? { conditions: proposed.conditions } : {}),
    ...(proposed?.observedGeneration !== undefined ? { observedGeneration: proposed.observedGeneration } : {}) };

  if (sameDecision(old, proposed)) return { ok: true, kind: 'unchanged', status: proposed ?? {}, settled: false };

  if (oldPhase !== undefined && TERMINAL.has(oldPhase)) {
    // A grant that has run its course may be marked Expired; nothing else changes after a decision.
    if (oldPhase === 'Approved' && nextPhase === 'Expired' && spec.scope === 'grant' && sameApprovals(prior, next) &&
        proposed?.decidedBy === old?.decidedBy) {
      const approvedAt = Date.parse(old?.decidedAt ?? '');
      const ended = rules?.grantDurationMs === undefined || !Number.isFinite(approvedAt) || approvedAt + rules.grantDurationMs <= now.getTime();
      if (ended) return { ok: true, kind: 'grant-ended', status: proposed ?? {}, settled: true };
    }
    const by = old?.decidedBy !== undefined ? ` by ${old.decidedBy}` : '';
    return refuse('AG_APPROVAL_DECIDED', `AccessRequest ${name} is already ${oldPhase}${by}; a decided request cannot change`);
  }

  if (oldPhase === undefined && nextPhase === 'Pending' && next.length === 0 && proposed?.decidedBy === undefined &&
      proposed?.decidedAt === undefined && proposed?.reason === undefined) {
    return { ok: true, kind: 'initialize', status: proposed ?? {}, settled: false };
  }

  const expiresAt = Date.parse(spec.expiresAt);
  const expired = !Number.isFinite(expiresAt) || now.getTime() >= expiresAt;
  if (nextPhase === 'Expired') {
    if (!expired) return refuse('AG_APPROVAL_NOT_EXPIRED', `AccessRequest ${name} does not expire before ${spec.expiresAt}`);
    if (!sameApprovals(prior, next) || proposed?.decidedBy !== undefined) {
      return refuse('AG_APPROVAL_BAD_UPDATE', `an expiry of AccessRequest ${name} changes only phase, decidedAt and reason`);
    }
    return { ok: true, kind: 'expire', status: proposed ?? {}, settled: true };
  }

  // From here on, a person decides.
  const who = user.username === '' ? '(unauthenticated)' : user.username;
  if (expired) return refuse('AG_APPROVAL_EXPIRED', `AccessRequest ${name} expired at ${spec.expiresAt}; it can no longer be decided`);
  if (isRequester(spec, user.username)) {
    return refuse('AG_APPROVAL_SELF', `self-approval refused: ${who} is the requester of AccessRequest ${name}`);
  }
  if (rules === undefined) {
    return refuse('AG_APPROVAL_POLICY_GONE', `AccessPolicy ${spec.policy} (or its approval section) no longer exists; AccessRequest ${name} cannot be decided`);
  }
  if (!isApprover(user, rules)) {
    return refuse('AG_APPROVAL_NOT_APPROVER',
      `${who} is not an approver of AccessPolicy ${spec.policy} (approvers: ${describeApprovers(rules)}); AccessRequest ${name} is unchanged`);
  }

  if (nextPhase === 'Denied') {
    if (!sameApprovals(prior, next)) return refuse('AG_APPROVAL_BAD_UPDATE', 'approve (add one approval) or deny (set phase Denied), not both');
    const reason = proposed?.reason?.trim() ?? '';
    if (reason === '') return refuse('AG_APPROVAL_REASON_REQUIRED', `a denial of AccessRequest ${name} needs a reason`);
    const stamped = mode === 'stamp'
      ? { decidedBy: user.username, decidedAt: rfc3339(now) }
      : { decidedBy: proposed?.decidedBy, decidedAt: proposed?.decidedAt };
    if (mode === 'verify') {
      if (stamped.decidedBy !== user.username) {
        return refuse('AG_APPROVAL_STAMP_MISMATCH', `status.decidedBy must be your authenticated user ${JSON.stringify(user.username)}`);
      }
      if (!withinSkew(stamped.decidedAt, now, skewMs)) return refuse('AG_APPROVAL_STAMP_MISMATCH', 'status.decidedAt must be the current time');
    }
    return {
      ok: true, kind: 'deny', settled: true,
      status: { ...keep, phase: 'Denied', approvals: prior, decidedBy: user.username, decidedAt: stamped.decidedAt ?? rfc3339(now), reason },
    };
  }

  const isAppend = next.length === prior.length + 1 && prior.every((a, i) => sameApproval(a, next[i]));
  if (!isAppend) {
    return refuse('AG_APPROVAL_BAD_UPDATE',
      `AccessRequest ${name}: a status update either adds exactly one approval (approve) or sets phase Denied with a reason (deny); earlier approvals never change`);
  }
  const entry = next[next.length - 1] as ApprovalRecord;
  const reason = entry.reason?.trim() ?? '';
  if (reason === '') return refuse('AG_APPROVAL_REASON_REQUIRED', `an approval of AccessRequest ${name} needs a reason`);
  if (prior.some((a) => a.user === user.username)) {
    return refuse('AG_APPROVAL_DUPLICATE', `${who} has already approved AccessRequest ${name}; ${rules.required - prior.length} more distinct approver(s) needed`);
  }
  let at: string;
  if (mode === 'stamp') {
    at = rfc3339(now);
  } else {
    if (entry.user !== user.username) {
      return refuse('AG_APPROVAL_STAMP_MISMATCH',
        `status.approvals[${next.length - 1}].user is ${JSON.stringify(entry.user)} but you are authenticated as ${JSON.stringify(user.username)}`);
    }
    if (!withinSkew(entry.at, now, skewMs)) return refuse('AG_APPROVAL_STAMP_MISMATCH', `status.approvals[${next.length - 1}].at must be the current time`);
    at = entry.at;
  }
  const approvals = [...prior, { user: user.username, reason, at }];
  const distinct = new Set(approvals.map((a) => a.user)).size;
  const settled = distinct >= Math.max(1, rules.required);
  const expected: AccessRequestStatus = settled
    ? { ...keep, phase: 'Approved', approvals, decidedBy: user.username, decidedAt: at, reason }
    : { ...keep, phase: 'Pending', approvals };
  if (mode === 'verify' && !sameDecision(expected, proposed)) {
    const want = settled
      ? `phase Approved, decidedBy ${JSON.stringify(user.username)}, decidedAt ${at} and the approval's reason`
      : `phase Pending without decidedBy/decidedAt/reason (${distinct} of ${rules.required} approvals)`;
    return refuse('AG_APPROVAL_STAMP_MISMATCH', `after this approval AccessRequest ${name} must have ${want}`);
  }
  return { ok: true, kind: 'approve', status: expected, settled };
}
