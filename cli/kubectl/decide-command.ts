// `kubectl agentgate approve|deny NAME --reason R`: one patch of the
// AccessRequest's status subresource, made with the user's own credentials.
// The operator's admission webhooks stamp the deciding user from the API
// server's authentication and refuse self-approval, outsiders and late or
// repeated decisions; their message is printed as it is. The patch carries the
// resourceVersion read just before, so two approvers never overwrite each
// other (a conflict is re-read and retried).
import type { AccessRequest, AccessRequestStatus } from '../../core/resources/generated.js';
import { KubeApiError } from '../../operator/errors.js';
import { R } from '../../operator/kube/resources.js';
import { apiMessage, type KubeContext, type Io } from './kube-context.js';
import { effectivePhase } from './requests-command.js';

const CONFLICT_RETRIES = 5;
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Who the API server says we are (SelfSubjectReview); the webhook stamps the same name. */
async function whoAmI(ctx: KubeContext): Promise<string> {
  try {
    const r = await ctx.client.request<{ status?: { userInfo?: { username?: string } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    return r.status?.userInfo?.username ?? '';
  } catch {
    return ''; // the webhook stamps the user anyway
  }
}

export async function decide(ctx: KubeContext, io: Io, verb: 'approve' | 'deny', name: string, reason: string): Promise<number> {
  const me = await whoAmI(ctx);
  for (let attempt = 1; ; attempt++) {
    let ar: AccessRequest;
    try {
      ar = await ctx.client.get<AccessRequest & { metadata: { name?: string } }>(R.accessRequests, ctx.namespace, name);
    } catch (err) {
      io.err(`kubectl-agentgate: ${verb} ${name}: ${apiMessage(err)}\n`);
      return 1;
    }
    const phase = effectivePhase(ar, Date.now());
    if (phase !== 'Pending') {
      const by = ar.status?.decidedBy !== undefined ? ` by ${ar.status.decidedBy}` : '';
      io.err(`kubectl-agentgate: ${verb} ${name}: the request is already ${phase}${by}; nothing changed\n`);
      return 1;
    }
    const now = rfc3339(new Date());
    const old = ar.status ?? {};
    const status: AccessRequestStatus = verb === 'approve'
      ? { approvals: [...(old.approvals ?? []), { user: me || 'unknown', reason, at: now }] }
      : { phase: 'Denied', reason, decidedBy: me || 'unknown', decidedAt: now };
    let updated: AccessRequest;
    try {
      updated = await ctx.client.patch<AccessRequest & { metadata: { name?: string } }>(
        R.accessRequests, ctx.namespace, name, { metadata: { resourceVersion: ar.metadata.resourceVersion }, status }, 'merge', 'status',
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409 && err.reason === 'Conflict' && !/admission webhook/.test(err.message) && attempt < CONFLICT_RETRIES) continue;
      io.err(`kubectl-agentgate: ${verb} ${name} refused: ${apiMessage(err)}\n`);
      return 1;
    }
    const st = updated.status ?? {};
    if (verb === 'deny') {
      io.out(`accessrequest/${name} denied by ${st.decidedBy ?? me}\n`);
    } else if (st.phase === 'Approved') {
      io.out(`accessrequest/${name} approved by ${st.decidedBy ?? me} (${st.approvals?.length ?? 0} approval(s))\n`);
    } else {
      io.out(`accessrequest/${name}: approval by ${st.approvals?.at(-1)?.user ?? me} recorded (${st.approvals?.length ?? 0} so far); still ${st.phase ?? 'Pending'}\n`);
    }
    return 0;
  }
}
