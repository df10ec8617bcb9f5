// The real operator process (dist/operator/main.js) serving everything on its
// one HTTPS port, against a real kube-apiserver: pod injection, the sidecar API
// and the AccessRequest admission webhooks. It runs as its own ServiceAccount
// (a TokenRequest token) with the chart's RBAC, behind the chart's webhook
// configurations (registered by URL instead of by Service, as envtest does), so
// a permission or webhook entry the chart lacks fails here. The agent pod is
// created with kubectl and injected by the operator; its token is requested
// with the audience and pod binding the injected pod spec names, and the
// sidecar API is reached at the URL and with the CA that spec gives the sidecar.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { AccessRequest, SessionRecord } from '../core/resources/generated.js';
import { Recorder } from '../core/recording/session-recorder.js';
import { Shipper } from '../core/recording/shipper.js';
import { Spool } from '../core/recording/spool.js';
import { KubeApiError } from '../operator/errors.js';
import { KubeClient } from '../operator/kube/kube-client.js';
import { R } from '../operator/kube/resources.js';
import type { KubeObject } from '../operator/kube/types.js';
import { OperatorClient } from '../sidecar/cluster/operator-client.js';
import { OperatorRecordSink } from '../sidecar/cluster/operator-record-sink.js';
import { startControlPlane, type ControlPlane } from './harness/control-plane.js';
import {
  ROOT, buildOperator, freePort, kubectl, kubectlOk, renderChart, requestPodToken, serviceAccountKubeconfig, settle, startOperator,
  toYamlStream, waitReady, webhooksByUrl, type OperatorProcess,
} from './operator-e2e-support.js';
import { kubectlAgentgate } from './sidecar-api-harness.js';

const OP_NS = 'agentgate-system';
const OP_SA = 'agentgate-operator';
const NS = 'agents';
const PLAIN = 'plain';
const AGENT_SA = `system:serviceaccount:${NS}:agent`;
const PASSWORD = 'orders-s3cret-pw';

type Lease = KubeObject & { spec: { holderIdentity?: string } };
interface Container { name: string; env?: Array<{ name: string; value?: string }>; restartPolicy?: string }
interface Pod {
  metadata: { name: string };
  spec: {
    initContainers?: Container[];
    volumes?: Array<{ name: string; projected?: { sources: Array<{ serviceAccountToken?: { audience?: string } }> } }>;
  };
}

const MANIFESTS = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: agent, namespace: ${NS} }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: agent, namespace: ${PLAIN} }
---
apiVersion: v1
kind: Secret
metadata: { name: orders-db-creds, namespace: ${NS} }
stringData: { username: orders_app, password: ${PASSWORD} }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: orders-db, namespace: ${NS}, labels: { tier: prod } }
spec:
  protocol: postgres
  target: { host: db.internal, port: 5432, database: orders }
  credentials: { secretRef: { name: orders-db-creds } }
  listen: { port: 15432 }
  env: [ { name: PGHOST, value: 127.0.0.1 }, { name: PGPORT, value: "15432" } ]
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: orders, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: [ { serviceAccount: { name: agent } } ]
  connections: [orders-db]
  rules:
    - { name: reads, when: "sql.statements.all(s, s.kind == 'SELECT')", action: allow }
    - { name: deletes, when: "sql.statements.exists(s, s.kind == 'DELETE')", action: review, message: "needs a human" }
  approval: { approvers: { groups: [dba] }, timeout: 10m }
---
# People (and, to show that the webhook and not RBAC refuses it, the agent's
# own service account) get the chart's approver role.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: agentgate-e2e-approvers }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agentgate-approver }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "agentgate:users" }
  - { kind: ServiceAccount, name: agent, namespace: ${NS} }
`;

const agentPod = (name: string, ns: string) => JSON.stringify({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: 'agent' } },
  spec: { serviceAccountName: 'agent', containers: [{ name: 'agent', image: 'registry.local/agent:e2e' }] },
});

describe('e2e: the operator process serves the sidecar API and decides AccessRequests', () => {
  let cp: ControlPlane | undefined;
  let tmp = '';
  let op: OperatorProcess | undefined;
  let opB: OperatorProcess | undefined;
  let admin: KubeClient;
  let transcriptDir = '';
  const users: Record<string, string> = {};
  let operatorUrl = '';
  let caFile = '';
  let tokenFile = '';
  let client: OperatorClient | undefined;
  const C = (): OperatorClient => {
    if (!client) throw new Error('no sidecar-API client');
    return client;
  };
  const kc = (): string => cp?.kubeconfigPath ?? '';
  const cli = (user: string, args: string[]) => kubectlAgentgate({ tmp }, users[user] ?? '', [...args, '-n', NS]);
  const getAr = (name: string) => admin.get<AccessRequest>(R.accessRequests, NS, name);

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agentgate-operator-services-e2e-'));
    let main: string;
    [cp, main] = await Promise.all([startControlPlane(), buildOperator()]);
    if (!existsSync(join(ROOT, 'dist/cli/kubectl-agentgate.js'))) throw new Error('the build did not produce dist/cli/kubectl-agentgate.js');
    const k = new KubeConfig();
    k.loadFromFile(cp.kubeconfigPath);
    admin = new KubeClient(k, 'agentgate-e2e');

    await kubectlOk(kc(), ['apply', '-f', join(ROOT, 'crds')]);
    await kubectlOk(kc(), ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    for (const ns of [OP_NS, NS, PLAIN]) await kubectlOk(kc(), ['create', 'namespace', ns]);
    await kubectlOk(kc(), ['label', 'namespace', NS, 'agentgate.dev/injection=enabled']);

    // The chart's ServiceAccount, RBAC and webhook configurations, as `helm install` would apply them.
    const webhookPort = await freePort();
    const chart = await renderChart(OP_NS, {
      showOnly: ['templates/serviceaccount.yaml', 'templates/rbac.yaml', 'templates/rbac-secrets.yaml', 'templates/rbac-approver.yaml', 'templates/webhooks.yaml'],
    });
    await kubectlOk(kc(), ['apply', '-f', '-'], toYamlStream(webhooksByUrl(chart, `https://127.0.0.1:${webhookPort}`)));
    const opKubeconfig = await serviceAccountKubeconfig(kc(), OP_NS, OP_SA, join(tmp, 'operator.kubeconfig'));

    transcriptDir = join(tmp, 'transcripts');
    // No --manage-webhooks (the chart installed them; the operator patches in its caBundle) and no
    // --access-request-creators (the operator asks the API server who it is).
    op = await startOperator(main, {
      kubeconfig: opKubeconfig, namespace: OP_NS, identity: 'op-a', webhookPort, logDir: tmp, extraArgs: ['--transcript-dir', transcriptDir],
    });
    await waitReady(op);
    const holder = await settle(async () => (await admin.get<Lease>(R.leases, OP_NS, 'agentgate-operator').catch(() => undefined))?.spec.holderIdentity,
      (h) => h === 'op-a');
    if (holder !== 'op-a') throw new Error(`op-a never took the lease:\n${op.logs().slice(-3000)}`);
    // The caBundle is patched in before the API server can call the webhooks.
    await settle(async () => kubectl(kc(), ['get', 'mutatingwebhookconfiguration', 'agentgate', '-o', 'jsonpath={.webhooks[*].clientConfig.caBundle}']),
      (r) => r.stdout.split(' ').filter((c) => c.length > 0).length === 3);

    await kubectlOk(kc(), ['apply', '-f', '-'], MANIFESTS);
    for (const [name, groups] of [['alice', ['dba']], ['mallory', ['devs']]] as const) {
      users[name] = await cp.makeUserKubeconfig(name, [...groups, 'agentgate:users']);
    }
    users.agent = await serviceAccountKubeconfig(kc(), NS, 'agent', join(tmp, 'agent.kubeconfig'));
  }, 60 * 60_000);

  afterAll(async () => {
    client?.close();
    await opB?.stop();
    await op?.stop();
    await cp?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }, 120_000);

  it('serves an injected pod its configuration, for a TokenRequest token bound to it, at the URL and CA its pod spec names', async () => {
    // The operator's own injection webhook writes the sidecar into the pod.
    await kubectlOk(kc(), ['apply', '-f', '-'], agentPod('agent-1', NS));
    const pod = JSON.parse(await kubectlOk(kc(), ['get', 'pod', '-n', NS, 'agent-1', '-o', 'json'])) as Pod;
    const sidecar = pod.spec.initContainers?.find((c) => c.name === 'agentgate-sidecar');
    expect(sidecar?.restartPolicy).toBe('Always');
    const env = Object.fromEntries((sidecar?.env ?? []).map((e) => [e.name, e.value ?? '']));
    operatorUrl = env.AGENTGATE_OPERATOR_URL ?? '';
    expect(operatorUrl).toBe(`https://127.0.0.1:${op?.webhookPort ?? 0}`);
    const audience = pod.spec.volumes?.find((v) => v.name === 'agentgate-token')?.projected?.sources.find((s) => s.serviceAccountToken)?.serviceAccountToken?.audience;
    expect(audience).toBe('agentgate.dev/operator');

    // The CA the sidecar mounts: the ConfigMap the operator published into the pod's namespace.
    const cm = JSON.parse(await kubectlOk(kc(), ['get', 'configmap', '-n', NS, 'agentgate-ca', '-o', 'json'])) as { data: Record<string, string> };
    caFile = join(tmp, 'operator-ca.crt');
    await writeFile(caFile, cm.data['ca.crt'] ?? '');
    tokenFile = await requestPodToken(admin, NS, 'agent-1', { audience: audience ?? '', serviceAccount: 'agent', dir: tmp });
    client = new OperatorClient({ url: operatorUrl, caFile, tokenFile });

    // The policy was applied moments ago: the operator's caches may trail it.
    const cfg = await settle(() => C().getConfig(), (c) => (c?.policies.length ?? 0) > 0);
    if (cfg === null) throw new Error('no configuration');
    expect(cfg.pod).toMatchObject({ namespace: NS, name: 'agent-1', serviceAccount: 'agent', labels: { app: 'agent' } });
    expect(cfg.policies.map((p) => p.metadata.name)).toEqual(['orders']);
    expect(cfg.connections.map((c) => c.name)).toEqual(['orders-db']);
    expect(cfg.connections[0]?.labels).toEqual({ tier: 'prod' });
    expect(JSON.stringify(cfg)).not.toContain(PASSWORD);
    // Unchanged: a short long poll answers "not modified".
    expect(await C().getConfig(cfg.etag, 1)).toBeNull();
    // And the credential for a session comes from the Secret the operator (alone) reads.
    const cred = await C().issueCredential('orders-db', 'sess-cred-1');
    expect(cred).toMatchObject({ kind: 'static', username: 'orders_app', password: PASSWORD });
  });

  it('refuses a pod without the sidecar and a token for another audience', async () => {
    await kubectlOk(kc(), ['apply', '-f', '-'], agentPod('plain-1', PLAIN));
    const plain = new OperatorClient({ url: operatorUrl, caFile, tokenFile: await requestPodToken(admin, PLAIN, 'plain-1', { audience: 'agentgate.dev/operator', serviceAccount: 'agent', dir: tmp }) });
    await expect(plain.getConfig()).rejects.toMatchObject({ status: 403, code: 'AG_API_NO_SIDECAR' });
    plain.close();
    const other = new OperatorClient({ url: operatorUrl, caFile, tokenFile: await requestPodToken(admin, NS, 'agent-1', { audience: 'https://kubernetes.default.svc', serviceAccount: 'agent', dir: tmp }) });
    await expect(other.getConfig()).rejects.toMatchObject({ status: 401, code: 'AG_API_UNAUTHENTICATED' });
    other.close();
  });

  it('creates AccessRequests as itself, and its webhook refuses anyone else creating one', async () => {
    const ar = await C().createAccessRequest({
      policy: 'orders', rule: 'deletes', connection: 'orders-db', protocol: 'postgres', operation: 'DELETE FROM orders WHERE id = 7',
      requester: { sub: AGENT_SA, iss: 'kubernetes' },
    });
    expect(ar.name).toMatch(/^ar-/);
    const stored = await settle(() => getAr(ar.name), (a) => a.status?.phase === 'Pending');
    expect(stored.status?.phase).toBe('Pending');
    expect(stored.spec.requester.pod).toMatchObject({ namespace: NS, name: 'agent-1', serviceAccount: 'agent' });
    // Learnt from a SelfSubjectReview: the operator was given no --access-request-creators.
    expect(op?.logs()).toContain(`"accessRequestCreators":["system:serviceaccount:${OP_NS}:${OP_SA}"]`);

    // A cluster admin may create anything RBAC-wise; the operator's webhook still refuses.
    const forged = { ...stored, metadata: { name: 'forged', namespace: NS }, status: undefined };
    const r = await kubectl(kc(), ['create', '-f', '-'], JSON.stringify(forged));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "accessrequests.agentgate.dev" denied the request');
    expect(r.stderr).toMatch(/AccessRequests are created by the agentgate operator only, not by [\w:-]+ \[AG_APPROVAL_CREATE_FORBIDDEN\]/);
    expect(r.stderr).not.toContain(`not by system:serviceaccount:${OP_NS}:${OP_SA}`);
  });

  it('kubectl agentgate approve: the agent cannot approve its own request, an outsider cannot, an approver can, stamped by the operator', async () => {
    const { name } = await C().createAccessRequest({
      policy: 'orders', rule: 'deletes', connection: 'orders-db', protocol: 'postgres', operation: 'DELETE FROM orders WHERE id = 8',
      requester: { sub: AGENT_SA, iss: 'kubernetes' },
    });
    await settle(() => getAr(name), (a) => a.status?.phase === 'Pending');

    const list = await cli('alice', ['requests']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${name}\\s+Pending\\s+${AGENT_SA}\\s+agent-1\\s+orders-db\\s+orders/deletes`));

    // The agent's own service account (the pod that asked), with RBAC to patch the status.
    const self = await cli('agent', ['approve', name, '--reason', 'trust me']);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain(`self-approval refused: ${AGENT_SA} is the requester of AccessRequest ${name}`);

    const outsider = await cli('mallory', ['approve', name, '--reason', 'looks fine']);
    expect(outsider.code).toBe(1);
    expect(outsider.stderr).toContain(`mallory is not an approver of AccessPolicy orders`);
    expect((await getAr(name)).status?.phase).toBe('Pending');

    const ok = await cli('alice', ['approve', name, '--reason', 'cleanup of a test order']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`accessrequest/${name} approved by alice`);
    expect((await getAr(name)).status).toMatchObject({ phase: 'Approved', decidedBy: 'alice', reason: 'cleanup of a test order', approvals: [{ user: 'alice' }] });
    // The sidecar sees the decision through the API.
    expect((await C().getAccessRequest(name)).phase).toBe('Approved');
  });

  it('stamps the authenticated user: an approval written in another name is recorded as its real author', async () => {
    const { name } = await C().createAccessRequest({
      policy: 'orders', rule: 'deletes', connection: 'orders-db', protocol: 'postgres', operation: 'DELETE FROM orders WHERE id = 9',
      requester: { sub: AGENT_SA },
    });
    const current = await settle(() => getAr(name), (a) => a.status?.phase === 'Pending');
    const k = new KubeConfig();
    k.loadFromFile(users.alice ?? '');
    await new KubeClient(k, 'e2e').patch(R.accessRequests, NS, name, {
      metadata: { resourceVersion: current.metadata.resourceVersion },
      status: { approvals: [{ user: 'bob', reason: 'signed as bob', at: new Date().toISOString() }], phase: 'Approved', decidedBy: 'bob' },
    }, 'merge', 'status');
    const ar = await getAr(name);
    expect(ar.status?.decidedBy).toBe('alice');
    expect(ar.status?.approvals?.map((a) => a.user)).toEqual(['alice']);
  });

  it('stores shipped session events (leader) and keeps the SessionRecord; kubectl agentgate replays them', async () => {
    const spoolDir = join(tmp, 'spool');
    await mkdir(spoolDir);
    const spool = await Spool.open({ dir: spoolDir });
    const rec = await new Recorder({ spool }).startSession({
      identity: { sub: AGENT_SA, iss: 'kubernetes', groups: [] }, pod: { namespace: NS, name: 'agent-1', serviceAccount: 'agent' },
      connection: 'orders-db', protocol: 'postgres',
    });
    await rec.record('statement', { text: 'SELECT * FROM orders', decision: { action: 'allow', policy: `${NS}/orders`, rule: 'reads' }, rows: 2 });
    await rec.end('ok');
    const shipper = new Shipper({ spool, sink: new OperatorRecordSink(C()), initialBackoffMs: 50, idleMs: 100 });
    shipper.start();
    expect(await shipper.flush(60_000)).toBe(true);
    await shipper.stop();
    await spool.close();

    const sid = rec.sessionId;
    const path = join(transcriptDir, NS, `${sid}.jsonl`);
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(3);
    const record = await settle(() => admin.list<SessionRecord>(R.sessionRecords, NS), (l) => l.items.some((r) => r.spec.sessionId === sid));
    expect(record.items.find((r) => r.spec.sessionId === sid)?.spec).toMatchObject({
      connection: 'orders-db', outcome: 'ok', counts: { statements: 1 }, transcript: { store: 'file', path, events: 3 },
    });
    const replay = await cli('alice', ['replay', record.items.find((r) => r.spec.sessionId === sid)?.metadata.name ?? '']);
    expect(replay.stderr).toBe('');
    expect(replay.stdout).toContain('chain OK: 3 events');
  });

  it('a replica that does not lead serves configuration, and refuses event ingest so the sidecar retries', async () => {
    if (!op) throw new Error('no operator');
    const opKubeconfig = join(tmp, 'operator.kubeconfig');
    opB = await startOperator(join(ROOT, 'dist/operator/main.js'), {
      kubeconfig: opKubeconfig, namespace: OP_NS, identity: 'op-b', webhookPort: await freePort(), logDir: tmp, extraArgs: ['--transcript-dir', join(tmp, 'transcripts-b')],
    });
    await waitReady(opB);
    const b = new OperatorClient({ url: `https://127.0.0.1:${opB.webhookPort}`, caFile, tokenFile });
    try {
      expect((await b.getConfig())?.connections.map((c) => c.name)).toEqual(['orders-db']);
      await expect(b.shipEvents('s-b-1', [])).rejects.toMatchObject({ status: 503, code: 'AG_API_NOT_LEADER' });
    } finally {
      b.close();
    }
    const holder = await admin.get<Lease>(R.leases, OP_NS, 'agentgate-operator');
    expect(holder.spec.holderIdentity).toBe('op-a');
  });

  it('ran with the chart\'s RBAC alone, and never logged a token or a secret', async () => {
    const logs = `${op?.logs() ?? ''}${opB?.logs() ?? ''}`;
    expect(logs).not.toMatch(/\b403 Forbidden\b/); // how a refused API call reads in the log (KubeApiError)
    expect(logs).not.toContain(PASSWORD);
    expect(logs).not.toContain((await readFile(tokenFile, 'utf8')).trim());
  });

  it('a direct status patch past the plugin cannot decide a decided request', async () => {
    const decided = (await admin.list<AccessRequest>(R.accessRequests, NS)).items.find((a) => a.status?.phase === 'Approved');
    if (!decided) throw new Error('no decided request');
    const k = new KubeConfig();
    k.loadFromFile(users.alice ?? '');
    const err = await new KubeClient(k, 'e2e').patch(R.accessRequests, NS, decided.metadata.name ?? '', { status: { phase: 'Denied', reason: 'x' } }, 'merge', 'status')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).message).toContain('a decided request cannot change');
  });
});
