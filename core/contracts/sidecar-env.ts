// The environment the injection webhook writes into the sidecar container and
// the injected sidecar reads: one list, imported by both sides.
export const SIDECAR_ENV = {
  operatorUrl: 'AGENTGATE_OPERATOR_URL',
  operatorCaFile: 'AGENTGATE_OPERATOR_CA_FILE',
  tokenFile: 'AGENTGATE_TOKEN_FILE',
  spoolDir: 'AGENTGATE_SPOOL_DIR',
  adminPort: 'AGENTGATE_ADMIN_PORT',
  adminHost: 'AGENTGATE_ADMIN_HOST',
  podName: 'AGENTGATE_POD_NAME',
  podNamespace: 'AGENTGATE_POD_NAMESPACE',
  podUid: 'AGENTGATE_POD_UID',
  serviceAccount: 'AGENTGATE_SERVICE_ACCOUNT',
  connections: 'AGENTGATE_CONNECTIONS',
  transparent: 'AGENTGATE_TRANSPARENT',
  logLevel: 'AGENTGATE_LOG_LEVEL',
} as const;
