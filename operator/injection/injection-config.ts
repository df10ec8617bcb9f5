// What the injector needs to know, fixed at operator start, and the names it
// reserves in every pod it touches.
import type { V1ResourceRequirements } from '@kubernetes/client-node';

export const SIDECAR_NAME = 'agentgate-sidecar';
export const TOKEN_VOLUME = 'agentgate-token';
export const CA_VOLUME = 'agentgate-ca';
export const SPOOL_VOLUME = 'agentgate-spool';
export const RESERVED_VOLUMES: readonly string[] = [TOKEN_VOLUME, CA_VOLUME, SPOOL_VOLUME];

export const TOKEN_MOUNT_PATH = '/var/run/secrets/agentgate.dev/token';
export const CA_MOUNT_PATH = '/var/run/agentgate/ca';
export const SPOOL_MOUNT_PATH = '/var/spool/agentgate';

export const INJECT_LABEL = 'agentgate.dev/inject'; // pod label "true" opts in
export const INJECT_ANNOTATION = 'agentgate.dev/inject'; // pod annotation "false" opts out
export const NAMESPACE_LABEL = 'agentgate.dev/injection'; // namespace label "enabled" opts in
export const CONNECTIONS_ANNOTATION = 'agentgate.dev/connections';

/**
 * Not 65532: distroless "nonroot" images (common for agents) run as 65532
 * without saying so in the pod spec, where admission cannot see it.
 */
export const DEFAULT_SIDECAR_UID = 64242;

export interface InjectionConfig {
  sidecarImage: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Where sidecars reach the operator's API. */
  operatorUrl: string;
  operatorNamespace: string;
  /** Namespaces never injected (the operator's own, kube-system). */
  excludedNamespaces: readonly string[];
  tokenAudience: string;
  tokenExpirationSeconds: number;
  caConfigMapName: string;
  sidecarUid: number;
  adminPort: number;
  spoolSizeLimit: string;
  resources: V1ResourceRequirements;
  /** Transparent mode (iptables redirect): agents must not hold NET_ADMIN / NET_RAW. */
  transparentMode: boolean;
}

export function defaultInjectionConfig(over: Partial<InjectionConfig> = {}): InjectionConfig {
  const operatorNamespace = over.operatorNamespace ?? 'agentgate-system';
  return {
    sidecarImage: 'ghcr.io/agentgate/agentgate:latest',
    imagePullPolicy: 'IfNotPresent',
    operatorUrl: `https://agentgate-operator.${operatorNamespace}.svc:9443`,
    operatorNamespace,
    excludedNamespaces: [operatorNamespace, 'kube-system'],
    tokenAudience: 'agentgate.dev/operator',
    tokenExpirationSeconds: 3600,
    caConfigMapName: 'agentgate-ca',
    sidecarUid: DEFAULT_SIDECAR_UID,
    adminPort: 15020,
    spoolSizeLimit: '256Mi',
    // Measured (sidecar/standalone/streaming-memory.int.test.ts): ~110 MiB RSS idle, the SQL
    // parser's WASM heap grows to ~130 MiB with the first statements, and peak RSS stays flat as
    // results grow; 256Mi would OOM-kill a busy sidecar.
    resources: { requests: { cpu: '50m', memory: '192Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    transparentMode: false,
    ...over,
  };
}
