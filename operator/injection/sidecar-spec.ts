// The sidecar container and its volumes, built from the injection config and
// the pod's connections. The environment below is the contract with the
// sidecar's injected mode (core/contracts/sidecar-env.ts names it for both).
import type { V1Container, V1Volume } from '@kubernetes/client-node';
import { SIDECAR_ENV } from '../../core/contracts/sidecar-env.js';
import {
  CA_MOUNT_PATH, CA_VOLUME, SIDECAR_NAME, SPOOL_MOUNT_PATH, SPOOL_VOLUME, TOKEN_MOUNT_PATH, TOKEN_VOLUME, type InjectionConfig,
} from './injection-config.js';

export { SIDECAR_ENV };

export function sidecarContainer(cfg: InjectionConfig, connectionNames: readonly string[]): V1Container {
  const probe = (path: string, period: number, failures: number): V1Container['startupProbe'] => ({
    httpGet: { path, port: cfg.adminPort, scheme: 'HTTP' },
    periodSeconds: period,
    timeoutSeconds: 1,
    failureThreshold: failures,
  });
  return {
    name: SIDECAR_NAME,
    image: cfg.sidecarImage,
    imagePullPolicy: cfg.imagePullPolicy,
    // Native sidecar: starts before the agent, stays up, and does not keep Jobs alive.
    restartPolicy: 'Always',
    // The sidecar's injected mode reads its configuration from the environment below.
    args: ['injected'],
    env: [
      { name: SIDECAR_ENV.operatorUrl, value: cfg.operatorUrl },
      { name: SIDECAR_ENV.operatorCaFile, value: `${CA_MOUNT_PATH}/ca.crt` },
      { name: SIDECAR_ENV.tokenFile, value: `${TOKEN_MOUNT_PATH}/token` },
      { name: SIDECAR_ENV.spoolDir, value: SPOOL_MOUNT_PATH },
      { name: SIDECAR_ENV.adminPort, value: String(cfg.adminPort) },
      { name: SIDECAR_ENV.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: SIDECAR_ENV.podNamespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: SIDECAR_ENV.podUid, valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      { name: SIDECAR_ENV.serviceAccount, valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
      { name: SIDECAR_ENV.connections, value: connectionNames.join(',') },
      { name: SIDECAR_ENV.transparent, value: String(cfg.transparentMode) },
    ],
    ports: [{ name: 'agentgate-admin', containerPort: cfg.adminPort, protocol: 'TCP' }],
    // The agent starts only once the sidecar says enforcement is ready.
    startupProbe: probe('/readyz', 1, 120),
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 3),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: cfg.sidecarUid,
      runAsGroup: cfg.sidecarUid,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    resources: cfg.resources,
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true },
      { name: CA_VOLUME, mountPath: CA_MOUNT_PATH, readOnly: true },
      { name: SPOOL_VOLUME, mountPath: SPOOL_MOUNT_PATH },
    ],
  };
}

export function sidecarVolumes(cfg: InjectionConfig): V1Volume[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        defaultMode: 0o644, // as kube-api-access: the file must be readable by the sidecar's non-root user
        sources: [{ serviceAccountToken: { audience: cfg.tokenAudience, expirationSeconds: cfg.tokenExpirationSeconds, path: 'token' } }],
      },
    },
    { name: CA_VOLUME, configMap: { name: cfg.caConfigMapName, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    { name: SPOOL_VOLUME, emptyDir: { sizeLimit: cfg.spoolSizeLimit } },
  ];
}
