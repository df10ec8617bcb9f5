// The operator against a real kube-apiserver + etcd: CRDs applied, the
// operator running as a local process with webhooks registered by URL and
// caBundle (as envtest does), driven with the real kubectl.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './harness/control-plane.js';
import {
  ROOT, buildOperator, freePort, httpGet, kubectl, kubectlOk, settle, startOperator, waitReady, type OperatorProcess,
} from './operator-e2e-support.js';

const OP_NS = 'agentgate-system';
const NS = 'agents';
const PLAIN = 'plain';
const SIDECAR_UID = 64242;

let cp: ControlPlane;
let kc = '';
let main = '';
let logDir = '';
let webhookPort = 0;
let opA: OperatorProcess | undefined;
let opB: OperatorProcess | undefined;

interface Obj { metadata: { name: string; annotations?: Record<string, string> }; spec: Record<string, unknown>; status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }>; phase?: string; observedGeneration?: number } }
interface Container { name: string; env?: Array<{ name: string; value?: string }>; volumeMounts?: Array<{ name: string }>; restartPolicy?: string; securityContext?: Record<string, unknown>; startupProbe?: { httpGet?: { path?: string } } }
interface Pod { metadata: { name: string; annotations?: Record<string, string> }; spec: { containers: Container[]; initContainers?: Container[]; volumes?: Array<{ name: string; projected?: unknown; configMap?: unknown; emptyDir?: unknown }> } }

const getJson = async <T>(args: string[]): Promise<T | undefined> => {
  const r = await kubectl(kc, ['get', '-o', 'json', ...args]);
  return r.code === 0 ? (JSON.parse(r.stdout) as T) : undefined;
};
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
const apply = (yaml: string) => kubectl(kc, ['apply', '-f', '-'], yaml);
const leaseHolder = async (): Promise<{ holder: string; renew: string }> => {
  const l = await getJson<{ spec: { holderIdentity?: string; renewTime?: string } }>(['lease', '-n', OP_NS, 'agentgate-operator']);
  return { holder: l?.spec.holderIdentity ?? '', renew: l?.spec.renewTime ?? '' };
};
const waitReason = (kind: string, name: string, reason: string) =>
  settle(() => getJson<Obj>([kind, '-n', NS, name]), (o) => ready(o)?.reason === reason);

const policyYaml = (name: string, when: string, connections = ['orders-db']) => `
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: [ { serviceAccount: { name: agent } } ]
  connections: ${JSON.stringify(connections)}
  rules:
    - name: no-drop
      when: '${when}'
      action: deny
`;
const connectionYaml = `
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: orders-db, namespace: ${NS} }
spec:
  protocol: postgres
  target: { host: db.internal, port: 5432, database: orders }
  credentials: { secretRef: { name: orders-db-creds } }
  listen: { port: 15432 }
  env: [ { name: PGHOST, value: 127.0.0.1 }, { name: PGPORT, value: "15432" } ]
`;
const podYaml = (name: string, ns: string, spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}) => JSON.stringify({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: 'agent' }, ...meta },
  spec: { serviceAccountName: 'agent', containers: [{ name: 'agent', image: 'agent:1', env: [{ name: 'PGPORT', value: '5432' }] }], ...spec },
});

beforeAll(async () => {
  logDir = await mkdtemp(join(tmpdir(), 'agentgate-operator-e2e-'));
  [cp, main] = await Promise.all([startControlPlane(), buildOperator()]);
  kc = cp.kubeconfigPath;
  await kubectlOk(kc, ['apply', '-f', join(ROOT, 'crds')]);
  await kubectlOk(kc, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  for (const ns of [OP_NS, NS, PLAIN]) await kubectlOk(kc, ['create', 'namespace', ns]);
  await kubectlOk(kc, ['label', 'namespace', NS, 'agentgate.dev/injection=enabled']);
  webhookPort = await freePort();
  opA = await startOperator(main, { kubeconfig: kc, namespace: OP_NS, identity: 'op-a', webhookPort, logDir, extraArgs: ['--manage-webhooks', '--session-record-ttl', '1h'] });
  await waitReady(opA);
  const lease = await settle(leaseHolder, (l) => l.holder === 'op-a');
  if (lease.holder !== 'op-a') throw new Error(`op-a never took the lease:\n${opA.logs().slice(-3000)}`);
}, 600_000);

afterAll(async () => {
  await opB?.stop();
  await opA?.stop();
  await cp?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

describe('CRDs', () => {
  it('are accepted with structural schemas', async () => {
    const crd = await getJson<{ status: { conditions: Array<{ type: string; status: string }> } }>(['crd', 'accesspolicies.agentgate.dev']);
    const conds = Object.fromEntries((crd?.status.conditions ?? []).map((c) => [c.type, c.status]));
    expect(conds.Established).toBe('True');
    expect(conds.NonStructuralSchema).toBeUndefined();
  });

  it('let the API server refuse a bad manifest', async () => {
    const r = await apply(connectionYaml.replace('name: orders-db,', 'name: bad-port,').replace('port: 15432', 'port: 80'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.listen\.port: Invalid value: 80: spec\.listen\.port in body should be greater than or equal to 1024/);
  });
});

describe('AccessPolicy admission', () => {
  it('refuses a policy whose CEL does not compile, with the field, rule, error and position', async () => {
    const r = await apply(policyYaml('broken', 'sql.statements.exists(s, s.kind == "DROP"'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "accesspolicies.agentgate.dev" denied the request');
    expect(r.stderr).toMatch(/spec\.rules\[0\]\.when \(rule "no-drop"\): .+ at line 1, column \d+/);
    expect(r.stderr).toContain('sql.statements.exists(s, s.kind == "DROP"');
    expect(await getJson(['accesspolicy', '-n', NS, 'broken'])).toBeUndefined();
  });
});

describe('status conditions', () => {
  it('follow the referenced Connection and Secret as they appear and disappear', async () => {
    expect((await apply(policyYaml('orders', 'sql.statements.exists(s, s.kind == "DROP")'))).code).toBe(0);
    let p = await waitReason('accesspolicy', 'orders', 'ConnectionNotFound');
    expect(ready(p)).toMatchObject({ status: 'False', reason: 'ConnectionNotFound' });
    expect(p?.status?.observedGeneration).toBe(1);

    expect((await apply(connectionYaml)).code).toBe(0);
    p = await waitReason('accesspolicy', 'orders', 'Valid');
    expect(ready(p)).toMatchObject({ status: 'True', reason: 'Valid' });
    let c = await waitReason('connection', 'orders-db', 'SecretNotFound');
    expect(ready(c)?.message).toContain(`Secret ${NS}/orders-db-creds`);

    await kubectlOk(kc, ['-n', NS, 'create', 'secret', 'generic', 'orders-db-creds', '--from-literal=username=app']);
    c = await waitReason('connection', 'orders-db', 'SecretKeyMissing');
    expect(ready(c)?.message).toContain('has no key "password"');

    await kubectlOk(kc, ['-n', NS, 'patch', 'secret', 'orders-db-creds', '-p', '{"stringData":{"password":"s3cret"}}']);
    c = await waitReason('connection', 'orders-db', 'Valid');
    expect(ready(c)?.status).toBe('True');

    await kubectlOk(kc, ['-n', NS, 'delete', 'secret', 'orders-db-creds']);
    c = await waitReason('connection', 'orders-db', 'SecretNotFound');
    expect(ready(c)?.status).toBe('False');

    await kubectlOk(kc, ['-n', NS, 'delete', 'connection', 'orders-db']);
    p = await waitReason('accesspolicy', 'orders', 'ConnectionNotFound');
    expect(ready(p)?.status).toBe('False');

    const events = await kubectlOk(kc, ['-n', NS, 'get', 'events.events.k8s.io', '-o', 'json']);
    const reasons = (JSON.parse(events) as { items: Array<{ reason: string; regarding: { name: string } }> }).items.map((e) => `${e.regarding.name}:${e.reason}`);
    expect(reasons).toEqual(expect.arrayContaining(['orders:ConnectionNotFound', 'orders:Valid', 'orders-db:SecretNotFound', 'orders-db:Valid']));
    // Put things back for the injection tests.
    expect((await apply(connectionYaml)).code).toBe(0);
    await waitReason('accesspolicy', 'orders', 'Valid');
  });

  it('expires a Pending AccessRequest past spec.expiresAt', async () => {
    const ar = {
      apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessRequest', metadata: { name: 'drop-table', namespace: NS },
      spec: {
        requester: { sub: 'system:serviceaccount:agents:agent', pod: { namespace: NS, name: 'agent' } }, policy: 'orders', rule: 'no-drop',
        connection: 'orders-db', protocol: 'postgres', operation: 'DROP TABLE t', scope: 'once', expiresAt: new Date(Date.now() - 60_000).toISOString(),
      },
    };
    expect((await apply(JSON.stringify(ar))).code).toBe(0);
    const got = await settle(() => getJson<Obj>(['accessrequest', '-n', NS, 'drop-table']), (o) => o?.status?.phase === 'Expired');
    expect(got?.status?.phase).toBe('Expired');
    expect(ready(got)?.reason).toBe('Expired');
  });

  it('deletes SessionRecords older than --session-record-ttl and keeps recent ones', async () => {
    const rec = (name: string, endedAt: Date) => JSON.stringify({
      apiVersion: 'agentgate.dev/v1alpha1', kind: 'SessionRecord', metadata: { name, namespace: NS },
      spec: {
        sessionId: name, identity: { sub: 'agent' }, pod: { namespace: NS, name: 'agent' }, connection: 'orders-db', protocol: 'postgres',
        startedAt: new Date(endedAt.getTime() - 60_000).toISOString(), endedAt: endedAt.toISOString(), outcome: 'ok',
      },
    });
    expect((await apply(rec('old-session', new Date(Date.now() - 2 * 3_600_000)))).stderr).toBe('');
    expect((await apply(rec('new-session', new Date()))).stderr).toBe('');
    const old = await settle(() => getJson(['sessionrecord', '-n', NS, 'old-session']), (o) => o === undefined);
    expect(old).toBeUndefined();
    expect(await getJson(['sessionrecord', '-n', NS, 'new-session'])).toBeDefined();
  });
});

describe('pod injection', () => {
  it('injects the sidecar, volumes and env exactly once into a pod of an opted-in namespace', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], podYaml('agent-1', NS));
    const pod = await getJson<Pod>(['pod', '-n', NS, 'agent-1']);
    const init = pod?.spec.initContainers ?? [];
    expect(init.filter((c) => c.name === 'agentgate-sidecar')).toHaveLength(1);
    const sc = init[0];
    expect(sc?.name).toBe('agentgate-sidecar');
    expect(sc?.restartPolicy).toBe('Always');
    expect(sc?.startupProbe?.httpGet?.path).toBe('/readyz');
    expect(sc?.securityContext).toMatchObject({ runAsUser: SIDECAR_UID, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(sc?.env?.find((e) => e.name === 'AGENTGATE_CONNECTIONS')?.value).toBe('orders-db');
    const vols = (pod?.spec.volumes ?? []).map((v) => v.name);
    expect(vols.filter((v) => v.startsWith('agentgate-')).sort()).toEqual(['agentgate-ca', 'agentgate-spool', 'agentgate-token']);
    const agent = pod?.spec.containers[0];
    expect(agent?.env).toEqual([{ name: 'PGPORT', value: '5432' }, { name: 'PGHOST', value: '127.0.0.1' }]); // the user's PGPORT kept
    expect((agent?.volumeMounts ?? []).filter((m) => m.name.startsWith('agentgate-'))).toEqual([]);
    expect(pod?.metadata.annotations?.['agentgate.dev/connections']).toBe('orders-db');
    // The CA the sidecar mounts was published into the namespace.
    const cm = await getJson<{ data: Record<string, string> }>(['configmap', '-n', NS, 'agentgate-ca']);
    expect(cm?.data['ca.crt']).toContain('BEGIN CERTIFICATE');
  });

  it('leaves a re-submitted injected pod as it is (idempotent)', async () => {
    const pod = await getJson<Pod & { metadata: Record<string, unknown>; status?: unknown }>(['pod', '-n', NS, 'agent-1']);
    if (!pod) throw new Error('no pod');
    const again = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent-1-again', namespace: NS, labels: { app: 'agent' }, annotations: pod.metadata.annotations }, spec: pod.spec };
    await kubectlOk(kc, ['create', '-f', '-'], JSON.stringify(again));
    const got = await getJson<Pod>(['pod', '-n', NS, 'agent-1-again']);
    expect(got?.spec.initContainers?.filter((c) => c.name === 'agentgate-sidecar')).toHaveLength(1);
    expect(got?.spec.volumes?.filter((v) => v.name === 'agentgate-token')).toHaveLength(1);
    expect(got?.spec.containers[0]?.env).toEqual(pod.spec.containers[0]?.env);
  });

  it('does not touch pods elsewhere, nor pods that opt out', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], podYaml('p', PLAIN));
    expect((await getJson<Pod>(['pod', '-n', PLAIN, 'p']))?.spec.initContainers).toBeUndefined();
    await kubectlOk(kc, ['apply', '-f', '-'], podYaml('opted-out', NS, {}, { annotations: { 'agentgate.dev/inject': 'false' } }));
    expect((await getJson<Pod>(['pod', '-n', NS, 'opted-out']))?.spec.initContainers).toBeUndefined();
  });

  it('injects a pod that opts in by label in a namespace that did not', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], podYaml('labelled', PLAIN, {}, { labels: { app: 'agent', 'agentgate.dev/inject': 'true' } }));
    const pod = await getJson<Pod>(['pod', '-n', PLAIN, 'labelled']);
    expect(pod?.spec.initContainers?.map((c) => c.name)).toEqual(['agentgate-sidecar']);
    // No policy in this namespace selects it: no connections, no env.
    expect(pod?.spec.containers[0]?.env).toEqual([{ name: 'PGPORT', value: '5432' }]);
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['hostNetwork', { hostNetwork: true }, /spec\.hostNetwork: true puts the pod in the node's network namespace/],
    ['shareProcessNamespace', { shareProcessNamespace: true }, /spec\.shareProcessNamespace: true lets the agent's containers see the sidecar's processes/],
    ['a container running as the sidecar user', { containers: [{ name: 'agent', image: 'a', securityContext: { runAsUser: SIDECAR_UID } }] },
      /spec\.containers\[name=agent\]\.securityContext\.runAsUser: 64242 is the sidecar's user/],
    ['the pod running as the sidecar user', { securityContext: { runAsUser: SIDECAR_UID } }, /spec\.securityContext\.runAsUser: 64242 is the sidecar's user and containers agent inherit it/],
    ['a container mounting the sidecar token volume', {
      volumes: [{ name: 'agentgate-token', emptyDir: {} }],
      containers: [{ name: 'agent', image: 'a', volumeMounts: [{ name: 'agentgate-token', mountPath: '/t' }] }],
    }, /spec\.containers\[name=agent\]\.volumeMounts\[name=agentgate-token\]: the volume agentgate-token belongs to the sidecar/],
    ['its own token for the operator audience', {
      volumes: [{ name: 'steal', projected: { sources: [{ serviceAccountToken: { audience: 'agentgate.dev/operator', path: 't' } }] } }],
    }, /spec\.volumes\[name=steal\]\.projected\.sources\[0\]\.serviceAccountToken\.audience/],
  ];
  it.each(refused)('refuses a pod with %s, saying which field and why', async (_n, spec, want) => {
    const r = await kubectl(kc, ['create', '-f', '-'], podYaml(`refused-${Math.random().toString(36).slice(2, 8)}`, NS, spec));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "namespace.inject.agentgate.dev" denied the request: agentgate: pod refused:');
    expect(r.stderr).toMatch(want);
  });
});

describe('operations', () => {
  it('exposes metrics', async () => {
    const m = await httpGet(opA?.metricsPort ?? 0, '/metrics');
    expect(m.body).toMatch(/agentgate_injections_total\{result="injected"\} [1-9]/);
    expect(m.body).toMatch(/agentgate_injections_total\{result="refused"\} [1-9]/);
    expect(m.body).toMatch(/agentgate_reconcile_total\{controller="accesspolicy",result="success"\} [1-9]/);
    expect(m.body).toMatch(/agentgate_admission_duration_seconds_count\{webhook="pods"\} [1-9]/);
  });

  it('never logs secret values', () => {
    expect(opA?.logs()).not.toContain('s3cret');
  });
});

describe('leader election and restarts', () => {
  it('keeps a second replica passive while the leader renews', async () => {
    if (!opA) throw new Error('no operator');
    opB = await startOperator(main, { kubeconfig: kc, namespace: OP_NS, identity: 'op-b', webhookPort: await freePort(), logDir });
    await waitReady(opB);
    // Watch the leader renew twice after B is up: B saw a live holder and stayed out.
    const first = await leaseHolder();
    const second = await settle(leaseHolder, (l) => l.renew !== first.renew);
    const third = await settle(leaseHolder, (l) => l.renew !== second.renew);
    expect([first.holder, second.holder, third.holder]).toEqual(['op-a', 'op-a', 'op-a']);
    expect(third.renew).not.toBe(second.renew);
    const mb = await httpGet(opB.metricsPort, '/metrics');
    expect(mb.body).not.toMatch(/^agentgate_reconcile_total\{/m);
    expect(mb.body).not.toMatch(/^agentgate_leader_transitions_total\{event="started"\}/m);
  });

  it('hands over on a graceful stop, and the restarted operator serves again', async () => {
    if (!opA || !opB) throw new Error('no operators');
    const secretBefore = await getJson<{ data: Record<string, string> }>(['secret', '-n', OP_NS, 'agentgate-webhook-tls']);
    expect(await opA.stop()).toBe(0);
    expect(opA.logs()).toContain('released the lease');
    const lease = await settle(leaseHolder, (l) => l.holder === 'op-b');
    expect(lease.holder).toBe('op-b');

    // Restart op-a on the same webhook port (the webhooks are registered by its URL): it reuses
    // the certificate and serves the webhooks again, while op-b leads.
    opA = await startOperator(main, { kubeconfig: kc, namespace: OP_NS, identity: 'op-a', webhookPort: opA.webhookPort, logDir, extraArgs: ['--manage-webhooks'] });
    await waitReady(opA);
    const secretAfter = await getJson<{ data: Record<string, string> }>(['secret', '-n', OP_NS, 'agentgate-webhook-tls']);
    expect(secretAfter?.data['tls.crt']).toBe(secretBefore?.data['tls.crt']);

    // The new leader reconciles: a new policy gets its status.
    expect((await apply(policyYaml('after-handover', 'true'))).stderr).toBe('');
    expect(ready(await waitReason('accesspolicy', 'after-handover', 'Valid'))?.status).toBe('True');
    await kubectlOk(kc, ['apply', '-f', '-'], podYaml('after-restart', NS));
    expect((await getJson<Pod>(['pod', '-n', NS, 'after-restart']))?.spec.initContainers?.map((c) => c.name)).toEqual(['agentgate-sidecar']);
    expect((await leaseHolder()).holder).toBe('op-b'); // the restarted replica waits its turn
  });
});
