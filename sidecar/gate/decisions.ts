// The protocol-agnostic parts of a decision: building the activation, the
// review flow (approval request, the pending hook, fail closed when the
// approval service cannot be reached) and the client-facing deny message,
// which always names the policy and rule (invariant 6).
import type { ApprovalOutcome } from '../../core/recording/events.js';
import type { Activation, ApprovalRequest, ApprovalService, ConnectionFacts, GateDecision, Identity } from './gate.js';

export interface OperationContext {
  identity: Identity;
  connection: ConnectionFacts;
  session: { id: string; startedAt: Date; statements: number; denied: number };
}

export function buildActivation(ctx: OperationContext, op: Pick<Activation, 'sql' | 'ssh' | 'http'>): Activation {
  return {
    identity: ctx.identity,
    connection: ctx.connection,
    session: { ...ctx.session },
    now: new Date(),
    ...op,
  };
}

// The engine's messages start with "<verb> by policy P rule R"; keep only
// what the rule's author wrote after it, and name policy and rule once.
function authorMessage(message: string, policy: string, rule: string): string {
  for (const verb of ['denied by', 'review required by', 'allowed by']) {
    const prefix = `${verb} policy ${policy} rule ${rule}`;
    if (message === prefix) return '';
    if (message.startsWith(`${prefix}: `)) return message.slice(prefix.length + 2);
  }
  return message;
}

/**
 * The client-facing refusal: `agentgate: denied by policy ns/name rule "no-ddl": <message>`;
 * `agentgate: denied by built-in rule "unparseable": ...` for the proxy's own refusals;
 * `agentgate: denied: <message>` for the default deny.
 */
export function denyMessage(d: Pick<GateDecision, 'policy' | 'rule' | 'message'>, verb = 'denied'): string {
  const text = d.policy !== undefined && d.rule !== undefined ? authorMessage(d.message, d.policy, d.rule) : d.message;
  const msg = text.length > 0 ? text : 'not allowed';
  if (d.policy !== undefined && d.rule !== undefined) return `agentgate: ${verb} by policy ${d.policy} rule "${d.rule}": ${msg}`;
  if (d.policy !== undefined) return `agentgate: ${verb} by policy ${d.policy}: ${msg}`;
  if (d.rule !== undefined) return `agentgate: ${verb} by built-in rule "${d.rule}": ${msg}`;
  return `agentgate: ${verb}: ${msg}`;
}

export interface ReviewResult {
  /** 'unavailable': no request could be created; the operation is refused. */
  outcome: ApprovalOutcome | 'unavailable';
  approvalId?: string | undefined;
  /** For a refusal: the client-facing message. */
  message: string;
}

/**
 * Runs a review: creates the approval request, calls `onPending(id)` as soon
 * as it exists, and resolves with the outcome. Never rejects: any failure is
 * an 'unavailable' refusal (fail closed).
 */
export async function awaitApproval(
  approvals: ApprovalService,
  req: ApprovalRequest,
  opts: { signal: AbortSignal; onPending: (id: string) => void },
): Promise<ReviewResult> {
  let approvalId: string | undefined;
  try {
    const outcome = await approvals.request(req, {
      signal: opts.signal,
      onPending: (id) => {
        if (approvalId !== undefined) return;
        approvalId = id;
        opts.onPending(id);
      },
    });
    if (outcome === 'approved') return { outcome, approvalId, message: '' };
    const verb = outcome === 'expired' ? 'approval expired' : 'approval denied';
    const suffix = approvalId !== undefined ? ` (request ${approvalId})` : '';
    return { outcome, approvalId, message: `${denyMessage(req.decision, verb)}${suffix}` };
  } catch (err: unknown) {
    // Only a stable code reaches the client; the error text may name internals.
    const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'error';
    return {
      outcome: 'unavailable',
      approvalId,
      message: `${denyMessage(req.decision, 'needs approval')}; refused: the approval service is unavailable (${code})`,
    };
  }
}
