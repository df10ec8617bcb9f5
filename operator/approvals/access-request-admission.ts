// Admission handlers for AccessRequests.
//
// Why a mutating handler and a validating one: the deciding user must come
// from the API server's authentication (request.userInfo), never from what the
// client wrote, and validating webhooks cannot change the object. So
// `/mutate-accessrequests` (registered for UPDATE of accessrequests/status)
// stamps status.approvals[].user/at, phase, decidedBy and decidedAt; and
// `/validate-accessrequests` re-derives the same result from the final object
// and refuses any difference. The validator alone is already safe (a client
// that fills the fields itself must fill them exactly); the mutator is what
// lets `kubectl agentgate approve` send only "one more approval, with this
// reason" without knowing how many approvals the policy requires.
import { parseDuration } from '../../core/policy/duration.js';
import type { AccessPolicy, AccessRequest } from '../../core/resources/generated.js';
import { allowed, denied, patched, type AdmissionHandler, type AdmissionRequest, type AdmissionResponse } from '../webhooks/admission.js';
import { toJson } from '../webhooks/json-patch.js';
import { decideTransition, type ApproverRules, type TransitionResult } from './approval-decision.js';
import type { ApprovalRefusalCode } from './errors.js';

export const ACCESS_REQUEST_WEBHOOK_PATHS = {
  mutate: '/mutate-accessrequests',
  validate: '/validate-accessrequests',
} as const;

export interface AccessRequestAdmissionDeps {
  /** The AccessPolicy `name` in `namespace`, or undefined when there is none (an informer cache or a GET). */
  policy(namespace: string, name: string): AccessPolicy | undefined | Promise<AccessPolicy | undefined>;
  now?: () => Date;
  /**
   * Usernames allowed to create AccessRequests (the operator's service account).
   * Undefined: RBAC alone decides who creates them.
   */
  creators?: readonly string[];
}

/** The approval rules of a policy with defaults applied; undefined when it has no approval section. */
export function approverRules(policy: AccessPolicy | undefined): ApproverRules | undefined {
  const a = policy?.spec.approval;
  if (a === undefined) return undefined;
  let grantDurationMs: number | undefined;
  try {
    grantDurationMs = a.grantDuration !== undefined ? parseDuration(a.grantDuration) : undefined;
  } catch {
    grantDurationMs = undefined; // an unreadable duration never lengthens a grant: treated as already ended
  }
  return {
    users: a.approvers.users ?? [],
    groups: a.approvers.groups ?? [],
    required: Math.max(1, Math.floor(a.required ?? 1)),
    grantDurationMs,
  };
}

const STATUS_FOR: Record<ApprovalRefusalCode, { code: number; reason: string }> = {
  AG_APPROVAL_SELF: { code: 403, reason: 'Forbidden' },
  AG_APPROVAL_NOT_APPROVER: { code: 403, reason: 'Forbidden' },
  AG_APPROVAL_POLICY_GONE: { code: 403, reason: 'Forbidden' },
  AG_APPROVAL_CREATE_FORBIDDEN: { code: 403, reason: 'Forbidden' },
  AG_APPROVAL_DECIDED: { code: 409, reason: 'Conflict' },
  AG_APPROVAL_DUPLICATE: { code: 409, reason: 'Conflict' },
  AG_APPROVAL_EXPIRED: { code: 409, reason: 'Conflict' },
  AG_APPROVAL_NOT_EXPIRED: { code: 422, reason: 'Invalid' },
  AG_APPROVAL_BAD_UPDATE: { code: 422, reason: 'Invalid' },
  AG_APPROVAL_REASON_REQUIRED: { code: 422, reason: 'Invalid' },
  AG_APPROVAL_STAMP_MISMATCH: { code: 422, reason: 'Invalid' },
};

function refusal(req: AdmissionRequest, r: Extract<TransitionResult, { ok: false }>): AdmissionResponse {
  const s = STATUS_FOR[r.code];
  return denied(req, `${r.message} [${r.code}]`, s.code, s.reason);
}

function isStatusUpdate(req: AdmissionRequest): boolean {
  return req.operation === 'UPDATE' && req.subResource === 'status' && req.kind.kind === 'AccessRequest';
}

async function transition(deps: AccessRequestAdmissionDeps, req: AdmissionRequest, mode: 'stamp' | 'verify'): Promise<TransitionResult | 'bad-request'> {
  const obj = req.object as AccessRequest | undefined;
  const old = req.oldObject as AccessRequest | undefined;
  if (obj?.spec === undefined || old?.spec === undefined) return 'bad-request';
  const namespace = req.namespace ?? old.metadata.namespace ?? '';
  const policy = await deps.policy(namespace, old.spec.policy);
  return decideTransition({
    name: req.name ?? old.metadata.name ?? '',
    // The old spec: the status subresource cannot change spec, and the old one is what was requested.
    spec: old.spec,
    old: old.status,
    proposed: obj.status,
    user: { username: req.userInfo.username ?? '', groups: req.userInfo.groups ?? [] },
    rules: approverRules(policy),
    now: (deps.now ?? (() => new Date()))(),
    mode,
  });
}

/** `/mutate-accessrequests`: stamps the deciding user and times; refuses what can never be valid. */
export function accessRequestMutator(deps: AccessRequestAdmissionDeps): AdmissionHandler {
  return async (req) => {
    if (!isStatusUpdate(req)) return allowed(req);
    const r = await transition(deps, req, 'stamp');
    if (r === 'bad-request') return denied(req, 'agentgate: no AccessRequest in the admission request', 400, 'BadRequest');
    if (!r.ok) return refusal(req, r);
    if (r.kind === 'unchanged' || r.kind === 'initialize' || r.kind === 'expire' || r.kind === 'grant-ended') return allowed(req);
    return patched(req, [{ op: 'add', path: '/status', value: toJson(r.status) }]);
  };
}

/** `/validate-accessrequests`: the final object must be exactly what stamping produces. */
export function accessRequestValidator(deps: AccessRequestAdmissionDeps): AdmissionHandler {
  return async (req) => {
    if (req.kind.kind !== 'AccessRequest') return allowed(req);
    if (req.operation === 'CREATE') {
      const user = req.userInfo.username ?? '';
      if (deps.creators !== undefined && !deps.creators.includes(user)) {
        return denied(req, `agentgate: AccessRequests are created by the agentgate operator only, not by ${user || '(unauthenticated)'} [AG_APPROVAL_CREATE_FORBIDDEN]`, 403, 'Forbidden');
      }
      return allowed(req);
    }
    if (!isStatusUpdate(req)) return allowed(req); // spec is immutable (CRD rule); a main-resource update cannot touch status
    const r = await transition(deps, req, 'verify');
    if (r === 'bad-request') return denied(req, 'agentgate: no AccessRequest in the admission request', 400, 'BadRequest');
    return r.ok ? allowed(req) : refusal(req, r);
  };
}
