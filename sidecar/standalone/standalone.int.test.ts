// `agentgate-sidecar standalone` as a child process (dist/, built by `make
// integration`) in front of a real PostgreSQL, driven by psql, with approvals
// decided through `agentgate-sidecar approve`.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRecordEvent, type RecordEvent } from '../../core/recording/events.js';
import { verifyChain } from '../../core/recording/hash-chain.js';
import { freePort } from '../../testkit/ports.js';
import { startPostgres, type PgServer } from '../../testkit/postgres.js';
import { logTail, runCommand, startProcess, type ManagedProcess, type RunResult } from '../../testkit/processes.js';

const MAIN = join(process.cwd(), 'dist', 'sidecar', 'main.js');
const BACKEND_PASSWORD = 'app-backend-pw-7c1d';

let dir = '';
let pg: PgServer;
let sidecar: ManagedProcess | undefined;
let adminPort = 0;
let listenPort = 0;
const tokenFile = (): string => join(dir, 'state', 'admin.token');

function cli(args: string[]): Promise<RunResult> {
  return runCommand(process.execPath, [MAIN, ...args], { timeoutMs: 60_000 });
}

function config(): string {
  return [
    `apiVersion: v1
kind: Secret
metadata: { name: orders-db-creds }
stringData:
  username: app
  password: ${BACKEND_PASSWORD}
`,
    `apiVersion: v1
kind: Secret
metadata: { name: orders-db-ca }
stringData:
  ca.crt: ${JSON.stringify(pg.tls?.caPem ?? '')}
`,
    `apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: orders-db, labels: { env: test } }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${pg.port}, database: orders }
  tls: { mode: verify-full, caSecretRef: { name: orders-db-ca } }
  credentials: { secretRef: { name: orders-db-creds } }
  listen: { port: ${listenPort} }
`,
    `apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: orders-agent }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: [{ serviceAccount: { name: agent } }]
  connections: [orders-db]
  approval: { approvers: { users: [alice] }, timeout: 5m }
  rules:
    - { name: reads, when: "sql.statements.all(s, s.kind == 'SELECT')", action: allow }
    - { name: updates-need-review, when: "sql.statements.exists(s, s.kind == 'UPDATE')", action: review }
    - { name: no-deletes, when: "sql.statements.exists(s, s.kind == 'DELETE')", action: deny, message: deleting orders is not allowed }
`,
  ].join('---\n');
}

function psql(sql: string): Promise<RunResult> {
  // Pod identity: the sidecar asks for no password; the agent has none to give.
  return pg.psql(['-At', '-c', sql], { host: '127.0.0.1', port: listenPort, user: 'agent', database: 'orders' });
}

async function transcripts(): Promise<RecordEvent[][]> {
  const recordDir = join(dir, 'records');
  const out: RecordEvent[][] = [];
  for (const name of (await readdir(recordDir)).filter((n) => n.endsWith('.jsonl')).sort()) {
    const text = await readFile(join(recordDir, name), 'utf8');
    expect(text).not.toContain(BACKEND_PASSWORD);
    out.push(text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown).filter(isRecordEvent));
  }
  return out;
}

beforeAll(async () => {
  await access(MAIN).catch(() => {
    throw new Error(`${MAIN} is missing: run \`make build\` (make integration does) before this test`);
  });
  dir = await mkdtemp(join(tmpdir(), 'agentgate-sidecar-int-'));
  pg = await startPostgres({ tls: true });
  await pg.sql(`create role app login password '${BACKEND_PASSWORD}'`);
  await pg.sql('create database orders owner app');
  await pg.sql("create table orders (id int primary key, status text); insert into orders values (1, 'new'), (2, 'new')", {
    user: 'app',
    password: BACKEND_PASSWORD,
    database: 'orders',
  });
  adminPort = await freePort();
  listenPort = await freePort();
  await writeFile(join(dir, 'agentgate.yaml'), config());
  sidecar = startProcess(
    'agentgate-sidecar',
    process.execPath,
    [MAIN, 'standalone', '--config', join(dir, 'agentgate.yaml'), '--identity', 'team-a/agent', '--pod-labels', 'app=agent',
      '--record-dir', join(dir, 'records'), '--state-dir', join(dir, 'state'), '--admin-port', String(adminPort)],
    { logPath: join(dir, 'sidecar.log') },
  );
  for (let i = 0; ; i++) {
    if (sidecar.hasExited()) throw new Error(`sidecar exited:\n${await logTail(sidecar.logPath)}`);
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (i >= 300) throw new Error(`sidecar not ready:\n${await logTail(sidecar.logPath)}`);
    await sleep(100);
  }
});

afterAll(async () => {
  await sidecar?.stop({ graceMs: 10_000 });
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('agentgate-sidecar standalone with PostgreSQL', () => {
  it('lets psql read through it and refuses a denied statement naming policy and rule', async () => {
    const read = await psql('select count(*) from orders');
    expect(read.stderr).toBe('');
    expect(read.stdout.trim()).toBe('2');
    const del = await psql('delete from orders');
    expect(del.code).not.toBe(0);
    expect(del.stderr).toContain('team-a/orders-agent');
    expect(del.stderr).toContain('no-deletes');
    expect(await pg.sql('select count(*) from orders', { database: 'orders' })).toBe('2');
  });

  it('holds an UPDATE until `agentgate-sidecar approve` releases it', async () => {
    const held = psql("update orders set status = 'shipped' where id = 1");
    let id = '';
    for (let i = 0; i < 300 && id === ''; i++) {
      const list = await cli(['approvals', '--admin-port', String(adminPort), '--admin-token-file', tokenFile(), '-o', 'json']);
      expect(list.code).toBe(0);
      const items = JSON.parse(list.stdout) as Array<{ id: string; operation: string; rule: string }>;
      if (items.length > 0) {
        expect(items[0]).toMatchObject({ operation: "update orders set status = 'shipped' where id = 1", rule: 'updates-need-review' });
        id = items[0]!.id;
      } else {
        await sleep(100);
      }
    }
    expect(id).toMatch(/^ar-/);
    expect(await pg.sql('select status from orders where id = 1', { database: 'orders' })).toBe('new');
    // The wrong token changes nothing.
    await writeFile(join(dir, 'wrong.token'), 'not-the-admin-token-0123456789\n');
    const refused = await cli(['approve', id, '--admin-port', String(adminPort), '--admin-token-file', join(dir, 'wrong.token'), '--user', 'mallory']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ADMIN_UNAUTHORIZED');

    const approved = await cli(['approve', id, '--reason', 'ticket 42', '--user', 'alice', '--admin-port', String(adminPort), '--admin-token-file', tokenFile()]);
    expect(approved.stderr).toBe('');
    expect(approved.stdout).toBe(`${id}: approved by alice\n`);
    const result = await held;
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('UPDATE 1');
    expect(await pg.sql('select status from orders where id = 1', { database: 'orders' })).toBe('shipped');
  });

  it('denies through `agentgate-sidecar deny`', async () => {
    const held = psql("update orders set status = 'lost' where id = 2");
    let id = '';
    for (let i = 0; i < 300 && id === ''; i++) {
      const items = JSON.parse((await cli(['approvals', '--admin-port', String(adminPort), '--admin-token-file', tokenFile(), '-o', 'json'])).stdout) as Array<{ id: string }>;
      if (items[0]) id = items[0].id;
      else await sleep(100);
    }
    const denied = await cli(['deny', id, '--reason', 'no', '--user', 'alice', '--admin-port', String(adminPort), '--admin-token-file', tokenFile()]);
    expect(denied.stdout).toBe(`${id}: denied by alice\n`);
    const result = await held;
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('approval denied');
    expect(await pg.sql('select status from orders where id = 2', { database: 'orders' })).toBe('new');
  });

  it('on SIGTERM flushes every session to the record dir as verified chains', async () => {
    await sidecar?.stop({ graceMs: 30_000 });
    expect(await sidecar?.exited).toEqual({ code: 0, signal: null });
    const all = await transcripts();
    expect(all).toHaveLength(4);
    for (const events of all) {
      expect(verifyChain(events)).toMatchObject({ ok: true });
      expect(events[events.length - 1]?.type).toBe('session.end');
    }
    const approvedSession = all.find((events) => events.some((e) => e.type === 'approval.decided' && e.data.outcome === 'approved'));
    expect(approvedSession?.map((e) => e.type)).toEqual(['session.start', 'approval.requested', 'approval.decided', 'statement', 'statement.result', 'session.end']);
    const decided = approvedSession?.find((e): e is RecordEvent<'approval.decided'> => e.type === 'approval.decided');
    expect(decided?.data).toMatchObject({ approver: 'alice', reason: 'ticket 42' });
    const stmt = approvedSession?.find((e): e is RecordEvent<'statement'> => e.type === 'statement');
    expect(stmt?.data).toMatchObject({
      text: "update orders set status = 'shipped' where id = 1",
      decision: { policy: 'team-a/orders-agent', rule: 'updates-need-review' },
      approvalId: decided?.data.approvalId,
    });
    // Its outcome, written when the backend completed it, points at that decision.
    const result = approvedSession?.find((e): e is RecordEvent<'statement.result'> => e.type === 'statement.result');
    expect(result?.data).toMatchObject({ ref: stmt?.seq, command: 'UPDATE', rows: 1, maskedFields: 0 });
    const summaries = await Promise.all(
      all.map(
        async (events) =>
          JSON.parse(await readFile(join(dir, 'records', `${events[0]!.sessionId}.summary.json`), 'utf8')) as {
            sessionId: string;
            outcome: string;
            connection: string;
            counts: Record<string, number>;
          },
      ),
    );
    expect(summaries.every((s) => s.connection === 'orders-db' && s.outcome === 'ok')).toBe(true);
    expect(summaries.find((s) => s.sessionId === approvedSession?.[0]?.sessionId)?.counts).toEqual({ statements: 1, denied: 0, masked: 0, approvals: 1, rows: 1 });
    // The denied DELETE ran nowhere: a decision, no outcome.
    const deniedSession = all.find((events) => events.some((e) => e.type === 'statement' && e.data.decision.action === 'deny' && e.data.text === 'delete from orders'));
    expect(deniedSession?.some((e) => e.type === 'statement.result')).toBe(false);
    const log = await readFile(join(dir, 'sidecar.log'), 'utf8');
    expect(log).not.toContain(BACKEND_PASSWORD);
  });
});

describe('agentgate-sidecar standalone refusals', () => {
  it('exits 2 naming a protocol that is not supported yet', async () => {
    const file = join(dir, 'ssh.yaml');
    await writeFile(
      file,
      `apiVersion: v1
kind: Secret
metadata: { name: k }
stringData: { password: x }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: box }
spec:
  protocol: ssh
  target: { host: 127.0.0.1, port: 22 }
  ssh: { user: root, hostKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"] }
  credentials: { secretRef: { name: k } }
  listen: { port: 12222 }
`,
    );
    const r = await cli(['standalone', '--config', file, '--state-dir', join(dir, 'ssh-state'), '--admin-port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Connection default/box: protocol ssh not supported yet');
  });

  it('exits 2 listing config errors with file, line and column', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, config().replace("s.kind == 'SELECT')", 's.kind == )').replace('name: orders-db-ca', 'name: other-ca'));
    const r = await cli(['standalone', '--config', file, '--state-dir', join(dir, 'bad-state'), '--admin-port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: AccessPolicy default/orders-agent rule "reads" spec\\.rules\\[0\\]\\.when: `));
    expect(r.stderr).toContain('Secret default/orders-db-ca is not in the config file');
  });
});
