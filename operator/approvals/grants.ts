// Time-bound grants: an approved AccessRequest with scope grant lets the same
// rule's operations through, for the same pod and identity on the same
// connection, until decidedAt + the policy's approval.grantDuration. The
// window is read from the policy as it is now, so shortening grantDuration
// (or deleting the policy) closes open grants.
import { parseDuration } from '../../core/policy/duration.js';
import type { AccessPolicy, AccessRequest } from '../../core/resources/generated.js';

export const POD_UID_LABEL = 'agentgate.dev/pod-uid';

export interface ActiveGrant {
  request: string;
  /** "namespace/name", as the policy engine names policies. */
  policy: string;
  rule: string;
  connection: string;
  identity: { sub: string; iss?: string | undefined };
  /** RFC 3339. */
  expiresAt: string;
}

export function activeGrants(
  pod: { namespace: string; name: string; uid: string },
  requests: readonly AccessRequest[],
  policy: (name: string) => AccessPolicy | undefined,
  now: Date,
): ActiveGrant[] {
  const out: ActiveGrant[] = [];
  for (const r of requests) {
    if (r.spec.scope !== 'grant' || r.status?.phase !== 'Approved') continue;
    const p = r.spec.requester.pod;
    if (p?.namespace !== pod.namespace || p.name !== pod.name) continue;
    // A pod recreated under the same name does not inherit the old pod's grants.
    if (r.metadata.labels?.[POD_UID_LABEL] !== pod.uid) continue;
    const duration = policy(r.spec.policy)?.spec.approval?.grantDuration;
    const decidedAt = Date.parse(r.status.decidedAt ?? '');
    if (duration === undefined || !Number.isFinite(decidedAt)) continue;
    let ms: number;
    try {
      ms = parseDuration(duration);
    } catch {
      continue;
    }
    const expires = decidedAt + ms;
    if (expires <= now.getTime()) continue;
    out.push({
      request: r.metadata.name ?? '',
      policy: `${pod.namespace}/${r.spec.policy}`,
      rule: r.spec.rule,
      connection: r.spec.connection,
      identity: { sub: r.spec.requester.sub, iss: r.spec.requester.iss },
      expiresAt: new Date(expires).toISOString(),
    });
  }
  return out.sort((a, b) => a.request.localeCompare(b.request));
}
