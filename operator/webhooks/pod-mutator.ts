// The Pod mutating webhook: opted-in pods get the sidecar (see
// injection/pod-injector.ts). Which pods are opted in is decided by the
// webhook configuration's selectors; the handler re-checks only what it must
// (excluded namespaces, the opt-out annotation). Fails closed: caches not yet
// synced, or the CA ConfigMap not writable, refuse the pod with a 500.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { allowed, denied, errored, patched, type AdmissionHandler } from './admission.js';
import { injectPod, type ConnectionForInjection, type PolicyForInjection } from '../injection/pod-injector.js';
import { formatRefusals } from '../injection/refusals.js';
import type { InjectionConfig } from '../injection/injection-config.js';
import type { OperatorMetrics } from '../ops/metrics.js';

export interface PodMutatorDeps {
  config: InjectionConfig;
  policies: () => readonly PolicyForInjection[];
  connection: (namespace: string, name: string) => ConnectionForInjection | undefined;
  cachesSynced: () => boolean;
  /** Makes sure the operator CA ConfigMap the sidecar mounts exists in the namespace. */
  ensureCaConfigMap: (namespace: string) => Promise<void>;
  metrics: OperatorMetrics;
  log: Logger;
}

export function podMutator(deps: PodMutatorDeps): AdmissionHandler {
  const count = (result: string): void => deps.metrics.injectionsTotal.inc({ result });
  return async (req) => {
    if (req.resource.resource !== 'pods' || req.resource.group !== '' || req.subResource) return allowed(req);
    if (req.operation !== 'CREATE') return allowed(req);
    const pod = req.object as V1Pod | undefined;
    const namespace = req.namespace ?? pod?.metadata?.namespace ?? '';
    if (!pod || !namespace) {
      count('error');
      return errored(req, 'agentgate: admission request without a pod or namespace');
    }
    if (!deps.cachesSynced()) {
      count('error');
      return errored(req, 'agentgate: the operator has not loaded AccessPolicies and Connections yet; retry shortly');
    }
    const result = injectPod({ pod, namespace, policies: deps.policies(), connection: deps.connection }, deps.config);
    const podName = pod.metadata?.name ?? `${pod.metadata?.generateName ?? ''}*`;
    switch (result.kind) {
      case 'skip':
        count('skipped');
        deps.log.debug({ namespace, pod: podName, reason: result.reason }, 'pod not injected');
        return allowed(req);
      case 'refuse': {
        count('refused');
        const message = formatRefusals(result.refusals);
        deps.log.info({ namespace, pod: podName, fields: result.refusals.map((r) => r.field) }, 'pod refused');
        return denied(req, message);
      }
      case 'unchanged':
        count('unchanged');
        return allowed(req);
      case 'inject':
        if (!req.dryRun) await deps.ensureCaConfigMap(namespace);
        count('injected');
        deps.log.info({ namespace, pod: podName, connections: result.connections, warnings: result.warnings }, 'sidecar injected');
        return patched(req, result.patch, result.warnings.map((w) => `agentgate: ${w}`));
    }
  };
}
