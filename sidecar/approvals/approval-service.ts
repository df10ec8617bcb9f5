// Adapts LocalApprovals to the gate's ApprovalService: the deciding policy's
// approval settings (timeout, required approvers, scope) come with the decision.

import type { ApprovalSettings } from '../../core/policy/policy-settings.js';
import type { ApprovalRequest, ApprovalService } from '../gate/gate.js';
import { ApprovalInputError } from './errors.js';
import type { LocalApprovals } from './local-approvals.js';

function approvalSettings(v: unknown): Partial<ApprovalSettings> {
  if (typeof v !== 'object' || v === null) return {};
  const a = v as Record<string, unknown>;
  return {
    timeoutMs: typeof a['timeoutMs'] === 'number' ? a['timeoutMs'] : undefined,
    required: typeof a['required'] === 'number' ? a['required'] : undefined,
    scope: a['scope'] === 'grant' ? 'grant' : 'once',
    grantDurationMs: typeof a['grantDurationMs'] === 'number' ? a['grantDurationMs'] : undefined,
  };
}

export function localApprovalService(approvals: LocalApprovals): ApprovalService {
  return {
    request(req: ApprovalRequest, opts) {
      const { policy, rule } = req.decision;
      if (policy === undefined || rule === undefined) {
        // A review always comes from a named rule; anything else is refused (fail closed).
        return Promise.reject(new ApprovalInputError('a review decision must name its policy and rule'));
      }
      const s = approvalSettings(req.decision.approval);
      return approvals.request({
        policy,
        rule,
        connection: req.connection,
        protocol: req.protocol,
        operation: req.operation,
        requester: {
          sub: req.identity.sub,
          iss: req.identity.iss,
          groups: [...req.identity.groups],
          pod: { namespace: req.identity.pod.namespace, name: req.identity.pod.name, serviceAccount: req.identity.pod.serviceAccount },
        },
        sessionId: req.sessionId,
        timeout: s.timeoutMs,
        required: s.required,
        scope: s.scope,
        grantDurationMs: s.grantDurationMs,
        signal: opts.signal,
        onPending: ({ id }) => opts.onPending(id),
      });
    },
  };
}
