// Injected mode's settings: the AGENTGATE_* environment the injection webhook
// wrote into the sidecar container (core/contracts/sidecar-env.ts is the
// contract both sides import), each overridable by a flag. Validated once, at
// start; every problem is reported together, naming the flag and variable.
import { parseArgs } from 'node:util';
import { SIDECAR_ENV } from '../../core/contracts/sidecar-env.js';
import { parseDuration } from '../../core/policy/duration.js';
import { UsageError } from '../standalone/pod-identity.js';

/** The environment contract, shared with the injection webhook. */
export const INJECTED_ENV = SIDECAR_ENV;

export interface InjectedOptions {
  operatorUrl: string;
  operatorCaFile: string;
  tokenFile: string;
  spoolDir: string;
  /** Health, readiness and metrics (the kubelet probes it on the pod IP). */
  adminPort: number;
  adminHost: string;
  pod: { name: string; namespace: string; uid: string; serviceAccount: string };
  /** The Connections the webhook saw at admission (informational: the operator's configuration decides). */
  expectedConnections: string[];
  /** Where Connections listen (always loopback: only containers of this pod reach them). */
  listenHost: string;
  jwksFiles: string[];
  logLevel: string;
  shutdownGraceMs: number;
  spoolMaxBytes?: number | undefined;
  /** Long-poll length asked of the operator (seconds). */
  watchTimeoutSeconds: number;
  /** How often live sessions are re-checked against grant expiry when nothing else changes. */
  recheckIntervalMs: number;
}

export const INJECTED_HELP = `agentgate-sidecar injected [options]

Runs as the sidecar the agentgate operator injected into a pod. Settings come
from the environment the injection webhook wrote; a flag overrides its variable.

Options (environment variable in brackets):
  --operator-url URL        the operator's sidecar API, https only       [${INJECTED_ENV.operatorUrl}]
  --operator-ca-file F      the operator's CA (the only trust anchor)     [${INJECTED_ENV.operatorCaFile}]
  --token-file F            the projected service-account token           [${INJECTED_ENV.tokenFile}]
  --spool-dir DIR           durable spool of session events               [${INJECTED_ENV.spoolDir}]
  --admin-port N            /healthz, /readyz, /metrics                   [${INJECTED_ENV.adminPort}]
  --admin-host ADDR         address of the admin port (default 0.0.0.0)   [${INJECTED_ENV.adminHost}]
  --pod-name NAME           this pod                                      [${INJECTED_ENV.podName}]
  --pod-namespace NS                                                      [${INJECTED_ENV.podNamespace}]
  --pod-uid UID                                                           [${INJECTED_ENV.podUid}]
  --service-account NAME                                                  [${INJECTED_ENV.serviceAccount}]
  --connections A,B         Connections named at admission (informational)[${INJECTED_ENV.connections}]
  --jwks-file [ISSUER=]FILE public keys for OIDC tokens (repeatable; default: issuer discovery)
  --shutdown-grace DUR      how long sessions may finish after SIGTERM (default 30s)
  --log-level L             fatal|error|warn|info|debug|trace|silent      [${INJECTED_ENV.logLevel}]
  -h, --help                this help

Approvals are decided with 'kubectl agentgate approve|deny'; the admin port
serves no approvals in this mode.
`;

const FLAGS = {
  'operator-url': { type: 'string' },
  'operator-ca-file': { type: 'string' },
  'token-file': { type: 'string' },
  'spool-dir': { type: 'string' },
  'admin-port': { type: 'string' },
  'admin-host': { type: 'string' },
  'pod-name': { type: 'string' },
  'pod-namespace': { type: 'string' },
  'pod-uid': { type: 'string' },
  'service-account': { type: 'string' },
  connections: { type: 'string' },
  'jwks-file': { type: 'string', multiple: true },
  'shutdown-grace': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function parseInjectedOptions(argv: string[], env: NodeJS.ProcessEnv): InjectedOptions | 'help' {
  let values: Partial<Record<keyof typeof FLAGS, string | boolean | string[]>>;
  try {
    values = parseArgs({ args: argv, options: FLAGS, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) return 'help';
  const problems: string[] = [];
  const get = (flag: keyof typeof FLAGS, envName: string | undefined): string | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return v;
    const e = envName !== undefined ? env[envName] : undefined;
    return e === undefined || e === '' ? undefined : e;
  };
  const required = (flag: keyof typeof FLAGS, envName: string): string => {
    const v = get(flag, envName);
    if (v === undefined) problems.push(`--${flag} (or ${envName}) is required`);
    return v ?? '';
  };

  const operatorUrl = required('operator-url', INJECTED_ENV.operatorUrl);
  if (operatorUrl !== '') {
    try {
      if (new URL(operatorUrl).protocol !== 'https:') problems.push(`--operator-url must be https (got ${JSON.stringify(operatorUrl)})`);
    } catch {
      problems.push(`--operator-url is not a URL (got ${JSON.stringify(operatorUrl)})`);
    }
  }
  const operatorCaFile = required('operator-ca-file', INJECTED_ENV.operatorCaFile);
  const tokenFile = required('token-file', INJECTED_ENV.tokenFile);
  const spoolDir = required('spool-dir', INJECTED_ENV.spoolDir);
  const name = required('pod-name', INJECTED_ENV.podName);
  const namespace = required('pod-namespace', INJECTED_ENV.podNamespace);
  const uid = required('pod-uid', INJECTED_ENV.podUid);
  const serviceAccount = required('service-account', INJECTED_ENV.serviceAccount);
  if (name !== '' && !DNS_SUBDOMAIN.test(name)) problems.push(`--pod-name is not a pod name (got ${JSON.stringify(name)})`);
  if (namespace !== '' && !DNS_LABEL.test(namespace)) problems.push(`--pod-namespace is not a namespace (got ${JSON.stringify(namespace)})`);
  if (serviceAccount !== '' && !DNS_SUBDOMAIN.test(serviceAccount)) problems.push(`--service-account is not a service account name (got ${JSON.stringify(serviceAccount)})`);

  const portText = required('admin-port', INJECTED_ENV.adminPort);
  const adminPort = Number(portText);
  if (portText !== '' && (!/^\d+$/.test(portText) || adminPort > 65535)) problems.push(`--admin-port must be a port number 0..65535 (got ${JSON.stringify(portText)})`);

  const transparent = env[INJECTED_ENV.transparent];
  if (transparent !== undefined && /^(1|true|yes)$/i.test(transparent)) {
    // Fail closed: redirecting the agent's traffic is not implemented, so nothing would be enforced.
    problems.push(`${INJECTED_ENV.transparent}=true: transparent mode is not supported by this sidecar yet; run the operator without --transparent`);
  }

  let shutdownGraceMs = 30_000;
  const grace = get('shutdown-grace', undefined);
  if (grace !== undefined) {
    try {
      shutdownGraceMs = parseDuration(grace);
    } catch (err) {
      problems.push(`--shutdown-grace: ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));

  const jwks = values['jwks-file'];
  return {
    operatorUrl,
    operatorCaFile,
    tokenFile,
    spoolDir,
    adminPort,
    adminHost: get('admin-host', INJECTED_ENV.adminHost) ?? '0.0.0.0',
    pod: { name, namespace, uid, serviceAccount },
    expectedConnections: (get('connections', INJECTED_ENV.connections) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    listenHost: '127.0.0.1',
    jwksFiles: Array.isArray(jwks) ? jwks : [],
    logLevel: get('log-level', INJECTED_ENV.logLevel) ?? 'info',
    shutdownGraceMs,
    watchTimeoutSeconds: 30,
    recheckIntervalMs: 1_000,
  };
}
