// The operator's sidecar API against the real API server: TokenReview-based
// pod identity from TokenRequest tokens, per-pod configuration with long-poll
// change notification, static and just-in-time credentials against a real
// PostgreSQL (TLS verify-full), and idempotent event ingest into transcripts
// and SessionRecords, replayed and verified with `kubectl agentgate`.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import pg from 'pg';
import { Recorder } from '../core/recording/session-recorder.js';
import { Shipper } from '../core/recording/shipper.js';
import { Spool } from '../core/recording/spool.js';
import type { RecordEvent } from '../core/recording/events.js';
import type { AccessRequest, SessionRecord } from '../core/resources/generated.js';
import { CredentialBroker } from '../operator/credentials/credential-broker.js';
import { KubeSecretReader } from '../operator/credentials/secret-reader.js';
import { R } from '../operator/kube/resources.js';
import { OperatorClient } from '../sidecar/cluster/operator-client.js';
import { OperatorRecordSink } from '../sidecar/cluster/operator-record-sink.js';
import { ClusterConfigSource } from '../sidecar/cluster/cluster-config-source.js';
import { ClusterCredentials } from '../sidecar/cluster/cluster-credentials.js';
import { startPostgres, type PgServer } from '../testkit/postgres.js';
import { buildCli, kubectlAgentgate, startApiHarness, type ApiHarness } from './sidecar-api-harness.js';
import { settle } from './operator-e2e-support.js';

const NS = 'team-a';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function manifests(pgPort: number, caPem: string, adminPassword: string): string {
  return `
apiVersion: v1
kind: Secret
metadata: { name: orders-db-creds, namespace: ${NS} }
data: { username: ${b64('orders_app')}, password: ${b64('static-pass-1')} }
---
apiVersion: v1
kind: Secret
metadata: { name: orders-db-admin, namespace: ${NS} }
data: { username: ${b64('jit_admin')}, password: ${b64(adminPassword)} }
---
apiVersion: v1
kind: Secret
metadata: { name: orders-db-ca, namespace: ${NS} }
data: { ca.crt: ${b64(caPem)} }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: orders-db, namespace: ${NS}, labels: { tier: prod } }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${pgPort}, database: shop }
  tls: { mode: verify-full, caSecretRef: { name: orders-db-ca }, serverName: localhost }
  credentials: { secretRef: { name: orders-db-creds } }
  listen: { port: 15432 }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: orders-jit, namespace: ${NS} }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${pgPort}, database: shop }
  tls: { mode: verify-full, caSecretRef: { name: orders-db-ca }, serverName: localhost }
  credentials: { jit: { postgres: { adminSecretRef: { name: orders-db-admin }, grantedRoles: [app_reader], validFor: 15m } } }
  listen: { port: 15433 }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: payments-db, namespace: ${NS} }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${pgPort}, database: shop }
  tls: { mode: verify-full, caSecretRef: { name: orders-db-ca }, serverName: localhost }
  credentials: { secretRef: { name: orders-db-creds } }
  listen: { port: 15434 }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: orders, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: [ { serviceAccount: { name: agent } } ]
  connections: [orders-db, orders-jit]
  rules:
    - { name: reads, when: "sql.statements.all(s, s.kind == 'SELECT')", action: allow }
    - { name: deletes, when: "sql.statements.exists(s, s.kind == 'DELETE')", action: review }
  approval: { approvers: { groups: [dba] }, timeout: 2m }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: payments, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: payments } }
  subjects: [ { serviceAccount: { name: agent } } ]
  connections: [payments-db]
`;
}

/** A raw HTTPS call to the API (for what the typed client never sends). */
function raw(h: ApiHarness, method: string, path: string, o: { token?: string; body?: string; contentType?: string } = {}): Promise<{ status: number; body: string }> {
  return readFile(h.caFile, 'utf8').then((ca) => new Promise((resolve, reject) => {
    const req = https.request(`${h.apiUrl}${path}`, {
      method, ca, agent: false,
      headers: {
        ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}),
        ...(o.body !== undefined ? { 'content-type': o.contentType ?? 'application/json', 'content-length': String(Buffer.byteLength(o.body)) } : {}),
      },
    }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  }));
}

describe('e2e: the operator sidecar API', () => {
  let h: ApiHarness | undefined;
  let db: PgServer | undefined;
  const H = (): ApiHarness => {
    if (!h) throw new Error('harness not started');
    return h;
  };
  const DB = (): PgServer => {
    if (!db) throw new Error('postgres not started');
    return db;
  };
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  let agentToken = '';
  let client: OperatorClient | undefined;
  const C = (): OperatorClient => {
    if (!client) throw new Error('client not built');
    return client;
  };

  beforeAll(async () => {
    await buildCli();
    db = await startPostgres({ tls: true });
    await db.sql('CREATE DATABASE shop');
    await db.sql(`CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD '${adminPassword}'`);
    await db.sql("CREATE ROLE app_reader NOLOGIN; CREATE ROLE orders_app LOGIN PASSWORD 'static-pass-1'");
    await db.sql('CREATE TABLE orders (id int primary key, total int); INSERT INTO orders VALUES (1, 10), (2, 20); GRANT SELECT ON orders TO app_reader', { database: 'shop' });
    h = await startApiHarness();
    await h.createPod(NS, 'agent-1', { labels: { app: 'agent' } });
    await h.createPod(NS, 'agent-2', { labels: { app: 'agent' } });
    await h.createPod(NS, 'plain-1', { labels: { app: 'agent' }, sidecar: false });
    await h.apply(manifests(db.port, db.tls?.caPem ?? '', adminPassword));
    await settle(async () => H().resources.connections(NS).length + H().resources.policies(NS).length, (n) => n === 5, 300);
    agentToken = await h.podToken(NS, 'agent-1');
    client = new OperatorClient({ url: h.apiUrl, caFile: h.caFile, tokenFile: agentToken });
  }, 60 * 60_000);

  afterAll(async () => {
    client?.close();
    await h?.stop();
    await db?.stop();
  }, 120_000);

  it("serves the pod its own configuration, authenticated by a TokenRequest token bound to it", async () => {
    const cfg = await C().getConfig();
    expect(cfg).not.toBeNull();
    expect(cfg?.pod).toMatchObject({ namespace: NS, name: 'agent-1', serviceAccount: 'agent', labels: { app: 'agent' } });
    expect(cfg?.policies.map((p) => p.metadata.name)).toEqual(['orders']);
    expect(cfg?.connections.map((c) => c.name)).toEqual(['orders-db', 'orders-jit']);
    expect(cfg?.connections[0]?.labels).toEqual({ tier: 'prod' });
    expect(cfg?.connections[0]?.tls).toMatchObject({ mode: 'verify-full', serverName: 'localhost' });
    expect(cfg?.connections[0]?.tls.caPem).toContain('BEGIN CERTIFICATE');
    // No secret value in the configuration.
    expect(JSON.stringify(cfg)).not.toContain('static-pass-1');
    expect(JSON.stringify(cfg)).not.toContain(adminPassword);
    // Unchanged: a short long poll answers "not modified".
    expect(await C().getConfig(cfg?.etag, 1)).toBeNull();
  });

  it('refuses a pod without the sidecar, a token for another audience, no token and a forged token', async () => {
    const plain = new OperatorClient({ url: H().apiUrl, caFile: H().caFile, tokenFile: await H().podToken(NS, 'plain-1') });
    await expect(plain.getConfig()).rejects.toMatchObject({ status: 403, code: 'AG_API_NO_SIDECAR' });
    plain.close();

    const other = new OperatorClient({ url: H().apiUrl, caFile: H().caFile, tokenFile: await H().podToken(NS, 'agent-1', { audience: 'https://kubernetes.default.svc' }) });
    await expect(other.getConfig()).rejects.toMatchObject({ status: 401, code: 'AG_API_UNAUTHENTICATED' });
    other.close();

    const none = await raw(H(), 'GET', '/sidecar/v1/config');
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ error: { code: 'AG_API_UNAUTHENTICATED' } });

    const token = (await readFile(agentToken, 'utf8')).trim();
    const [hdr, payload] = token.split('.');
    const forged = await raw(H(), 'GET', '/sidecar/v1/config', { token: `${hdr ?? ''}.${payload ?? ''}.${Buffer.from('forged').toString('base64url')}` });
    expect(forged.status).toBe(401);
    expect(forged.body).not.toContain(token);
  });

  it('takes the pod from the token, never from the body', async () => {
    const token = (await readFile(agentToken, 'utf8')).trim();
    const body = JSON.stringify({
      policy: 'orders', rule: 'deletes', connection: 'orders-db', protocol: 'postgres', operation: 'DELETE FROM orders WHERE id = 1',
      requester: { sub: 'system:serviceaccount:team-a:agent', pod: { namespace: NS, name: 'agent-2', serviceAccount: 'agent' } },
      pod: { namespace: NS, name: 'agent-2' },
    });
    const created = await raw(H(), 'POST', '/sidecar/v1/access-requests', { token, body });
    expect(created.status).toBe(201);
    const name = (JSON.parse(created.body) as { name: string }).name;
    expect(name).toMatch(/^ar-[a-z0-9]{10}$/);
    const ar = await H().admin.get<AccessRequest>(R.accessRequests, NS, name);
    expect(ar.spec.requester.pod?.name).toBe('agent-1');
    // Another pod cannot read it.
    const agent2 = new OperatorClient({ url: H().apiUrl, caFile: H().caFile, tokenFile: await H().podToken(NS, 'agent-2') });
    await expect(agent2.getAccessRequest(name)).rejects.toMatchObject({ status: 404 });
    agent2.close();
    // A rule that is not a review rule cannot be put up for approval.
    await expect(C().createAccessRequest({ policy: 'orders', rule: 'reads', connection: 'orders-db', protocol: 'postgres', operation: 'SELECT 1', requester: { sub: 'x' } }))
      .rejects.toMatchObject({ status: 403, code: 'AG_AR_NOT_REVIEW' });
  });

  it('answers bad bodies with 400/413/415 and clear messages', async () => {
    const token = (await readFile(agentToken, 'utf8')).trim();
    const bad = await raw(H(), 'POST', '/sidecar/v1/credentials', { token, body: '{"connection": "orders-db",' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ error: { code: 'AG_API_BAD_REQUEST' } });
    expect((JSON.parse(bad.body) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
    const big = await raw(H(), 'POST', '/sidecar/v1/credentials', { token, body: JSON.stringify({ connection: 'x'.repeat(8000) }) });
    expect(big.status).toBe(413);
    const type = await raw(H(), 'POST', '/sidecar/v1/credentials', { token, body: 'connection=orders-db', contentType: 'application/x-www-form-urlencoded' });
    expect(type.status).toBe(415);
    const missing = await raw(H(), 'POST', '/sidecar/v1/credentials', { token, body: '{"connection":"orders-db"}' });
    expect(missing.status).toBe(400);
    expect(missing.body).toContain('sessionId');
  });

  it('notifies a long poll within moments of a policy edit, and the config source follows it', async () => {
    const source = new ClusterConfigSource({ client: C(), watchTimeoutSeconds: 30 });
    const changes: string[][] = [];
    source.on('change', (cfg) => changes.push(cfg.connections.map((c) => c.name)));
    source.start();
    try {
      const first = await source.ready();
      expect(first.connections.map((c) => c.name)).toEqual(['orders-db', 'orders-jit']);
      const watched = C().getConfig(first.etag, 30);
      await H().admin.patch(R.accessPolicies, NS, 'orders', { spec: { connections: ['orders-db'] } }, 'merge');
      const next = await watched;
      // A timed-out poll would answer null (not modified): the change arrived before the 30 s poll ended.
      expect(next).not.toBeNull();
      expect(next?.connections.map((c) => c.name)).toEqual(['orders-db']);
      const seen = await settle(async () => changes.length, (n) => n >= 2, 300);
      expect(seen).toBeGreaterThanOrEqual(2);
      expect(changes.at(-1)).toEqual(['orders-db']);
    } finally {
      await H().admin.patch(R.accessPolicies, NS, 'orders', { spec: { connections: ['orders-db', 'orders-jit'] } }, 'merge');
      await source.stop();
    }
    // Revoked: a connection no policy gives the pod any more gets no credential.
    await expect(C().issueCredential('payments-db', 's-1')).rejects.toMatchObject({ status: 403, code: 'AG_API_CONNECTION_NOT_ALLOWED' });
  });

  it('issues the static credential from the Secret, held in memory as a redacted BackendCredential', async () => {
    const creds = new ClusterCredentials(C());
    const s = await creds.forSession('orders-db', 'sess-static-1');
    expect(s.kind).toBe('static');
    expect(s.credential.username).toBe('orders_app');
    expect(s.credential.password).toBe('static-pass-1');
    expect(JSON.stringify(s)).not.toContain('static-pass-1');
  });

  it('creates a just-in-time role (VALID UNTIL, granted roles) that works, and drops it when the session ends', async () => {
    const sid = 'sess-jit-1';
    const cred = await C().issueCredential('orders-jit', sid);
    expect(cred.kind).toBe('jit');
    expect(cred.username).toMatch(/^agentgate_[0-9a-f]{16}$/);
    const role = cred.username ?? '';
    const row = await DB().sql(`SELECT rolcanlogin, rolvaliduntil IS NOT NULL, pg_has_role('${role}', 'app_reader', 'MEMBER') FROM pg_roles WHERE rolname = '${role}'`);
    expect(row).toBe('t|t|t');
    const validUntil = Date.parse(cred.expiresAt ?? '');
    expect(validUntil - Date.now()).toBeGreaterThan(14 * 60_000);
    expect(validUntil - Date.now()).toBeLessThanOrEqual(15 * 60_000);

    const conn = new pg.Client({ host: '127.0.0.1', port: DB().port, database: 'shop', user: role, password: cred.password, ssl: { ca: DB().tls?.caPem, servername: 'localhost' } });
    conn.on('error', () => undefined);
    await conn.connect();
    expect((await conn.query<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0]?.n).toBe('2');
    await expect(conn.query('DELETE FROM orders')).rejects.toThrow(/permission denied/);

    expect(await C().endSession(sid, 'orders-jit')).toEqual({ released: 1 });
    expect(await DB().sql(`SELECT count(*) FROM pg_roles WHERE rolname = '${role}'`)).toBe('0');
    // Its live connection was ended with it.
    await expect(conn.query('SELECT 1')).rejects.toThrow();
    await conn.end().catch(() => undefined);
  });

  it("the sweeper drops expired roles it created, and never another role named like them", async () => {
    const cred = await C().issueCredential('orders-jit', 'sess-jit-2');
    const ours = cred.username ?? '';
    await DB().sql("CREATE ROLE agentgate_0000000000000000 NOLOGIN VALID UNTIL '2000-01-01'");
    const conn = H().resources.connection(NS, 'orders-jit');
    if (!conn) throw new Error('no orders-jit in the cache');
    const now = new CredentialBroker({ secrets: new KubeSecretReader(H().admin), log: H().log });
    expect(await now.sweep([conn])).toEqual([]); // not expired yet
    const later = new CredentialBroker({ secrets: new KubeSecretReader(H().admin), log: H().log, now: () => new Date(Date.now() + 16 * 60_000) });
    expect(await later.sweep([conn])).toEqual([ours]);
    expect(await DB().sql(`SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'agentgate_') ORDER BY 1`)).toBe('agentgate_0000000000000000');
  });

  it('ingests spooled events idempotently, keeps the SessionRecord, and kubectl agentgate replays and verifies it', async () => {
    const spoolDir = await mkdtemp(join(H().tmp, 'spool-'));
    const spool = await Spool.open({ dir: spoolDir });
    const recorder = new Recorder({ spool });
    const rec = await recorder.startSession({
      identity: { sub: 'system:serviceaccount:team-a:agent', iss: 'kubernetes', groups: [] },
      pod: { namespace: NS, name: 'agent-1', serviceAccount: 'agent' }, connection: 'orders-db', protocol: 'postgres',
    });
    await rec.record('statement', { text: 'SELECT * FROM orders', decision: { action: 'allow', policy: `${NS}/orders`, rule: 'reads' }, maskedFields: 2, rows: 2 });
    await rec.record('statement', { text: 'DROP TABLE orders', decision: { action: 'deny', policy: null, rule: null } });
    await rec.record('approval.decided', { approvalId: 'ar-x', outcome: 'approved', approver: 'alice' });
    await rec.end('ok');
    const sid = rec.sessionId;
    const shipped: RecordEvent[] = [];
    for await (const e of readEvents(join(spoolDir, `${sid}.jsonl`))) shipped.push(e);

    const shipper = new Shipper({ spool, sink: new OperatorRecordSink(C()), initialBackoffMs: 50, idleMs: 100 });
    shipper.start();
    expect(await shipper.flush(60_000)).toBe(true);
    await shipper.stop();
    await spool.close();

    // The sidecar retries a batch whose answer it lost: nothing is stored twice.
    expect(shipped.length).toBe(5);
    expect(await C().shipEvents(sid, shipped)).toEqual({ ackedThrough: 5 });
    expect(await C().shipEvents(sid, shipped.slice(1, 3))).toEqual({ ackedThrough: 5 });
    const path = join(H().storeDir, NS, `${sid}.jsonl`);
    expect((await readFile(path, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as RecordEvent).id)).toEqual(shipped.map((e) => e.id));

    // Another pod cannot add to this session.
    const agent2 = new OperatorClient({ url: H().apiUrl, caFile: H().caFile, tokenFile: await H().podToken(NS, 'agent-2') });
    await expect(agent2.shipEvents(sid, shipped)).rejects.toMatchObject({ status: 403, code: 'AG_INGEST_NOT_YOURS' });
    agent2.close();

    const record = await H().admin.get<SessionRecord>(R.sessionRecords, NS, sid);
    expect(record.spec).toMatchObject({
      sessionId: sid, connection: 'orders-db', protocol: 'postgres', outcome: 'ok',
      identity: { sub: 'system:serviceaccount:team-a:agent' }, pod: { namespace: NS, name: 'agent-1', serviceAccount: 'agent' },
      counts: { statements: 2, denied: 1, masked: 2, approvals: 1 },
      transcript: { store: 'file', path, events: 5, lastHash: shipped[4]?.hash },
    });

    const sessions = await kubectlAgentgate(H(), H().cp.kubeconfigPath, ['sessions', '-n', NS]);
    expect(sessions.code).toBe(0);
    expect(sessions.stdout).toMatch(new RegExp(`${sid}\\s+system:serviceaccount:team-a:agent\\s+agent-1\\s+orders-db\\s+ok\\s+2\\s+1\\s+2\\s+1\\s+5`));

    const ok = await kubectlAgentgate(H(), H().cp.kubeconfigPath, ['replay', sid, '-n', NS]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('deny: DROP TABLE orders');
    expect(ok.stdout).toContain(`chain OK: 5 events, head ${shipped[4]?.hash ?? ''}`);

    // Tamper with one event: replay names the first broken one.
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines[2] = (lines[2] ?? '').replace('DROP TABLE orders', 'SELECT 1');
    await writeFile(path, lines.join('\n'));
    const broken = await kubectlAgentgate(H(), H().cp.kubeconfigPath, ['replay', sid, '-n', NS, '--quiet']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('chain BROKEN at event #3: the hash does not match the event content');
  });
});

async function* readEvents(path: string): AsyncGenerator<RecordEvent> {
  for (const l of (await readFile(path, 'utf8')).split('\n')) if (l.trim() !== '') yield JSON.parse(l) as RecordEvent;
}
