// Command-line flags and environment variables → validated operator options,
// once, at start (each flag also reads AGENTGATE_<FLAG_IN_SNAKE_CASE>). Errors
// name the flag and the value's problem.
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { parseDuration } from '../../core/policy/duration.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_SIDECAR_UID } from '../injection/injection-config.js';

export interface OperatorOptions {
  kubeconfig: string | undefined;
  namespace: string;
  bindAddress: string;
  webhookPort: number;
  /** Set: register webhooks by URL https://<host>:<port> (out of cluster). Unset: by Service. */
  webhookHost: string | undefined;
  serviceName: string;
  metricsPort: number;
  healthPort: number;
  leaderElect: boolean;
  leaderElectionId: string;
  identity: string;
  manageWebhooks: boolean;
  sidecarImage: string;
  sidecarUid: number;
  tokenAudience: string;
  operatorUrl: string;
  transparent: boolean;
  certSecret: string;
  caConfigMap: string;
  certCheckIntervalMs: number;
  sessionRecordTtlMs: number;
  resyncPeriodMs: number;
  workers: number;
  logLevel: string;
  /** Directory of the filesystem transcript store (a volume in cluster). */
  transcriptDir: string;
  /** Usernames allowed to create AccessRequests; undefined: the operator's own user, asked of the API server at start. */
  accessRequestCreators: string[] | undefined;
  /** How often the leader drops expired just-in-time roles. */
  jitSweepIntervalMs: number;
}

const FLAGS = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  'bind-address': { type: 'string' },
  'webhook-port': { type: 'string' },
  'webhook-host': { type: 'string' },
  'service-name': { type: 'string' },
  'metrics-port': { type: 'string' },
  'health-port': { type: 'string' },
  'leader-elect': { type: 'boolean' },
  'leader-election-id': { type: 'string' },
  identity: { type: 'string' },
  'manage-webhooks': { type: 'boolean' },
  'sidecar-image': { type: 'string' },
  'sidecar-uid': { type: 'string' },
  'token-audience': { type: 'string' },
  'operator-url': { type: 'string' },
  transparent: { type: 'boolean' },
  'cert-secret': { type: 'string' },
  'ca-configmap': { type: 'string' },
  'cert-check-interval': { type: 'string' },
  'session-record-ttl': { type: 'string' },
  'resync-period': { type: 'string' },
  workers: { type: 'string' },
  'log-level': { type: 'string' },
  'transcript-dir': { type: 'string' },
  'access-request-creators': { type: 'string' },
  'jit-sweep-interval': { type: 'string' },
  help: { type: 'boolean' },
} as const;

export const DEFAULT_TRANSCRIPT_DIR = '/var/lib/agentgate/transcripts';

export const USAGE = `agentgate-operator [flags]
  --kubeconfig PATH            kubeconfig (default: in-cluster, else $KUBECONFIG / ~/.kube/config)
  --namespace NS               the operator's own namespace (default: in-cluster namespace, else agentgate-system)
  --bind-address ADDR          address the servers listen on (default 0.0.0.0)
  --webhook-port N             HTTPS admission port (default 9443)
  --webhook-host HOST          register webhooks by URL https://HOST:PORT (out of cluster); default: by Service
  --service-name NAME          the operator's Service (default agentgate-operator)
  --metrics-port N             /metrics port (default 8080; 0 = any)
  --health-port N              /healthz, /readyz port (default 8081; 0 = any)
  --leader-elect               run controllers only while holding the Lease (default false)
  --leader-election-id NAME    Lease name (default agentgate-operator)
  --identity ID                leader-election identity (default hostname_random)
  --manage-webhooks            create/update the webhook configurations (default false: only patch caBundle)
  --sidecar-image IMAGE        image of the injected sidecar (required)
  --sidecar-uid N              user id of the sidecar (default ${DEFAULT_SIDECAR_UID})
  --token-audience AUD         audience of the sidecar's projected token (default agentgate.dev/operator)
  --operator-url URL           where sidecars reach the operator (default https://SERVICE.NS.svc:WEBHOOK_PORT)
  --transparent                transparent mode: refuse agent containers with NET_ADMIN / NET_RAW
  --cert-secret NAME           Secret holding the CA and serving certificate (default agentgate-webhook-tls)
  --ca-configmap NAME          ConfigMap with the CA that sidecars mount (default agentgate-ca)
  --cert-check-interval DUR    how often to check certificate expiry (default 1h)
  --session-record-ttl DUR     delete SessionRecords older than this (default 720h)
  --resync-period DUR          periodic full reconcile (default 10m)
  --workers N                  workers per controller (default 2)
  --log-level LEVEL            trace|debug|info|warn|error (default info)
  --transcript-dir DIR         where session transcripts are stored (default ${DEFAULT_TRANSCRIPT_DIR})
  --access-request-creators U  comma-separated users allowed to create AccessRequests
                               (default: the operator's own user, from a SelfSubjectReview at start)
  --jit-sweep-interval DUR     how often the leader drops expired just-in-time roles (default 1m)
Every flag can also be set as AGENTGATE_<FLAG> (e.g. AGENTGATE_WEBHOOK_PORT).`;

type Raw = Partial<Record<keyof typeof FLAGS, string | boolean>>;

function port(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`--${flag}: ${JSON.stringify(v)} is not a port (0..65535)`);
  return n;
}
function duration(flag: string, v: string | undefined, dflt: string): number {
  try {
    const ms = parseDuration(v ?? dflt);
    if (ms <= 0) throw new Error('must be positive');
    return ms;
  } catch (err) {
    throw new ConfigError(`--${flag}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
function bool(v: string | boolean | undefined, dflt: boolean): boolean {
  if (typeof v === 'boolean') return v;
  if (v === undefined) return dflt;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no)$/i.test(v)) return false;
  throw new ConfigError(`${JSON.stringify(v)} is not a boolean`);
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv, inClusterNamespace?: string): OperatorOptions | 'help' {
  let values: Raw;
  try {
    values = parseArgs({ args: argv, options: FLAGS, allowPositionals: false, strict: true }).values as Raw;
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  const get = (k: keyof typeof FLAGS): string | undefined => {
    const v = values[k];
    if (typeof v === 'string') return v;
    if (typeof v === 'boolean') return String(v);
    return env[`AGENTGATE_${k.toUpperCase().replace(/-/g, '_')}`];
  };

  const namespace = get('namespace') ?? env.POD_NAMESPACE ?? inClusterNamespace ?? 'agentgate-system';
  const webhookPort = port('webhook-port', get('webhook-port'), 9443);
  if (webhookPort === 0) throw new ConfigError('--webhook-port: must be fixed (it is registered with the API server)');
  const serviceName = get('service-name') ?? 'agentgate-operator';
  const webhookHost = get('webhook-host');
  if (webhookHost !== undefined && webhookHost === '') throw new ConfigError('--webhook-host: empty');
  const sidecarImage = get('sidecar-image');
  if (!sidecarImage) throw new ConfigError('--sidecar-image: required (the image of the injected sidecar)');
  const uid = Number(get('sidecar-uid') ?? DEFAULT_SIDECAR_UID);
  if (!Number.isInteger(uid) || uid < 1 || uid > 2_147_483_647) throw new ConfigError('--sidecar-uid: a non-root user id (1..2147483647)');
  const workers = Number(get('workers') ?? 2);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError('--workers: 1..64');
  const logLevel = get('log-level') ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(logLevel)) throw new ConfigError(`--log-level: unknown level ${JSON.stringify(logLevel)}`);
  const transcriptDir = get('transcript-dir') ?? DEFAULT_TRANSCRIPT_DIR;
  if (transcriptDir === '') throw new ConfigError('--transcript-dir: empty');
  const creatorsRaw = get('access-request-creators');
  let accessRequestCreators: string[] | undefined;
  if (creatorsRaw !== undefined) {
    accessRequestCreators = creatorsRaw.split(',').map((u) => u.trim()).filter((u) => u !== '');
    // An empty list would refuse every creation, the operator's own included: say so instead.
    if (accessRequestCreators.length === 0) throw new ConfigError('--access-request-creators: no user named (omit the flag to use the operator\'s own user)');
  }
  const operatorUrl = get('operator-url') ?? (webhookHost
    ? `https://${isIP(webhookHost) === 6 ? `[${webhookHost}]` : webhookHost}:${webhookPort}`
    : `https://${serviceName}.${namespace}.svc:${webhookPort}`);

  return {
    kubeconfig: get('kubeconfig') ?? undefined,
    namespace,
    bindAddress: get('bind-address') ?? '0.0.0.0',
    webhookPort,
    webhookHost,
    serviceName,
    metricsPort: port('metrics-port', get('metrics-port'), 8080),
    healthPort: port('health-port', get('health-port'), 8081),
    leaderElect: bool(values['leader-elect'] ?? get('leader-elect'), false),
    leaderElectionId: get('leader-election-id') ?? 'agentgate-operator',
    identity: get('identity') ?? `${hostname()}_${randomBytes(4).toString('hex')}`,
    manageWebhooks: bool(values['manage-webhooks'] ?? get('manage-webhooks'), false),
    sidecarImage,
    sidecarUid: uid,
    tokenAudience: get('token-audience') ?? 'agentgate.dev/operator',
    operatorUrl,
    transparent: bool(values.transparent ?? get('transparent'), false),
    certSecret: get('cert-secret') ?? 'agentgate-webhook-tls',
    caConfigMap: get('ca-configmap') ?? 'agentgate-ca',
    certCheckIntervalMs: duration('cert-check-interval', get('cert-check-interval'), '1h'),
    sessionRecordTtlMs: duration('session-record-ttl', get('session-record-ttl'), '720h'),
    resyncPeriodMs: duration('resync-period', get('resync-period'), '10m'),
    workers,
    logLevel,
    transcriptDir,
    accessRequestCreators,
    jitSweepIntervalMs: duration('jit-sweep-interval', get('jit-sweep-interval'), '1m'),
  };
}
