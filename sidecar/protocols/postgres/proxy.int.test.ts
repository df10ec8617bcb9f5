// The PostgreSQL proxy against a real PostgreSQL 15 with real clients (psql,
// node-postgres, pgbench): policy on every statement, sessions that go on
// after a refusal, prepared-statement smuggling, COPY, cancel, notifications,
// authentication, review.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startPostgres, type PgServer, PG_BIN } from '../../../testkit/postgres.js';
import { runCommand } from '../../../testkit/processes.js';
import { encodeBind, encodeDescribe, encodeExecute, encodeParse, encodeQuery, encodeSync } from './frontend-messages.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import { encodeStartupMessage } from './startup-codec.js';
import {
  CONNECTION,
  errorOf,
  pgClientVia,
  policy,
  RawClient,
  psqlVia,
  startTestIssuer,
  testGate,
  type TestGate,
  type TestIssuer,
} from './pg-proxy.test-support.js';

const APP_PASSWORD = 'app-secret-pw-9c1f';

describe('PostgreSQL proxy (real PostgreSQL, real clients)', () => {
  let server: PgServer;
  let issuer: TestIssuer;
  let gate: TestGate;
  let proxy: PostgresListener;
  let token: string;

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql(`CREATE ROLE app_user LOGIN PASSWORD '${APP_PASSWORD}'`);
    await server.sql('CREATE DATABASE app OWNER app_user');
    await server.psql(['-c', `
      CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, qty int NOT NULL);
      CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance int);
      CREATE TABLE audit (id serial PRIMARY KEY, note text);
      INSERT INTO orders (item, qty) SELECT 'item-' || g, g FROM generate_series(1, 10) g;
      INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 50);
    `], { database: 'app', user: 'app_user', password: APP_PASSWORD });
    issuer = await startTestIssuer();
    gate = testGate({
      issuer,
      policies: [
        policy('agent-rules', issuer, {
          rules: [
            { name: 'no-ddl', when: "sql.statements.exists(s, s.kind in ['DROP', 'TRUNCATE', 'ALTER', 'CREATE'])", action: 'deny', message: 'schema changes are not allowed' },
            { name: 'no-deletes', when: "sql.statements.exists(s, s.kind == 'DELETE')", action: 'deny', message: 'deleting is not allowed' },
            { name: 'review-accounts', when: "sql.statements.exists(s, s.kind == 'UPDATE' && 'accounts' in s.tables)", action: 'review', message: 'balance changes need a human' },
            { name: 'everything-else', when: 'true', action: 'allow' },
          ],
          approval: { approvers: { groups: ['dba'] } },
        }),
      ],
    });
    proxy = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: APP_PASSWORD, tls: { mode: 'disable' } },
      gate,
      listenHost: '127.0.0.1',
      listenPort: 0,
    });
    token = await issuer.token();
  });

  afterAll(async () => {
    await proxy?.close();
    await issuer?.close();
    await server?.stop();
  });

  const count = async (table: string): Promise<number> =>
    Number(await server.sql(`SELECT count(*) FROM ${table}`, { database: 'app' }));

  it('runs allowed statements through psql', async () => {
    const r = await psqlVia(proxy.port, token, ['-At', '-c', 'SELECT item FROM orders WHERE id = 3']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('item-3');
  });

  it("answers SSLRequest and GSSENCRequest with 'N' when no client TLS is configured, then goes on", async () => {
    const prefer = await psqlVia(proxy.port, token, ['-At', '-c', 'SELECT 1'], { env: { PGSSLMODE: 'prefer' } });
    expect(prefer.stdout.trim()).toBe('1');
    const c = await RawClient.connect(proxy.port);
    try {
      const code = (n: number): Buffer => {
        const b = Buffer.alloc(8);
        b.writeInt32BE(8, 0);
        b.writeInt32BE(n, 4);
        return b;
      };
      const oneByte = async (): Promise<string> => String.fromCharCode(await c.readByte());
      c.send(code(80877104));
      expect(await oneByte()).toBe('N');
      c.send(code(80877103));
      expect(await oneByte()).toBe('N');
      c.send(encodeStartupMessage({ user: 'agent', database: 'app' }));
      expect((await c.read()).type).toBe('R');
    } finally {
      c.close();
    }
  });

  it('refuses a DELETE with 42501 naming policy and rule, with no effect, and the psql session goes on', async () => {
    const before = await count('orders');
    const r = await psqlVia(proxy.port, token, ['-At', '-v', 'VERBOSITY=verbose'], {
      input: 'DELETE FROM orders;\nSELECT count(*) FROM orders;\n',
    });
    expect(r.stderr).toContain('42501');
    expect(r.stderr).toContain('agentgate: denied by policy team-a/agent-rules rule "no-deletes": deleting is not allowed');
    expect(r.stdout.trim()).toBe(String(before));
    expect(await count('orders')).toBe(before);
  });

  it('keeps a transaction block usable after a refused simple query', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const before = await count('audit');
      await c.query('BEGIN');
      await c.query("INSERT INTO audit (note) VALUES ('one')");
      await expect(c.query('DROP TABLE audit')).rejects.toMatchObject({ code: '42501' });
      await c.query("INSERT INTO audit (note) VALUES ('two')");
      await c.query('COMMIT');
      expect(await count('audit')).toBe(before + 2);
    } finally {
      await c.end();
    }
  });

  it('refuses inside an extended-protocol pipeline and the session goes on', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const ok = await c.query('SELECT qty FROM orders WHERE id = $1', [4]);
      expect(ok.rows).toEqual([{ qty: 4 }]);
      const before = await count('orders');
      // pg sends Parse/Bind/Describe/Execute/Sync for a parameterized query.
      const denied = c.query('DELETE FROM orders WHERE id = $1', [1]);
      const after = c.query('SELECT count(*)::int AS n FROM orders WHERE qty > $1', [0]);
      await expect(denied).rejects.toMatchObject({ code: '42501' });
      expect((await after).rows).toEqual([{ n: before }]);
      expect(await count('orders')).toBe(before);
    } finally {
      await c.end();
    }
  });

  it('fails a whole pipeline segment at the refused message, like a backend error, and discards until Sync', async () => {
    const c = await RawClient.login(proxy.port, token);
    try {
      const step = (sql: string): Buffer => Buffer.concat([encodeParse('', sql), encodeBind('', ''), encodeDescribe('P', ''), encodeExecute('')]);
      c.send(Buffer.concat([
        step("INSERT INTO audit (note) VALUES ('pipeline-1')"),
        step('DELETE FROM audit'),
        step("INSERT INTO audit (note) VALUES ('pipeline-3')"),
        encodeSync(),
        step("SELECT count(*) FROM audit WHERE note LIKE 'pipeline-%'"),
        encodeSync(),
      ]));
      const first = await c.readUntil('Z');
      expect(first.map((m) => m.type).join('')).toBe('12nCE' + 'Z');
      const err = errorOf(first[4] as { type: string; body: Buffer });
      expect(err).toMatchObject({ code: '42501', severity: 'ERROR' });
      expect(err.message).toContain('rule "no-deletes"');
      expect((first[5]?.body ?? Buffer.alloc(0)).toString()).toBe('I');
      const second = await c.readUntil('Z');
      expect(second.map((m) => m.type).join('')).toBe('12TDCZ');
      // The refusal failed the implicit transaction: the first INSERT is rolled back, the third never ran.
      expect(await server.sql("SELECT count(*) FROM audit WHERE note LIKE 'pipeline-%'", { database: 'app' })).toBe('0');
    } finally {
      c.close();
    }
  });

  it('answers pipelined simple queries in order around a refusal', async () => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(Buffer.concat([encodeQuery('SELECT 1'), encodeQuery('DELETE FROM audit'), encodeQuery('SELECT 2')]));
      const a = await c.readUntil('Z');
      const b = await c.readUntil('Z');
      const d = await c.readUntil('Z');
      expect(a.map((m) => m.type).join('')).toBe('TDCZ');
      expect(b.map((m) => m.type).join('')).toBe('EZ');
      expect(errorOf(b[0] as { type: string; body: Buffer }).code).toBe('42501');
      expect(d.map((m) => m.type).join('')).toBe('TDCZ');
      expect(d[1]?.body.subarray(6).toString()).toBe('2');
    } finally {
      c.close();
    }
  });

  it('aborts the transaction block for an extended-protocol refusal, like a backend error would', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      await c.query('BEGIN');
      await expect(c.query('DELETE FROM audit WHERE id = $1', [1])).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await c.query('ROLLBACK');
      expect((await c.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('streams binary results and typed parameters through the extended protocol', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      // pg asks for binary result columns with `binary` (not in its type definitions).
      const binaryQuery = { text: 'SELECT $1::int4 + 1 AS n, $2::text AS t, now() AS ts', values: [41, 'héllo'], binary: true };
      const r = await c.query(binaryQuery as pg.QueryConfig);
      expect(r.rows[0]).toMatchObject({ n: 42, t: 'héllo' });
      const arrayQuery: pg.QueryArrayConfig = { text: 'SELECT id, item FROM orders WHERE id <= $1 ORDER BY id', values: [3], rowMode: 'array' };
      const arr = await c.query(arrayQuery);
      expect(arr.rows).toEqual([[1, 'item-1'], [2, 'item-2'], [3, 'item-3']]);
    } finally {
      await c.end();
    }
  });

  it('blocks prepared-statement smuggling: EXECUTE is decided on the PREPAREd body', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const before = await count('orders');
      // A named protocol-level statement is allowed...
      const named = await c.query({ name: 'get-order', text: 'SELECT item FROM orders WHERE id = $1', values: [2] });
      expect(named.rows).toEqual([{ item: 'item-2' }]);
      // ...a SQL PREPARE of a DELETE is not a DELETE yet, so the policy lets it through...
      await c.query('PREPARE wipe AS DELETE FROM orders');
      // ...but executing it is decided as the DELETE it is, by name, by Bind, or under EXPLAIN ANALYZE.
      await expect(c.query('EXECUTE wipe')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('EXPLAIN ANALYZE EXECUTE wipe')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('EXECUTE nosuchthing')).rejects.toMatchObject({ code: '42501' });
      const again = await c.query({ name: 'get-order', text: 'SELECT item FROM orders WHERE id = $1', values: [2] });
      expect(again.rows).toEqual([{ item: 'item-2' }]);
      expect(await count('orders')).toBe(before);
    } finally {
      await c.end();
    }
  });

  it('decides a Bind of a SQL-PREPAREd statement on its body (no EXECUTE text needed to smuggle)', async () => {
    const c = await RawClient.login(proxy.port, token);
    try {
      const before = await count('audit');
      c.send(encodeQuery('PREPARE wipe2 AS DELETE FROM audit'));
      expect((await c.readUntil('Z')).map((m) => m.type).join('')).toBe('CZ');
      c.send(Buffer.concat([encodeBind('', 'wipe2'), encodeExecute(''), encodeSync()]));
      const r = await c.readUntil('Z');
      expect(r.map((m) => m.type).join('')).toBe('EZ');
      expect(errorOf(r[0] as { type: string; body: Buffer })).toMatchObject({ code: '42501' });
      // A statement name the proxy never saw is refused too (fail closed).
      c.send(Buffer.concat([encodeBind('', 'never-prepared'), encodeExecute(''), encodeSync()]));
      const u = await c.readUntil('Z');
      expect(errorOf(u[0] as { type: string; body: Buffer }).message).toContain('unknown-prepared-statement');
      // DEALLOCATE forgets it: EXECUTE is now unknown, not allowed.
      c.send(encodeQuery('DEALLOCATE wipe2'));
      expect((await c.readUntil('Z')).map((m) => m.type).join('')).toBe('CZ');
      c.send(encodeQuery('EXECUTE wipe2'));
      const d = await c.readUntil('Z');
      expect(errorOf(d[0] as { type: string; body: Buffer })).toMatchObject({ code: '42501' });
      expect(errorOf(d[0] as { type: string; body: Buffer }).message).toContain('unknown-prepared-statement');
      expect(await count('audit')).toBe(before);
    } finally {
      c.close();
    }
  });

  it('relays COPY TO STDOUT and COPY FROM STDIN', async () => {
    const out = await psqlVia(proxy.port, token, ['-c', 'COPY (SELECT id, item FROM orders WHERE id <= 3 ORDER BY id) TO STDOUT']);
    expect(out.stdout).toBe('1\titem-1\n2\titem-2\n3\titem-3\n');
    const before = await count('audit');
    const lines = Array.from({ length: 500 }, (_, i) => `copied-${i}`).join('\n') + '\n\\.\n';
    const inp = await psqlVia(proxy.port, token, ['-c', 'COPY audit (note) FROM STDIN'], { input: lines });
    expect(inp.stderr).toBe('');
    expect(inp.stdout.trim()).toBe('COPY 500');
    expect(await count('audit')).toBe(before + 500);
  });

  it('cancels a running query through the client cancel (keys mapped, never the backend key)', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const backendPid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number };
      const processID = (c as unknown as { processID: number }).processID;
      expect(processID).not.toBe(backendPid.pid);
      const sleeping = c.query('SELECT pg_sleep(30)');
      // Wait until the backend really runs it, then cancel through the proxy (pg's cancel = CancelRequest on a new connection).
      for (let i = 0; i < 100; i++) {
        const state = await server.sql(`SELECT state FROM pg_stat_activity WHERE pid = ${backendPid.pid}`);
        if (state === 'active') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const canceller = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: 'agent', database: 'app', password: token });
      // pg's cancel: a CancelRequest with the key data the proxy gave this client, on a new connection.
      const internals = canceller as unknown as { cancel(target: pg.Client, q: unknown): void };
      internals.cancel(c, (c as unknown as { activeQuery: unknown }).activeQuery);
      await expect(sleeping).rejects.toMatchObject({ code: '57014' });
      const r = await c.query('SELECT 1 AS one');
      expect(r.rows).toEqual([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('ignores a CancelRequest whose key does not match', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
      const running = c.query('SELECT pg_sleep(0.5) AS s, 7 AS n');
      const { connect } = await import('node:net');
      const { encodeCancelRequest } = await import('./startup-codec.js');
      for (const [pid, key] of [[processID, secretKey ^ 1], [processID ^ 1, secretKey]] as const) {
        const s = connect({ host: '127.0.0.1', port: proxy.port });
        await new Promise<void>((resolve) => s.once('connect', () => resolve()));
        s.end(encodeCancelRequest(pid, key));
        await new Promise<void>((resolve) => s.once('close', () => resolve()));
      }
      expect((await running).rows).toEqual([{ s: '', n: 7 }]);
    } finally {
      await c.end();
    }
  });

  it('cancels psql with SIGINT', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn('/usr/bin/psql', ['-X', '-h', '127.0.0.1', '-p', String(proxy.port), '-U', 'agent', '-d', 'app', '-c', 'SELECT pg_sleep(30)'], {
      env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    for (let i = 0; i < 200; i++) {
      const n = await server.sql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'");
      if (n === '1') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain('canceling statement due to user request');
  });

  it('relays LISTEN/NOTIFY notifications', async () => {
    const listener = await pgClientVia(proxy.port, token);
    const notifier = await pgClientVia(proxy.port, token);
    try {
      const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve));
      await listener.query('LISTEN orders_changed');
      await notifier.query("NOTIFY orders_changed, 'order 7'");
      const n = await got;
      expect(n.channel).toBe('orders_changed');
      expect(n.payload).toBe('order 7');
    } finally {
      await listener.end();
      await notifier.end();
    }
  });

  it('refuses a bad token with 28P01 and never reaches the backend', async () => {
    const forged = await issuer.token({}, { key: 'other' });
    for (const bad of [forged, 'not-a-jwt', await issuer.token({}, { expiresIn: '-1m' })]) {
      const r = await psqlVia(proxy.port, bad, ['-c', 'SELECT 1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('agentgate: authentication failed');
    }
    const c = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: 'agent', database: 'app', password: forged });
    await expect(c.connect()).rejects.toMatchObject({ code: '28P01' });
  });

  it('holds a reviewed statement until approved, and refuses it when denied', async () => {
    const c = await pgClientVia(proxy.port, token);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    try {
      const update = c.query('UPDATE accounts SET balance = balance + 1 WHERE id = 1');
      const req = await gate.approvalsCtl.next();
      expect(req.operation).toBe('UPDATE accounts SET balance = balance + 1 WHERE id = 1');
      // Held: the backend has not seen it.
      expect(await server.sql('SELECT balance FROM accounts WHERE id = 1', { database: 'app' })).toBe('100');
      req.decide('approved');
      await update;
      expect(await server.sql('SELECT balance FROM accounts WHERE id = 1', { database: 'app' })).toBe('101');
      expect(notices.some((m) => m.includes(`statement waits for approval: request ${req.id}`))).toBe(true);

      const refused = c.query('UPDATE accounts SET balance = 0 WHERE id = 2');
      const req2 = await gate.approvalsCtl.next();
      req2.decide('denied');
      await expect(refused).rejects.toMatchObject({ code: '42501' });
      expect(await server.sql('SELECT balance FROM accounts WHERE id = 2', { database: 'app' })).toBe('50');
      // The session goes on.
      expect((await c.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('records every decided statement with its decision', async () => {
    const statements = gate.memory.statements();
    const denied = statements.find((s) => s.text === 'DELETE FROM orders;' || s.text.startsWith('DELETE FROM orders'));
    expect(denied?.decision).toMatchObject({ action: 'deny', policy: 'team-a/agent-rules', rule: 'no-deletes' });
    expect(statements.some((s) => s.decision.action === 'allow')).toBe(true);
    expect(JSON.stringify(gate.memory.events)).not.toContain(APP_PASSWORD);
  });

  it('runs pgbench through the proxy', async () => {
    const env = { ...process.env, PGPASSWORD: APP_PASSWORD };
    const init = await runCommand(`${PG_BIN}/pgbench`, ['-i', '-s', '1', '-h', server.host, '-p', String(server.port), '-U', 'app_user', 'app'], { env });
    expect(init.code).toBe(0);
    for (const mode of ['simple', 'extended', 'prepared']) {
      const r = await runCommand(`${PG_BIN}/pgbench`, ['-n', '-t', '50', '-c', '2', '-M', mode, '-h', '127.0.0.1', '-p', String(proxy.port), '-U', 'agent', 'app'], {
        env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'disable' },
        timeoutMs: 120_000,
      });
      expect(r.stderr).not.toMatch(/error|abort/i);
      expect(r.stdout).toContain('number of transactions actually processed: 100/100');
    }
  });
});

