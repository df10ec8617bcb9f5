// The four reconcilers. Each takes a key, reads current state from the
// informer caches, converges, and writes status through the status
// subresource only when it changes (so its own write does not loop). Events
// are emitted on transitions of the Ready condition.
import type { Logger } from 'pino';
import { compilePolicies } from '../../core/policy/engine.js';
import type { AccessPolicyLike } from '../../core/policy/policy-input.js';
import { conditionUnchanged, findCondition, setCondition, type ConditionInput } from '../kube/conditions.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import type { Informer } from '../kube/informer.js';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import { splitKey, type Condition, type KubeObject, type ResourceRef } from '../kube/types.js';
import { isNotFound } from '../errors.js';
import type { ReconcileResult } from './controller.js';
import { connectionReadiness, policyReadiness, REASONS, secretRequirements } from './readiness.js';
import type { SecretWatcher } from './secret-watcher.js';

interface WithStatus extends KubeObject {
  status?: { conditions?: Condition[]; observedGeneration?: number; [k: string]: unknown };
}
export interface PolicyObject extends WithStatus {
  spec?: AccessPolicyLike['spec'] & { connections?: string[] };
}
export interface ConnectionObject extends WithStatus {
  spec?: Parameters<typeof secretRequirements>[0] & { listen?: { port?: number }; env?: Array<{ name: string; value?: string }> };
}
export interface AccessRequestObject extends WithStatus {
  spec?: { expiresAt?: string; policy?: string; connection?: string };
  status?: WithStatus['status'] & { phase?: string; decidedAt?: string; reason?: string };
}
export interface SessionRecordObject extends KubeObject {
  spec?: { startedAt?: string; endedAt?: string };
}

export interface ReconcilerDeps {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  now?: () => Date;
}

const RFC3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Writes the Ready condition (and observedGeneration) if it changed; emits an Event on a reason change. */
async function writeReady(deps: ReconcilerDeps, ref: ResourceRef, obj: WithStatus, c: ConditionInput, action: string): Promise<void> {
  const current = obj.status?.conditions;
  const gen = obj.metadata?.generation;
  if (conditionUnchanged(current, c) && obj.status?.observedGeneration === gen) return;
  const prev = findCondition(current, 'Ready');
  const conditions = setCondition(current, c, (deps.now ?? (() => new Date()))());
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  try {
    await deps.client.patchStatus(ref, ns, name, { observedGeneration: gen, conditions });
  } catch (err) {
    if (isNotFound(err)) return; // deleted meanwhile
    throw err;
  }
  if (prev?.reason !== c.reason || prev.status !== c.status) {
    deps.events.event(obj, c.status === 'True' ? 'Normal' : 'Warning', c.reason, action, c.message.split('\n')[0] ?? '');
  }
}

export function accessPolicyReconciler(deps: ReconcilerDeps, policies: Informer<PolicyObject>, connections: Informer<ConnectionObject>) {
  return async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = splitKey(key);
    const p = policies.get(name, namespace);
    if (!p || !namespace) return;
    const { errors } = compilePolicies([p]);
    const conns = p.spec?.connections ?? [];
    const c = policyReadiness(p.metadata?.generation, p.spec?.rules?.length ?? 0, errors, conns, (n) => connections.get(n, namespace) !== undefined);
    await writeReady(deps, R.accessPolicies, p, c, 'Validate');
  };
}

export function connectionReconciler(deps: ReconcilerDeps, connections: Informer<ConnectionObject>, secrets: SecretWatcher) {
  return async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = splitKey(key);
    const conn = connections.get(name, namespace);
    if (!conn || !namespace) return;
    await secrets.watch(namespace);
    if (!secrets.synced(namespace)) return { requeueAfterMs: 1000 }; // the Secret list is not in yet
    const reqs = secretRequirements(conn.spec);
    const c = connectionReadiness(conn.metadata?.generation, namespace, reqs, (s) => secrets.keys(namespace, s));
    await writeReady(deps, R.connections, conn, c, 'CheckSecrets');
  };
}

export function accessRequestReconciler(deps: ReconcilerDeps, requests: Informer<AccessRequestObject>) {
  return async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = splitKey(key);
    const ar = requests.get(name, namespace);
    if (!ar || !namespace) return;
    const phase = ar.status?.phase ?? 'Pending';
    if (phase !== 'Pending') return;
    const expires = Date.parse(ar.spec?.expiresAt ?? '');
    if (Number.isNaN(expires)) return;
    const now = (deps.now ?? (() => new Date()))();
    if (now.getTime() < expires) return { requeueAfterMs: expires - now.getTime() };
    const c: ConditionInput = {
      type: 'Ready', status: 'False', reason: REASONS.expired,
      message: `no decision before ${ar.spec?.expiresAt ?? ''}`, ...(ar.metadata?.generation !== undefined ? { observedGeneration: ar.metadata.generation } : {}),
    };
    // A compare-and-swap on the whole status: an approval that lands first wins.
    const body: AccessRequestObject = {
      ...ar,
      status: {
        ...ar.status, phase: 'Expired', decidedAt: RFC3339(now), reason: 'expired before a decision',
        observedGeneration: ar.metadata?.generation, conditions: setCondition(ar.status?.conditions, c, now),
      },
    };
    try {
      await deps.client.request('PUT', `/apis/${R.accessRequests.group}/${R.accessRequests.version}/namespaces/${namespace}/${R.accessRequests.plural}/${name}/status`, { body });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err; // a conflict retries against the fresh object
    }
    deps.events.event(ar, 'Normal', REASONS.expired, 'Expire', c.message);
    deps.log.info({ accessRequest: key }, 'access request expired');
  };
}

export function sessionRecordReconciler(deps: ReconcilerDeps, records: Informer<SessionRecordObject>, ttlMs: number) {
  return async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = splitKey(key);
    const rec = records.get(name, namespace);
    if (!rec || !namespace) return;
    // Age counts from the end of the session (or its creation while it runs).
    const since = Date.parse(rec.spec?.endedAt ?? rec.metadata?.creationTimestamp ?? '');
    if (Number.isNaN(since)) return;
    const now = (deps.now ?? (() => new Date()))().getTime();
    const due = since + ttlMs;
    if (now < due) return { requeueAfterMs: due - now };
    try {
      await deps.client.delete(R.sessionRecords, namespace, name, rec.metadata?.uid);
      deps.log.info({ sessionRecord: key }, 'session record deleted (older than the TTL)');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
}
