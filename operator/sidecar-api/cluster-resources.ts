// The operator's view of the resources the sidecar API serves, read from
// informer caches (no API call per request), with change notification per
// namespace so that long polls return within moments of a policy edit.
import type { Logger } from 'pino';
import type { AccessPolicy, AccessRequest, Connection } from '../../core/resources/generated.js';
import { Informer } from '../kube/informer.js';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';

export type ResourceKind = 'policy' | 'connection' | 'accessrequest';

export interface ClusterResources {
  policies(namespace: string): AccessPolicy[];
  connections(namespace: string): Connection[];
  connection(namespace: string, name: string): Connection | undefined;
  /** Every Connection in the cluster (the JIT sweeper visits each target). */
  allConnections(): Connection[];
  policy(namespace: string, name: string): AccessPolicy | undefined;
  accessRequests(namespace: string): AccessRequest[];
  accessRequest(namespace: string, name: string): AccessRequest | undefined;
  /** Called after any change in a namespace; returns an unsubscribe function. */
  onChange(listener: (namespace: string, kind: ResourceKind) => void): () => void;
}

/** What the API needs of an informer (the operator's Informer fits). */
export interface InformerLike<T> {
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
  on(event: 'add' | 'update' | 'delete', handler: (obj: T) => void): void;
}

export function informerResources(inf: {
  policies: InformerLike<AccessPolicy>;
  connections: InformerLike<Connection>;
  accessRequests: InformerLike<AccessRequest>;
}): ClusterResources {
  const listeners = new Set<(namespace: string, kind: ResourceKind) => void>();
  const notify = (kind: ResourceKind) => (obj: { metadata?: { namespace?: string } }): void => {
    const ns = obj.metadata?.namespace ?? '';
    for (const l of listeners) l(ns, kind);
  };
  for (const [i, kind] of [[inf.policies, 'policy'], [inf.connections, 'connection'], [inf.accessRequests, 'accessrequest']] as const) {
    for (const ev of ['add', 'update', 'delete'] as const) (i as InformerLike<{ metadata?: { namespace?: string } }>).on(ev, notify(kind));
  }
  return {
    policies: (ns) => inf.policies.list(ns),
    connections: (ns) => inf.connections.list(ns),
    connection: (ns, name) => inf.connections.get(name, ns),
    allConnections: () => inf.connections.list(),
    policy: (ns, name) => inf.policies.get(name, ns),
    accessRequests: (ns) => inf.accessRequests.list(ns),
    accessRequest: (ns, name) => inf.accessRequests.get(name, ns),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export interface StartedClusterResources extends ClusterResources {
  readonly synced: boolean;
  stop(): Promise<void>;
}

/**
 * Starts informers for the three kinds (pass the operator's existing policy
 * and connection informers to share their caches) and resolves once started.
 */
export async function startClusterResources(o: {
  client: KubeClient;
  log: Logger;
  policies?: Informer<AccessPolicy>;
  connections?: Informer<Connection>;
}): Promise<StartedClusterResources> {
  const own: Array<Informer<AccessPolicy> | Informer<Connection> | Informer<AccessRequest>> = [];
  const policies = o.policies ?? new Informer<AccessPolicy>({ client: o.client, ref: R.accessPolicies, log: o.log });
  const connections = o.connections ?? new Informer<Connection>({ client: o.client, ref: R.connections, log: o.log });
  const accessRequests = new Informer<AccessRequest>({ client: o.client, ref: R.accessRequests, log: o.log });
  if (!o.policies) own.push(policies);
  if (!o.connections) own.push(connections);
  own.push(accessRequests);
  const view = informerResources({ policies, connections, accessRequests });
  await Promise.all(own.map((i) => i.start()));
  return {
    ...view,
    get synced() {
      return policies.synced && connections.synced && accessRequests.synced;
    },
    stop: async () => {
      await Promise.all(own.map((i) => i.stop()));
    },
  };
}
