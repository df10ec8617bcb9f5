// Issue 5, end to end: a real kube-apiserver with the CRDs, the real operator
// process (dist/operator/main.js: injection, AccessRequest admission, the
// sidecar API, transcripts, SessionRecords), a real PostgreSQL behind a
// just-in-time credential, and an agent pod created in an opted-in namespace
// whose injected sidecar is started exactly as the pod spec says
// (e2e/harness/agent-pod.ts: its args and env, a TokenRequest token bound to
// the pod). The agent authenticates with a JWT from a local OIDC issuer
// (discovery and JWKS over HTTPS); people decide with `kubectl agentgate`.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { stringify } from 'yaml';
import type { RecordEvent } from '../core/recording/events.js';
import type { SessionRecord } from '../core/resources/generated.js';
import { KubeClient } from '../operator/kube/kube-client.js';
import { R } from '../operator/kube/resources.js';
import { startPostgres, type PgServer } from '../testkit/postgres.js';
import { runCommand, type RunResult } from '../testkit/processes.js';
import { freePort as freeHostPort } from '../testkit/ports.js';
import { startAgentPod, type AgentPod, type PodObject } from './harness/agent-pod.js';
import { startOidcIssuer, type OidcIssuer } from './harness/oidc-issuer.js';
import { startControlPlane, type ControlPlane } from './harness/control-plane.js';
import {
  ROOT, buildOperator, freePort, kubectl, kubectlOk, settle, startOperator, waitReady, type OperatorProcess,
} from './operator-e2e-support.js';

const OP_NS = 'agentgate-system';
const NS = 'shop';
const AGENT = 'agent-7@example.com';
const AUDIENCE = 'agentgate';
const SSN = '123-45-6789';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function manifests(o: { pgPort: number; caPem: string; adminPassword: string; listenPort: number; issuer: string }): string {
  const subjects = `[ { oidc: { issuer: "${o.issuer}", audience: ${AUDIENCE}, users: ["${AGENT}"] } } ]`;
  return `
apiVersion: v1
kind: ServiceAccount
metadata: { name: agent, namespace: ${NS} }
---
apiVersion: v1
kind: Secret
metadata: { name: shop-db-admin, namespace: ${NS} }
data: { username: ${b64('jit_admin')}, password: ${b64(o.adminPassword)} }
---
apiVersion: v1
kind: Secret
metadata: { name: shop-db-ca, namespace: ${NS} }
data: { ca.crt: ${b64(o.caPem)} }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: shop-db, namespace: ${NS}, labels: { tier: prod } }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${o.pgPort}, database: shop }
  tls: { mode: verify-full, caSecretRef: { name: shop-db-ca }, serverName: localhost }
  credentials: { jit: { postgres: { adminSecretRef: { name: shop-db-admin }, grantedRoles: [shop_reader], validFor: 15m } } }
  listen: { port: ${o.listenPort} }
  env:
    - { name: PGHOST, value: 127.0.0.1 }
    - { name: PGPORT, value: "${o.listenPort}" }
    - { name: PGDATABASE, value: shop }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: agents, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: ${subjects}
  connections: [shop-db]
  rules:
    - { name: reads, when: "sql.statements.all(s, s.kind == 'SELECT')", action: allow }
    - { name: deletes, when: "sql.statements.exists(s, s.kind == 'DELETE')", action: review, message: "deletes need a human" }
    - { name: no-drop, when: "sql.statements.exists(s, s.kind == 'DROP')", action: deny, message: "tables are never dropped by agents" }
  masking:
    columns: [ { table: customers, column: ssn, strategy: redact } ]
  approval: { approvers: { users: [alice] }, timeout: 2m, scope: once }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: agents-quick, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: ${subjects}
  connections: [shop-db]
  rules:
    - { name: truncates, when: "sql.statements.exists(s, s.kind == 'TRUNCATE')", action: review, message: "truncation needs a human, quickly" }
  approval: { approvers: { users: [alice] }, timeout: 3s }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: maintenance, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: ${subjects}
  connections: [shop-db]
  rules:
    - { name: updates, when: "sql.statements.exists(s, s.kind == 'UPDATE')", action: review, message: "updates open a short window" }
  approval: { approvers: { users: [alice] }, timeout: 2m, scope: grant, grantDuration: 10s }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: agentgate-e2e-approver }
rules:
  - { apiGroups: [agentgate.dev], resources: [accessrequests, sessionrecords], verbs: [get, list, watch] }
  - { apiGroups: [agentgate.dev], resources: [accessrequests/status], verbs: [get, patch, update] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: agentgate-e2e-approver }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agentgate-e2e-approver }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "agentgate:users" }
  # The agent's own service account may patch too: then only the operator's webhook stands between it and self-approval.
  - { kind: ServiceAccount, name: agent, namespace: ${NS} }
`;
}

const POD = JSON.stringify({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'agent-7', namespace: NS, labels: { app: 'agent' } },
  spec: { serviceAccountName: 'agent', containers: [{ name: 'agent', image: 'registry.local/agent:e2e', command: ['sleep', 'infinity'] }] },
});

describe('e2e: closing the loop (issue 5)', () => {
  let tmp = '';
  let cp: ControlPlane | undefined;
  let main = '';
  let admin: KubeClient;
  let db: PgServer | undefined;
  let issuer: OidcIssuer | undefined;
  let op: OperatorProcess | undefined;
  let webhookPort = 0;
  let transcriptDir = '';
  let pod: AgentPod | undefined;
  let agentToken = '';
  const users: Record<string, string> = {};
  const clients: pg.Client[] = [];
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;

  const CP = (): ControlPlane => {
    if (!cp) throw new Error('control plane not started');
    return cp;
  };
  const DB = (): PgServer => {
    if (!db) throw new Error('postgres not started');
    return db;
  };
  const ISS = (): OidcIssuer => {
    if (!issuer) throw new Error('issuer not started');
    return issuer;
  };
  const POD_ = (): AgentPod => {
    if (!pod) throw new Error('agent pod not started');
    return pod;
  };

  const operatorArgs = (): string[] => [
    '--manage-webhooks', '--operator-url', `https://127.0.0.1:${webhookPort}`, '--transcript-dir', transcriptDir, '--jit-sweep-interval', '10s',
  ];

  /** psql as the agent: the connection settings the webhook injected, the agent's token as the password. */
  const psql = (sql: string, token = agentToken): Promise<RunResult> =>
    runCommand('/usr/bin/psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql], {
      env: { PATH: process.env.PATH ?? '', ...POD_().agentEnv(), PGUSER: 'agent', PGPASSWORD: token, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '60' },
      timeoutMs: 5 * 60_000,
    });

  /** A long-lived agent session (node-postgres), with its notices and asynchronous errors kept. */
  async function agentSession(): Promise<{ client: pg.Client; notices: NoticeMessage[]; errors: Error[] }> {
    const env = POD_().agentEnv();
    const client = new pg.Client({ host: env.PGHOST, port: Number(env.PGPORT), database: env.PGDATABASE, user: 'agent', password: agentToken, ssl: false });
    const notices: NoticeMessage[] = [];
    const errors: Error[] = [];
    client.on('notice', (n) => notices.push(n));
    client.on('error', (e) => errors.push(e));
    await client.connect();
    clients.push(client);
    return { client, notices, errors };
  }

  /** `kubectl agentgate ARGS` as `user` would run it: kubectl finds the plugin on PATH (bin/kubectl-agentgate: the build). */
  const kubectlAgentgate = (kubeconfig: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      const child = spawn('/usr/bin/kubectl', ['agentgate', ...args, '-n', NS], {
        env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${join(ROOT, 'bin')}:${process.env.PATH ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });

  const jitRoles = async (): Promise<number> => Number(await DB().sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'agentgate\\_%'"));
  const waitNotice = (notices: NoticeMessage[], n: number): Promise<NoticeMessage[]> => settle(async () => notices, (ns) => ns.length >= n, 600);
  const requestName = (notice: NoticeMessage | undefined): string => /request (ar-[a-z0-9]+)/.exec(notice?.message ?? '')?.[1] ?? '';
  const record = async (name: string): Promise<SessionRecord | undefined> => admin.get<SessionRecord>(R.sessionRecords, NS, name).catch(() => undefined);
  const diag = (): string => `--- sidecar log (tail) ---\n${pod?.logs().slice(-6000) ?? ''}\n--- operator log (tail) ---\n${op?.logs().slice(-6000) ?? ''}`;

  /** The id of the live session whose spooled events include `text` (the spool is the sidecar's emptyDir). */
  async function spooledSession(text: string): Promise<{ sessionId: string; events: RecordEvent[] } | undefined> {
    const dir = POD_().volumeDir('agentgate-spool');
    for (const f of await readdir(dir)) {
      if (!f.endsWith('.jsonl')) continue;
      const lines = (await readFile(join(dir, f), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
      const events = lines.map((l) => JSON.parse(l) as RecordEvent);
      if (events.some((e) => e.type === 'statement' && e.data.text === text)) return { sessionId: f.slice(0, -'.jsonl'.length), events };
    }
    return undefined;
  }

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agentgate-loop-e2e-'));
    transcriptDir = join(tmp, 'transcripts');
    [cp, main] = await Promise.all([startControlPlane(), buildOperator()]);
    const kc = cp.kubeconfigPath;
    const kcObj = new KubeConfig();
    kcObj.loadFromFile(kc);
    admin = new KubeClient(kcObj, 'agentgate-e2e');
    await kubectlOk(kc, ['apply', '-f', join(ROOT, 'crds')]);
    await kubectlOk(kc, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    for (const ns of [OP_NS, NS]) await kubectlOk(kc, ['create', 'namespace', ns]);
    await kubectlOk(kc, ['label', 'namespace', NS, 'agentgate.dev/injection=enabled']);

    // PostgreSQL: the admin that mints roles, the role they are granted, the data.
    db = await startPostgres({ tls: true });
    await db.sql('CREATE DATABASE shop');
    await db.sql(`CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD '${adminPassword}'; CREATE ROLE shop_reader NOLOGIN`);
    await db.sql(
      'CREATE TABLE customers (id int PRIMARY KEY, name text, ssn text); ' +
        `INSERT INTO customers VALUES (1, 'Ada', '${SSN}'), (2, 'Grace', '987-65-4320'); ` +
        'CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 5) g; ' +
        'GRANT SELECT ON customers TO shop_reader; GRANT SELECT, UPDATE, DELETE, TRUNCATE ON orders TO shop_reader',
      { database: 'shop' },
    );

    issuer = await startOidcIssuer({ dir: tmp, audience: AUDIENCE });

    // The operator, as a process, with its webhooks registered by URL.
    webhookPort = await freePort();
    op = await startOperator(main, { kubeconfig: kc, namespace: OP_NS, identity: 'op-1', webhookPort, logDir: tmp, extraArgs: operatorArgs() });
    await waitReady(op);
    const hooks = await settle(async () => kubectl(kc, ['get', 'mutatingwebhookconfigurations', '-o', 'name']), (r) => r.stdout.includes('agentgate'), 300);
    if (!hooks.stdout.includes('agentgate')) throw new Error(`the operator registered no webhooks:\n${op.logs().slice(-4000)}`);

    const listenPort = await freeHostPort();
    await kubectlOk(kc, ['apply', '-f', '-'], manifests({ pgPort: db.port, caPem: db.tls?.caPem ?? '', adminPassword, listenPort, issuer: issuer.url }));

    // People: alice approves; mallory is no approver; the agent's own service account (a token kubeconfig).
    users.alice = await cp.makeUserKubeconfig('alice', ['agentgate:users']);
    users.mallory = await cp.makeUserKubeconfig('mallory', ['agentgate:users']);
    const sa = await admin.request<{ status?: { token?: string } }>('POST', `/api/v1/namespaces/${NS}/serviceaccounts/agent/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    });
    users.agentSa = join(tmp, 'agent-sa.kubeconfig');
    await writeFile(users.agentSa, stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: cp.server, 'certificate-authority-data': b64(cp.caCertPem) } }],
      users: [{ name: 'agent-sa', user: { token: sa.status?.token ?? '' } }],
      contexts: [{ name: 'agent-sa', context: { cluster: 'e2e', user: 'agent-sa', namespace: NS } }],
      'current-context': 'agent-sa',
    }), { mode: 0o600 });
    agentToken = await issuer.token(AGENT);
  }, 60 * 60_000);

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    if (process.env.AGENTGATE_E2E_LOGS !== undefined) process.stdout.write(`${diag()}\n`);
    await pod?.stop(5_000);
    await op?.stop();
    await issuer?.close();
    await db?.stop();
    await cp?.stop();
    if (tmp !== '') await rm(tmp, { recursive: true, force: true });
  }, 300_000);

  it('injects the sidecar into a pod of the opted-in namespace and starts it as the pod spec says', async () => {
    const created = JSON.parse(await kubectlOk(CP().kubeconfigPath, ['create', '-o', 'json', '-f', '-'], POD)) as PodObject;
    const sidecar = created.spec.initContainers?.find((c) => c.name === 'agentgate-sidecar');
    expect(sidecar?.args).toEqual(['injected']);
    expect(sidecar?.env?.find((e) => e.name === 'AGENTGATE_OPERATOR_URL')?.value).toBe(`https://127.0.0.1:${webhookPort}`);
    expect(sidecar?.env?.find((e) => e.name === 'AGENTGATE_CONNECTIONS')?.value).toBe('shop-db');
    expect(created.spec.containers[0]?.env?.map((e) => e.name)).toEqual(['PGHOST', 'PGPORT', 'PGDATABASE']);

    pod = await startAgentPod({ pod: created, client: admin, trustedCaFile: issuer?.caFile });
    // The env the sidecar got: downward-API values resolved from this pod, paths inside its mounts.
    expect(pod.sidecarEnv).toMatchObject({ AGENTGATE_POD_NAME: 'agent-7', AGENTGATE_POD_NAMESPACE: NS, AGENTGATE_POD_UID: created.metadata.uid, AGENTGATE_SERVICE_ACCOUNT: 'agent' });
    const health = await fetch(`http://127.0.0.1:${pod.adminPort}/readyz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${pod.adminPort}/metrics`)).text();
    expect(metrics).toContain('agentgate_config_stale 0');
    // Approvals are the cluster's business: nothing on the pod-reachable admin port.
    expect((await fetch(`http://127.0.0.1:${pod.adminPort}/approvals`)).status).toBe(404);
  });

  it('lets psql with the agent token read through the sidecar, masks ssn, refuses a denied statement and a bad token', async () => {
    const read = await psql('SELECT id, name, ssn FROM customers ORDER BY id');
    expect(read.stderr).toBe('');
    expect(read.code).toBe(0);
    expect(read.stdout.trim().split('\n')).toEqual(['1|Ada|[REDACTED]', '2|Grace|[REDACTED]']);
    expect(read.stdout).not.toContain(SSN);

    const drop = await psql('DROP TABLE orders');
    expect(drop.code).not.toBe(0);
    expect(drop.stderr).toContain(`agentgate: denied by policy ${NS}/agents rule "no-drop": tables are never dropped by agents`);
    expect(await DB().sql("SELECT to_regclass('public.orders') IS NOT NULL", { database: 'shop' })).toBe('t');

    const stranger = await psql('SELECT 1', await ISS().token('stranger@example.com'));
    expect(stranger.code).not.toBe(0);
    expect(stranger.stderr).toContain('agentgate: authentication failed: no AccessPolicy lets stranger@example.com use connection shop-db');
  });

  let sessionA: Awaited<ReturnType<typeof agentSession>> | undefined;

  it('holds a DELETE for review; self-approval and an outsider are refused; alice releases it; deny and expiry refuse', async () => {
    // Just-in-time: no role before the session, one during it.
    const idle = await settle(jitRoles, (n) => n === 0, 600);
    expect(idle).toBe(0);
    sessionA = await agentSession();
    const { client, notices } = sessionA;
    expect(await settle(jitRoles, (n) => n === 1, 600)).toBe(1);

    const held = client.query('DELETE FROM orders WHERE id = 1');
    await waitNotice(notices, 1);
    const name = requestName(notices[0]);
    expect(name).toMatch(/^ar-[a-z0-9]+$/);
    expect(notices[0]?.message).toContain(`statement waits for approval: request ${name} (policy ${NS}/agents rule "deletes")`);
    expect(notices[0]?.hint).toBe(`An approver can run: kubectl agentgate approve ${name}`);

    const listed = await kubectlAgentgate(users.alice ?? '', ['requests']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(name);
    expect(listed.stdout).toContain('DELETE FROM orders WHERE id = 1');

    const self = await kubectlAgentgate(users.agentSa ?? '', ['approve', name, '--reason', 'I am sure']);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain(`self-approval refused: system:serviceaccount:${NS}:agent is the requester of AccessRequest ${name}`);
    const outsider = await kubectlAgentgate(users.mallory ?? '', ['approve', name, '--reason', 'looks fine']);
    expect(outsider.code).toBe(1);
    expect(outsider.stderr).toContain('mallory is not an approver of AccessPolicy agents');
    expect(await DB().sql('SELECT count(*) FROM orders WHERE id = 1', { database: 'shop' })).toBe('1');

    const ok = await kubectlAgentgate(users.alice ?? '', ['approve', name, '--reason', 'order 1 was a test']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain(`accessrequest/${name} approved by alice`);
    expect((await held).rowCount).toBe(1);
    expect(await DB().sql('SELECT count(*) FROM orders WHERE id = 1', { database: 'shop' })).toBe('0');

    const refused = client.query('DELETE FROM orders WHERE id = 2');
    await waitNotice(notices, 2);
    const second = requestName(notices[1]);
    const deny = await kubectlAgentgate(users.alice ?? '', ['deny', second, '--reason', 'order 2 is real']);
    expect(deny.code).toBe(0);
    await expect(refused).rejects.toThrow(`agentgate: approval denied by policy ${NS}/agents rule "deletes": deletes need a human (request ${second})`);

    const late = client.query('TRUNCATE orders');
    await waitNotice(notices, 3);
    const third = requestName(notices[2]);
    await expect(late).rejects.toThrow(`agentgate: approval expired by policy ${NS}/agents-quick rule "truncates": truncation needs a human, quickly (request ${third})`);
    const tooLate = await kubectlAgentgate(users.alice ?? '', ['approve', third, '--reason', 'sorry, was away']);
    expect(tooLate.code).toBe(1);
    expect(tooLate.stderr).toContain('already Expired');
    expect(await DB().sql('SELECT count(*) FROM orders', { database: 'shop' })).toBe('4');

    await expect(client.query('DROP TABLE orders')).rejects.toThrow('tables are never dropped by agents');
    // The session goes on after every refusal.
    expect((await client.query('SELECT count(*)::int AS n FROM orders')).rows[0]).toEqual({ n: 4 });
  });

  it('records the session: a SessionRecord with correct counts, a verified chain, and the role gone after it', async () => {
    const a = sessionA;
    if (a === undefined) throw new Error('session A did not start');
    const spooled = await settle(() => spooledSession('SELECT count(*)::int AS n FROM orders'), (s) => s !== undefined, 300);
    const sessionId = spooled?.sessionId ?? '';
    expect(sessionId).not.toBe('');
    await a.client.end();
    const rec = await settle(() => record(sessionId), (r) => r?.spec.outcome !== undefined, 600);
    expect(rec?.spec).toMatchObject({
      sessionId, connection: 'shop-db', protocol: 'postgres', outcome: 'ok',
      identity: { sub: AGENT, iss: issuer?.url },
      pod: { namespace: NS, name: 'agent-7', serviceAccount: 'agent' },
      // DELETE ×2, TRUNCATE, DROP, SELECT; refused: the denied DELETE, the expired TRUNCATE, the DROP; one approval;
      // rows: the approved DELETE's 1 and the count's 1.
      counts: { statements: 5, denied: 3, approvals: 1, masked: 0, rows: 2 },
    });
    expect(await settle(jitRoles, (n) => n === 0, 600)).toBe(0);

    const replay = await kubectlAgentgate(CP().kubeconfigPath, ['replay', sessionId]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/approval\.decided\s+ar-[a-z0-9]+ approved by alice/);
    expect(replay.stdout).toContain(`chain OK: ${rec?.spec.transcript?.events ?? -1} events`);
    const sessions = await kubectlAgentgate(CP().kubeconfigPath, ['sessions']);
    expect(sessions.code).toBe(0);
    expect(sessions.stdout).toContain(sessionId);
  });

  it('loses no event and duplicates none when the operator is killed mid-session and restarted', async () => {
    const b = await agentSession();
    await b.client.query('SELECT id FROM orders ORDER BY id');
    const first = op;
    if (first === undefined) throw new Error('no operator');
    first.child.kill('SIGKILL');
    await first.exited;

    // Operator gone: the live session keeps its (cached) policy.
    expect((await b.client.query('SELECT count(*)::int AS n FROM customers')).rows[0]).toEqual({ n: 2 });
    await expect(b.client.query('DROP TABLE customers')).rejects.toThrow('tables are never dropped by agents');
    expect((await b.client.query('SELECT name, ssn FROM customers WHERE id = 1')).rows).toEqual([{ name: 'Ada', ssn: '[REDACTED]' }]);
    // A new session needs a credential from the operator: refused, fail closed.
    const refused = await psql('SELECT 1');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('agentgate: no backend credential for this session (AG_OPERATOR_UNREACHABLE); refused');
    // Everything is in the spool, durable, waiting to be shipped.
    const down = await settle(() => spooledSession('SELECT name, ssn FROM customers WHERE id = 1'), (s) => s !== undefined && s.events.length >= 8, 300);
    expect(down?.events.map((e) => `${e.seq} ${e.type}`)).toEqual([
      '1 session.start', '2 statement', '3 statement.result', '4 statement', '5 statement.result', '6 statement', '7 statement', '8 statement.result',
    ]);
    const sessionId = down?.sessionId ?? '';

    op = await startOperator(main, { kubeconfig: CP().kubeconfigPath, namespace: OP_NS, identity: 'op-2', webhookPort, logDir: tmp, extraArgs: operatorArgs() });
    await waitReady(op);
    expect((await b.client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await b.client.end();

    const rec = await settle(() => record(sessionId), (r) => r?.spec.outcome !== undefined, 1200);
    if (rec?.spec.outcome === undefined) throw new Error(`no ended SessionRecord for ${sessionId}\n${diag()}`);
    // Rows: 4 orders, 1 count, 1 customer, 1 from SELECT 1; the customer's ssn masked once.
    expect(rec.spec.counts).toEqual({ statements: 5, denied: 1, masked: 1, approvals: 0, rows: 7 });
    const path = rec.spec.transcript?.path ?? '';
    const stored = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as RecordEvent);
    // Exactly one of each: seqs 1..n, ids unique, and every event spooled while the operator was down arrived unchanged.
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
    for (const e of down?.events ?? []) expect(stored[e.seq - 1]).toEqual(e);
    expect(stored.at(-1)?.type).toBe('session.end');
    expect(rec.spec.transcript?.events).toBe(stored.length);
    const replay = await kubectlAgentgate(CP().kubeconfigPath, ['replay', sessionId, '--quiet']);
    expect(replay.stdout).toContain(`chain OK: ${stored.length} events`);
    // Shipped and acknowledged: the spool lets go of the session.
    const left = await settle(async () => (await readdir(POD_().volumeDir('agentgate-spool'))).filter((f) => f.startsWith(sessionId)), (l) => l.length === 0, 600);
    expect(left).toEqual([]);
  });

  it('opens a time-bound grant on approval, lets the rule through inside it, and ends the session it covered when it expires', async () => {
    const d = await agentSession();
    const first = d.client.query('UPDATE orders SET total = 0 WHERE id = 3');
    await waitNotice(d.notices, 1);
    const name = requestName(d.notices[0]);
    const ok = await kubectlAgentgate(users.alice ?? '', ['approve', name, '--reason', 'maintenance window']);
    expect(ok.code).toBe(0);
    expect((await first).rowCount).toBe(1);
    // Once the sidecar's configuration carries the grant, the rule's statements pass without a new request.
    const metric = async (): Promise<string> => (await fetch(`http://127.0.0.1:${POD_().adminPort}/metrics`)).text();
    expect(await settle(metric, (m) => m.includes('agentgate_active_grants 1'), 300)).toContain('agentgate_active_grants 1');
    expect((await d.client.query('UPDATE orders SET total = 1 WHERE id = 4')).rowCount).toBe(1);
    expect(d.notices).toHaveLength(1);
    const cut = await settle(async () => d.errors, (e) => e.length > 0, 900);
    expect(cut[0]?.message).toMatch(new RegExp(`^agentgate: access revoked: the grant of AccessRequest ${name} expired at \\d{4}-\\d\\d-\\d\\dT`));
  });

  it('cuts a live session within seconds when the policy stops covering it', async () => {
    const c = await agentSession();
    expect((await c.client.query('SELECT count(*)::int AS c FROM customers')).rows[0]).toEqual({ c: 2 });
    const spooled = await settle(() => spooledSession('SELECT count(*)::int AS c FROM customers'), (x) => x !== undefined, 300);
    const sessionId = spooled?.sessionId ?? '';
    // A change that still covers the session leaves it alone.
    await kubectlOk(CP().kubeconfigPath, ['-n', NS, 'delete', 'accesspolicy', 'agents-quick', 'maintenance']);
    await kubectlOk(CP().kubeconfigPath, ['-n', NS, 'patch', 'accesspolicy', 'agents', '--type', 'json', '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/subjects/0/oidc/users', value: ['someone-else@example.com'] }])]);
    const cut = await settle(async () => c.errors, (e) => e.length > 0, 600);
    const why = `agentgate: access revoked: no AccessPolicy grants ${AGENT} access to connection shop-db any more`;
    expect(cut[0]?.message).toBe(why);
    await expect(c.client.query('SELECT 1')).rejects.toThrow();
    // The record says so too.
    const rec = await settle(() => record(sessionId), (r) => r?.spec.outcome !== undefined, 600);
    expect(rec?.spec.outcome).toBe('terminated');
    const last = (await readFile(rec?.spec.transcript?.path ?? '', 'utf8')).trim().split('\n').at(-1) ?? '{}';
    expect(JSON.parse(last)).toMatchObject({ type: 'session.end', data: { outcome: 'terminated', reason: why } });
    expect(await settle(jitRoles, (n) => n === 0, 600)).toBe(0);
    const again = await psql('SELECT 1');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`no AccessPolicy lets ${AGENT} use connection shop-db`);
  });

  it('stops on SIGTERM as the kubelet stops it: exit status 0, every event shipped', async () => {
    const spool = POD_().volumeDir('agentgate-spool');
    await POD_().process.stop({ signal: 'SIGTERM', graceMs: 60_000 });
    expect(await POD_().process.exited).toEqual({ code: 0, signal: null });
    expect((await readdir(spool)).filter((f) => f.endsWith('.jsonl'))).toEqual([]);
  });
});
