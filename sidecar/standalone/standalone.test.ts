import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { verifyChain } from '../../core/recording/hash-chain.js';
import { isRecordEvent, type RecordEvent } from '../../core/recording/events.js';
import { freePort } from '../../testkit/ports.js';
import { createLogger } from './logger.js';
import { startLineListener } from './line-protocol.test-support.js';
import { startStandalone, type StandaloneHandle } from './standalone.js';

const ISSUER = 'https://issuer.agentgate.test';

let dir = '';
let handle: StandaloneHandle;
let listenPort = 0;
let token = '';
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

function config(port: number): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: db-creds }
stringData: { username: app, password: backend-pw-123 }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: orders-db }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: 5432 }
  tls: { mode: disable }
  credentials: { secretRef: { name: db-creds } }
  listen: { port: ${port} }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: agent-rules }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects:
    - serviceAccount: { name: agent }
    - oidc: { issuer: ${ISSUER}, audience: agentgate, users: [alice@example.com] }
  connections: [orders-db]
  approval:
    approvers: { users: [alice] }
    timeout: 5m
  rules:
    - { name: reads, when: "sql.statements.all(s, s.kind == 'SELECT')", action: allow }
    - { name: updates-need-review, when: "sql.statements.exists(s, s.kind == 'UPDATE')", action: review }
    - { name: no-deletes, when: "sql.statements.exists(s, s.kind == 'DELETE')", action: deny, message: deleting is not allowed }
    - { name: oidc-truncate, when: "identity.kind == 'oidc' && sql.statements.exists(s, s.kind == 'TRUNCATE')", action: allow }
`;
}

const openSockets = new Set<Socket>();

class LineClient {
  private readonly lines: AsyncIterator<string>;
  constructor(private readonly socket: Socket) {
    this.lines = createInterface({ input: socket })[Symbol.asyncIterator]();
    openSockets.add(socket);
    socket.on('close', () => openSockets.delete(socket));
  }
  static async open(port: number, hello: string): Promise<LineClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new LineClient(socket);
    socket.write(`${hello}\n`);
    return c;
  }
  send(line: string): void {
    this.socket.write(`${line}\n`);
  }
  async read(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error('connection closed');
    return r.value;
  }
  async close(): Promise<void> {
    this.socket.end();
    await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }
}

async function admin(path: string, body?: unknown, auth = true): Promise<Response> {
  const headers: Record<string, string> = {};
  if (auth) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`http://127.0.0.1:${handle.adminPort}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function transcripts(): Promise<Map<string, RecordEvent[]>> {
  const out = new Map<string, RecordEvent[]>();
  for (const name of await readdir(handle.recordDir)) {
    if (!name.endsWith('.jsonl')) continue;
    const events = (await readFile(join(handle.recordDir, name), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as unknown)
      .filter(isRecordEvent);
    out.set(name.slice(0, -'.jsonl'.length), events);
  }
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-standalone-'));
  listenPort = await freePort();
  await writeFile(join(dir, 'agentgate.yaml'), config(listenPort));
  const keys = await generateKeyPair('ES256', { extractable: true });
  privateKey = keys.privateKey;
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  handle = await startStandalone({
    configPath: join(dir, 'agentgate.yaml'),
    identity: 'team-a/agent',
    podLabels: 'app=agent',
    recordDir: join(dir, 'records'),
    adminPort: 0,
    jwksFiles: [join(dir, 'jwks.json')],
    logger: createLogger('silent'),
    starters: { postgres: startLineListener },
    shutdownGraceMs: 60_000,
  });
  token = (await readFile(handle.adminTokenFile, 'utf8')).trim();
});

afterAll(async () => {
  // A failed test may leave a client connected; its session would hold shutdown for the grace period.
  for (const s of openSockets) s.destroy();
  await handle?.close('test over');
  await rm(dir, { recursive: true, force: true });
});

describe('standalone sidecar', () => {
  it('is ready with its listener up and the admin token created', async () => {
    expect(handle.listeners.get('orders-db')?.port).toBe(listenPort);
    expect((await admin('/readyz', undefined, false)).status).toBe(200);
    expect(handle.adminTokenFile).toBe(join(dir, 'records', 'admin.token'));
  });

  it('allows, denies with the rule named, and holds a review until approved through the admin server', async () => {
    const c = await LineClient.open(listenPort, 'POD');
    expect(await c.read()).toMatch(/^ready /);
    c.send('select 1');
    expect(await c.read()).toBe('ok');
    c.send('delete from orders');
    expect(await c.read()).toBe('denied agentgate: denied by policy team-a/agent-rules rule "no-deletes": deleting is not allowed');
    c.send('update orders set x = 1');
    const pending = await c.read();
    expect(pending).toMatch(/^pending ar-[a-z2-9]{8}$/);
    const id = pending.slice('pending '.length);
    // Without the token nothing changes.
    expect((await admin(`/approvals/${id}/approve`, { user: 'mallory' }, false)).status).toBe(401);
    const list = (await (await admin('/approvals')).json()) as { items: Array<{ id: string; operation: string; requester: { sub: string } }> };
    expect(list.items).toEqual([expect.objectContaining({ id, operation: 'update orders set x = 1', requester: expect.objectContaining({ sub: 'system:serviceaccount:team-a:agent' }) })]);
    expect((await admin(`/approvals/${id}/approve`, { user: 'alice', reason: 'ticket 9' })).status).toBe(200);
    expect(await c.read()).toBe('ok');
    c.send('update orders set x = 2');
    const second = (await c.read()).slice('pending '.length);
    expect((await admin(`/approvals/${second}/deny`, { user: 'alice', reason: 'no' })).status).toBe(200);
    expect(await c.read()).toMatch(new RegExp(`^denied agentgate: approval denied by policy team-a/agent-rules rule "updates-need-review".*\\(request ${second}\\)$`));
    await c.close();

    const metrics = await (await admin('/metrics', undefined, false)).text();
    expect(metrics).toMatch(/agentgate_statements_total\{decision="allow"\} 2/);
    expect(metrics).toMatch(/agentgate_statements_total\{decision="deny"\} 2/);
    // Every decision is counted by how the engine's decision cache served it.
    const served = ['hit', 'miss', 'bypassed'].map((r) => Number(new RegExp(`agentgate_decision_cache_requests\\{result="${r}"\\} (\\d+)`).exec(metrics)?.[1] ?? 'NaN'));
    expect(served.every((n) => Number.isInteger(n))).toBe(true);
    expect(served.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4);
    expect(metrics).toContain('agentgate_sessions_total{protocol="postgres",connection="orders-db"}');
    expect(metrics).toMatch(/agentgate_approvals_total\{outcome="approved"\} 1/);
    expect(metrics).not.toContain('orders set');
  });

  it('authenticates OIDC tokens against the JWKS file (issuer, audience, signature)', async () => {
    const sign = (aud: string, sub = 'alice@example.com'): Promise<string> =>
      new SignJWT({ groups: ['dba'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(aud)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    const good = await LineClient.open(listenPort, `TOKEN ${await sign('agentgate')}`);
    expect(await good.read()).toMatch(/^ready /);
    good.send('truncate t');
    expect(await good.read()).toBe('ok');
    await good.close();

    const wrongAud = await LineClient.open(listenPort, `TOKEN ${await sign('someone-else')}`);
    expect(await wrongAud.read()).toBe('auth-failed AUTH_INVALID');
    await wrongAud.close().catch(() => undefined);
  });

  it('ships every session to the record dir as a verified chain with a summary, and never records the backend password', async () => {
    await handle.close('test shutdown');
    const all = await transcripts();
    expect(all.size).toBe(2);
    for (const [sessionId, events] of all) {
      expect(verifyChain(events)).toMatchObject({ ok: true });
      expect(events[0]?.type).toBe('session.start');
      expect(events[events.length - 1]?.type).toBe('session.end');
      const raw = await readFile(join(handle.recordDir, `${sessionId}.jsonl`), 'utf8');
      expect(raw).not.toContain('backend-pw-123');
      const summary = JSON.parse(await readFile(join(handle.recordDir, `${sessionId}.summary.json`), 'utf8')) as Record<string, unknown>;
      expect(summary).toMatchObject({ sessionId, connection: 'orders-db', outcome: 'ok', transcript: { lastHash: events[events.length - 1]!.hash } });
    }
    const pod = [...all.values()].find((e) => e[0]?.type === 'session.start' && e[0].data.identity.sub.startsWith('system:serviceaccount:'));
    expect(pod?.filter((e) => e.type === 'statement').map((e) => (e as RecordEvent<'statement'>).data.decision.rule)).toEqual([
      'reads',
      'no-deletes',
      'updates-need-review',
      'updates-need-review',
    ]);
    const summaries = await Promise.all([...all.keys()].map(async (id) => JSON.parse(await readFile(join(handle.recordDir, `${id}.summary.json`), 'utf8')) as { counts: unknown; identity: { sub: string } }));
    expect(summaries.find((s) => s.identity.sub.startsWith('system:'))?.counts).toEqual({ statements: 4, denied: 2, masked: 0, approvals: 2, rows: 0 });
    // The spool is empty after a clean shutdown.
    const spoolLeft = (await readdir(join(handle.recordDir, 'spool'))).filter((n) => n.endsWith('.jsonl'));
    expect(spoolLeft).toEqual([]);
  });
});
