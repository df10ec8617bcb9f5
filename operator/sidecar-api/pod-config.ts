// The configuration one pod's sidecar gets: the AccessPolicies in its
// namespace whose podSelector selects it, the Connections those policies name,
// the live grants of its approved `scope: grant` requests, the TLS CA of each
// connection and the keys of keyed-hash masking (read from Secrets by the
// operator, never by the sidecar). The etag is a hash of all of it, so a
// sidecar can long-poll for a change.
import { matchesLabelSelector } from '../../core/policy/label-selector.js';
import { canonicalJson } from '../../core/recording/canonical-json.js';
import { sha256Hex } from '../../core/recording/hash-chain.js';
import type { AccessPolicy, Connection, ConnectionSpec, TLSMode } from '../../core/resources/generated.js';
import { activeGrants, type ActiveGrant } from '../approvals/grants.js';
import type { ClusterResources } from './cluster-resources.js';
import type { CallerPod } from './token-reviewer.js';

export interface PodConfigConnection {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  spec: ConnectionSpec;
  tls: { mode: TLSMode; caPem?: string | undefined; serverName?: string | undefined };
}

export interface PodConfig {
  pod: { namespace: string; name: string; uid: string; serviceAccount: string; labels: Record<string, string> };
  connections: PodConfigConnection[];
  policies: AccessPolicy[];
  grants: ActiveGrant[];
  /** "namespace/policy" → base64 key for masking strategy hash. */
  maskingKeys: Record<string, string>;
  /** Hash of everything above. */
  etag: string;
}

export interface PodConfigDeps {
  resolveTls(c: Connection): Promise<PodConfigConnection['tls']>;
  /** A Secret value (the masking hash key). */
  secretValue(namespace: string, name: string, key: string): Promise<Buffer>;
}

const byName = <T extends { metadata: { name?: string } }>(a: T, b: T): number => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');

/** The policies that select the pod and the connections they name (pure). */
export function selectForPod(
  pod: Pick<CallerPod, 'namespace' | 'labels'>,
  policies: readonly AccessPolicy[],
  connections: readonly Connection[],
): { policies: AccessPolicy[]; connections: Connection[] } {
  const selected = policies
    .filter((p) => p.metadata.namespace === pod.namespace && p.metadata.deletionTimestamp === undefined)
    .filter((p) => matchesLabelSelector(p.spec.podSelector, pod.labels))
    .sort(byName);
  const names = new Set(selected.flatMap((p) => p.spec.connections));
  const conns = connections
    .filter((c) => c.metadata.namespace === pod.namespace && names.has(c.metadata.name ?? '') && c.metadata.deletionTimestamp === undefined)
    .sort(byName);
  return { policies: selected, connections: conns };
}

/** May this pod use this connection? (Some policy that selects it names it.) */
export function podMayUse(pod: Pick<CallerPod, 'namespace' | 'labels'>, resources: ClusterResources, connection: string): Connection | undefined {
  const { connections } = selectForPod(pod, resources.policies(pod.namespace), resources.connections(pod.namespace));
  return connections.find((c) => c.metadata.name === connection);
}

/** Just what a sidecar needs of a policy (no status, no managed fields). */
function trimPolicy(p: AccessPolicy): AccessPolicy {
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: { name: p.metadata.name, namespace: p.metadata.namespace, ...(p.metadata.generation !== undefined ? { generation: p.metadata.generation } : {}), ...(p.metadata.labels ? { labels: p.metadata.labels } : {}) },
    spec: p.spec,
  };
}

export async function buildPodConfig(pod: CallerPod, resources: ClusterResources, deps: PodConfigDeps, now: Date): Promise<PodConfig> {
  const { policies, connections } = selectForPod(pod, resources.policies(pod.namespace), resources.connections(pod.namespace));
  const conns: PodConfigConnection[] = [];
  for (const c of connections) {
    conns.push({
      namespace: pod.namespace,
      name: c.metadata.name ?? '',
      labels: { ...(c.metadata.labels ?? {}) },
      spec: c.spec,
      tls: await deps.resolveTls(c),
    });
  }
  const maskingKeys: Record<string, string> = {};
  for (const p of policies) {
    const ref = p.spec.masking?.hashKeySecretRef;
    if (ref !== undefined) maskingKeys[`${pod.namespace}/${p.metadata.name ?? ''}`] = (await deps.secretValue(pod.namespace, ref.name, ref.key)).toString('base64');
  }
  const grants = activeGrants(pod, resources.accessRequests(pod.namespace), (name) => resources.policy(pod.namespace, name), now);
  const body = {
    pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid, serviceAccount: pod.serviceAccount, labels: pod.labels },
    connections: conns,
    policies: policies.map(trimPolicy),
    grants,
    maskingKeys,
  };
  return { ...body, etag: `"${sha256Hex(canonicalJson(JSON.parse(JSON.stringify(body))))}"` };
}

/** When the config changes by itself (the earliest grant expiry), for long-poll wake-ups. */
export function nextTimedChange(cfg: PodConfig): number | undefined {
  const times = cfg.grants.map((g) => Date.parse(g.expiresAt)).filter((t) => Number.isFinite(t));
  return times.length > 0 ? Math.min(...times) : undefined;
}
