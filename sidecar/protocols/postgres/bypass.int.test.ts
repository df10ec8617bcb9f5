// Append-only bypass suite for the PostgreSQL data path. The agent is hostile:
// every case here is an attempt to change the database past a read-only
// policy, or to get a masked value (or a detector-visible one) out through a
// path the masker might not see. The REAL proxy runs in front of a real
// PostgreSQL 15 with a realistic policy:
// - writes denied (`no-writes`), predicates on masked columns denied
//   (`no-probing-masked`), reads allowed (`reads`, plus harmless session
//   statements in `session`);
// - customers.ssn redacted, customers.card partial (last 4), detectors for
//   pan, ssn and email.
// Row 2 holds an SSN and a card number that no detector recognises (area 987,
// a non-Luhn card), so only lineage can mask them: a leak of those is a
// lineage bypass, not a detector miss.
//
// Each case checks one of two outcomes: refused with 42501 naming the rule
// (and, for writes, the database unchanged), or masked: no raw secret (nor its
// reverse, hex, base64, digits-only form or a card's unkept prefix) appears
// in any byte the client received. A bypass found later gets a case here,
// fixed first; cases are never removed. Unfixed bypasses are listed under
// "Known gaps" in README.md, never pinned by a passing test.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Socket } from 'node:net';
import pg from 'pg';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { frame } from './body-reader.js';
import {
  encodeBind,
  encodeClose,
  encodeDescribe,
  encodeExecute,
  encodeFlush,
  encodeParse,
  encodeQuery,
  encodeSync,
  encodeTerminate,
} from './frontend-messages.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import {
  CONNECTION,
  errorOf,
  pgClientVia,
  policy,
  psqlVia,
  RawClient,
  startTestIssuer,
  testGate,
  type TestGate,
  type TestIssuer,
  type WireMessage,
} from './pg-proxy.test-support.js';
import { encodeStartupMessage } from './startup-codec.js';

const APP_PW = 'app-pw-bypass-5d2e';
const SSN1 = '123-45-6789'; // detector-visible
const SSN2 = '987-65-4321'; // area 987: no detector matches it
const CARD1 = '4111111111111111'; // detector-visible (Visa, Luhn)
const CARD2 = '9999888877776666'; // no detector matches it
const NOTE_CARD = '5500 0055 5555 5559'; // in a free-text column: detectors only
const NOTE_EMAIL = 'eve@example.net';

/** Every form of a secret that must never reach the client. */
function forbiddenForms(): string[] {
  const out = new Set<string>();
  const add = (s: string): void => {
    out.add(s);
    out.add([...s].reverse().join(''));
    out.add(Buffer.from(s).toString('hex'));
    out.add(Buffer.from(s).toString('base64').replace(/=+$/, ''));
  };
  for (const s of [SSN1, SSN2]) {
    add(s);
    add(s.replace(/-/g, ''));
  }
  for (const c of [CARD1, CARD2]) {
    add(c);
    // partial keeps the last 4: the rest is secret.
    add(c.slice(0, 12));
  }
  add(NOTE_CARD);
  add(NOTE_CARD.replace(/ /g, ''));
  add(NOTE_EMAIL);
  return [...out];
}
const FORBIDDEN = forbiddenForms();

/** The forbidden forms found in `bytes` (read both as UTF-8 and, for hex output, case-insensitively). */
function leaksIn(bytes: Buffer, extra: readonly string[] = []): string[] {
  const text = bytes.toString('utf8');
  const lower = text.toLowerCase();
  return [...FORBIDDEN, ...extra].filter((f) => text.includes(f) || lower.includes(f.toLowerCase()));
}

interface Outcome {
  msgs: WireMessage[];
  bytes: Buffer;
  errors: Array<{ code: string; message: string }>;
  /** Text of every value of every DataRow / CopyData. */
  values: string[];
  tags: string[];
}

function outcomeOf(msgs: WireMessage[]): Outcome {
  const bytes = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(m.type, 'latin1'), m.body])));
  const values: string[] = [];
  for (const m of msgs) {
    if (m.type === 'd') values.push(m.body.toString('utf8'));
    if (m.type !== 'D') continue;
    const n = m.body.readInt16BE(0);
    let pos = 2;
    for (let i = 0; i < n; i++) {
      const len = m.body.readInt32BE(pos);
      pos += 4;
      if (len < 0) continue;
      values.push(m.body.toString('utf8', pos, pos + len));
      pos += len;
    }
  }
  return {
    msgs,
    bytes,
    errors: msgs.filter((m) => m.type === 'E').map((m) => errorOf(m)),
    values,
    tags: msgs.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, m.body.length - 1)),
  };
}

/** Refused by the proxy: 42501 with the rule's name (never the backend's own 42501). */
function expectRefused(o: { errors: Array<{ code: string; message: string }> }, rule: string): void {
  expect(o.errors.length).toBeGreaterThan(0);
  const e = o.errors[0] as { code: string; message: string };
  expect(e.code).toBe('42501');
  expect(e.message).toMatch(/^agentgate: denied by /);
  expect(e.message).toContain(`rule "${rule}"`);
}

function expectNoLeak(o: { bytes: Buffer }, extra: readonly string[] = []): void {
  expect(leaksIn(o.bytes, extra)).toEqual([]);
}

describe('PostgreSQL bypass suite (append-only)', () => {
  let server: PgServer;
  let issuer: TestIssuer;
  let gate: TestGate;
  let proxy: PostgresListener;
  let token: string;
  let fingerprint0 = '';

  const superSql = async (text: string): Promise<string> => await server.sql(text, { database: 'app' });

  /** Everything a write could change: rows, objects, sequences, large objects, roles, settings. */
  const fingerprint = async (): Promise<string> =>
    await superSql(`SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
        SELECT 'c:' || c::text FROM customers c
        UNION ALL SELECT 'n:' || n::text FROM notes n
        UNION ALL SELECT 'r:' || relname || relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace
        UNION ALL SELECT 'f:' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        UNION ALL SELECT 's:' || last_value::text || is_called::text FROM ord_seq
        UNION ALL SELECT 'lo:' || count(*)::text FROM pg_largeobject_metadata
        UNION ALL SELECT 'role:' || rolname || rolsuper::text FROM pg_roles
        UNION ALL SELECT 'db:' || array_to_string(setconfig, ',') FROM pg_db_role_setting
      ) t(x)`);

  const expectUnchanged = async (): Promise<void> => {
    expect(await fingerprint()).toBe(fingerprint0);
  };

  /** One simple Query on a fresh session. */
  const simple = async (text: string): Promise<Outcome> => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(encodeQuery(text));
      return outcomeOf(await c.readUntil('Z'));
    } finally {
      c.close();
    }
  };

  /** One simple Query on a fresh session, read up to its ReadyForQuery or to the end of a session the proxy ends. */
  const simpleOrEnd = async (text: string): Promise<Outcome> => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(encodeQuery(text));
      const msgs: WireMessage[] = [];
      for (;;) {
        const m = await c.read().catch(() => undefined);
        if (m === undefined) break;
        msgs.push(m);
        if (m.type === 'Z') break;
      }
      return outcomeOf(msgs);
    } finally {
      c.close();
    }
  };

  /** Several simple Queries on one session, each answered before the next is sent. */
  const simpleSeq = async (texts: readonly string[]): Promise<Outcome[]> => {
    const c = await RawClient.login(proxy.port, token);
    try {
      const out: Outcome[] = [];
      for (const t of texts) {
        c.send(encodeQuery(t));
        out.push(outcomeOf(await c.readUntil('Z')));
      }
      return out;
    } finally {
      c.close();
    }
  };

  /** Raw frames on a fresh session; reads up to the `zs`-th ReadyForQuery. */
  const rawFrames = async (bytes: Buffer, zs = 1): Promise<Outcome> => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(bytes);
      const msgs: WireMessage[] = [];
      for (let i = 0; i < zs; i++) msgs.push(...(await c.readUntil('Z')));
      return outcomeOf(msgs);
    } finally {
      c.close();
    }
  };

  /** Parse/Bind/Describe/Execute/Sync of one statement with text parameters. */
  const extended = async (text: string, params: Array<string | null> = [], resultFormats: number[] = []): Promise<Outcome> =>
    await rawFrames(
      Buffer.concat([encodeParse('', text), encodeBind('', '', params, resultFormats), encodeDescribe('P', ''), encodeExecute(''), encodeSync()]),
    );

  /** A node-postgres client whose every received byte is kept. */
  const pgClient = async (): Promise<{ c: pg.Client; received: () => Buffer }> => {
    const c = await pgClientVia(proxy.port, token);
    const chunks: Buffer[] = [];
    const stream = (c as unknown as { connection: { stream: Socket } }).connection.stream;
    stream.on('data', (b: Buffer) => chunks.push(b));
    return { c, received: () => Buffer.concat(chunks) };
  };

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql(`CREATE ROLE app_user LOGIN PASSWORD '${APP_PW}'`);
    await server.sql('CREATE DATABASE app OWNER app_user');
    await superSql('CREATE EXTENSION dblink');
    await server.psql(['-c', `
      CREATE TABLE customers (id int PRIMARY KEY, name text, ssn text UNIQUE, card text, email text);
      INSERT INTO customers VALUES
        (1, 'Ada', '${SSN1}', '${CARD1}', 'ada@example.com'),
        (2, 'Bob', '${SSN2}', '${CARD2}', 'bob@example.org');
      CREATE TABLE notes (id int PRIMARY KEY, body text);
      INSERT INTO notes VALUES (1, 'paid with ${NOTE_CARD} yesterday'), (2, 'write to ${NOTE_EMAIL}');
      CREATE SEQUENCE ord_seq;
      CREATE PROCEDURE wipe() LANGUAGE sql AS 'DELETE FROM customers';
      CREATE VIEW customer_view AS SELECT id, ssn, card FROM customers;
      ANALYZE customers;
    `], { database: 'app', user: 'app_user', password: APP_PW });
    issuer = await startTestIssuer();
    const SESSION_KINDS = "['SELECT', 'SHOW', 'TRANSACTION', 'DECLARE', 'FETCH', 'CLOSE', 'EXPLAIN', 'PREPARE', 'EXECUTE', 'DEALLOCATE', 'SET', 'RESET', 'DISCARD', 'LISTEN', 'UNLISTEN', 'COPY']";
    gate = testGate({
      issuer,
      policies: [
        policy('bypass', issuer, {
          rules: [
            { name: 'no-writes', when: 'sql.statements.exists(s, s.writes)', action: 'deny', message: 'this agent is read-only' },
            {
              name: 'no-probing-masked',
              when: "sql.statements.exists(s, s.predicateColumns.exists(c, c.column in ['ssn', 'card']))",
              action: 'deny',
              message: 'masked columns cannot be used to choose or order rows',
            },
            { name: 'reads', when: "sql.statements.all(s, s.kind == 'SELECT' && !s.writes)", action: 'allow' },
            { name: 'session', when: `sql.statements.all(s, s.kind in ${SESSION_KINDS} && !s.writes)`, action: 'allow' },
          ],
          masking: {
            columns: [
              { table: 'customers', column: 'ssn', strategy: 'redact' },
              { table: 'customers', column: 'card', strategy: 'partial', keep: 4 },
              // Views are matched by their own name (README "Known gaps"): a policy names their columns too.
              { table: 'customer_view', column: 'ssn', strategy: 'redact' },
              { table: 'customer_view', column: 'card', strategy: 'partial', keep: 4 },
            ],
            detectors: [
              { type: 'pan', strategy: 'redact' },
              { type: 'ssn', strategy: 'redact' },
              { type: 'email', strategy: 'redact' },
            ],
          },
        }),
      ],
    });
    proxy = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: APP_PW, tls: { mode: 'disable' } },
      gate,
      listenPort: 0,
    });
    token = await issuer.token();
    fingerprint0 = await fingerprint();
  });

  afterAll(async () => {
    await proxy?.close();
    await issuer?.close();
    await server?.stop();
  });

  it('the fixture: plain reads work, raw values are in the database, and the checker sees them', async () => {
    const ok = await simple('SELECT id, name FROM customers ORDER BY id');
    expect(ok.errors).toEqual([]);
    expect(ok.values).toEqual(['1', 'Ada', '2', 'Bob']);
    // The secrets really are there (read directly, not through the proxy) ...
    expect(await superSql('SELECT ssn || card FROM customers WHERE id = 2')).toBe(SSN2 + CARD2);
    // ... and the checker would see every form of them.
    expect(leaksIn(Buffer.from(`x${SSN2.split('').reverse().join('')}x`))).not.toEqual([]);
    expect(leaksIn(Buffer.from(Buffer.from(SSN2).toString('hex').toUpperCase()))).not.toEqual([]);
    expect(leaksIn(Buffer.from(CARD2.slice(0, 12)))).not.toEqual([]);
    // Masked columns come back masked (card keeps its last 4).
    const m = await simple('SELECT ssn, card FROM customers WHERE id = 2');
    expect(m.errors).toEqual([]);
    expect(m.values[1]).toMatch(/6666$/);
    expectNoLeak(m);
    await expectUnchanged();
  });

  // ------------------------------------------------------------------ writes

  describe('write smuggling (refused, database unchanged)', () => {
    it.each([
      ['data-modifying CTE', 'WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d'],
      ['data-modifying CTE (UPDATE, count)', "WITH u AS (UPDATE customers SET name = 'x' RETURNING id) SELECT count(*) FROM u"],
      ['data-modifying CTE nested in a subquery', 'SELECT * FROM (WITH d AS (DELETE FROM customers RETURNING id) SELECT id FROM d) s'],
      ['INSERT inside a CTE of a CTE', "WITH a AS (WITH b AS (INSERT INTO notes VALUES (9, 'x') RETURNING id) SELECT id FROM b) SELECT * FROM a"],
      ['EXPLAIN ANALYZE DELETE', 'EXPLAIN ANALYZE DELETE FROM customers'],
      ['EXPLAIN (ANALYZE true) UPDATE', "EXPLAIN (ANALYZE true, FORMAT json) UPDATE customers SET name = 'x'"],
      ['EXPLAIN (ANALYZE) of a data-modifying CTE', 'EXPLAIN (ANALYZE) WITH d AS (DELETE FROM customers RETURNING 1) SELECT 1'],
      ['PREPARE of a DELETE', 'PREPARE p AS DELETE FROM customers'],
      ['PREPARE + EXECUTE in one Query', 'PREPARE p2 AS DELETE FROM customers; EXECUTE p2'],
      ['MERGE', "MERGE INTO customers c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN UPDATE SET name = 'x'"],
      ['SELECT pg_terminate_backend', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()'],
      ['set_config(role)', "SELECT set_config('role', 'postgres', false)"],
      ['set_config(client_encoding)', "SELECT set_config('client_encoding', 'SJIS', false)"],
      ['lo_export', "SELECT lo_export(0, '/tmp/agentgate-bypass-lo')"],
      ['lo_import', "SELECT lo_import('/etc/hostname')"],
      ['lo_from_bytea', "SELECT lo_from_bytea(0, 'x')"],
      ['COPY TO PROGRAM', "COPY customers TO PROGRAM 'touch /tmp/agentgate-bypass-copy'"],
      ['COPY FROM PROGRAM', "COPY notes FROM PROGRAM 'echo 9\tx'"],
      ['COPY TO a server file', "COPY customers TO '/tmp/agentgate-bypass-file'"],
      ['COPY FROM STDIN', 'COPY notes FROM STDIN'],
      ['COPY of a DELETE … RETURNING', 'COPY (DELETE FROM customers RETURNING *) TO STDOUT'],
      ['DO block', 'DO $$ BEGIN DELETE FROM customers; END $$'],
      ['CALL of a procedure that deletes', 'CALL wipe()'],
      ['SELECT … INTO', 'SELECT * INTO stolen FROM customers'],
      ['CREATE TABLE AS', 'CREATE TEMP TABLE stolen AS SELECT * FROM customers'],
      ['CREATE FUNCTION', "CREATE FUNCTION purge() RETURNS int LANGUAGE sql AS 'DELETE FROM customers RETURNING 1'"],
      ['CREATE FUNCTION then calling it, one Query', "CREATE FUNCTION purge() RETURNS int LANGUAGE sql AS 'DELETE FROM customers RETURNING 1'; SELECT purge()"],
      ['nextval', "SELECT nextval('ord_seq')"],
      ['setval', "SELECT setval('ord_seq', 99)"],
      ['SET ROLE', 'SET ROLE postgres'],
      ['SET "ROLE" (GUC names are case-insensitive)', 'SET "ROLE" TO postgres'],
      ['Unicode-escaped set_config', "SELECT U&\"set\\005fconfig\"('role', 'postgres', false)"],
      ['set_config with named arguments', "SELECT pg_catalog.set_config(setting_name => 'role', new_value => 'postgres', is_local => false)"],
      ['SET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION postgres'],
      ['RESET ALL', 'RESET ALL'],
      ['RESET ROLE', 'RESET ROLE'],
      ['SET search_path', 'SET search_path = evil, public'],
      ['SET standard_conforming_strings = off', 'SET standard_conforming_strings = off'],
      ['SET LOCAL standard_conforming_strings', 'SET LOCAL standard_conforming_strings TO off'],
      ['ALTER ROLE … SET', 'ALTER ROLE app_user SET standard_conforming_strings = off'],
      ['DISCARD ALL', 'DISCARD ALL'],
      ['NOTIFY', "NOTIFY ch, 'x'"],
      ['pg_notify', "SELECT pg_notify('ch', 'x')"],
      ['LOCK', 'LOCK customers IN ACCESS EXCLUSIVE MODE'],
      ['VACUUM', 'VACUUM customers'],
      ['ANALYZE', 'ANALYZE customers'],
      ['TRUNCATE', 'TRUNCATE customers'],
      ['GRANT', 'GRANT ALL ON customers TO PUBLIC'],
      ['COMMENT', "COMMENT ON TABLE customers IS 'x'"],
      ['CHECKPOINT (unknown kind)', 'CHECKPOINT'],
      ['txid_current', 'SELECT txid_current()'],
      ['advisory lock', 'SELECT pg_advisory_lock(1)'],
      ['dblink_exec', `SELECT dblink_exec('dbname=app user=app_user password=${APP_PW} host=127.0.0.1', 'DELETE FROM customers')`],
      ['dblink in FROM', `SELECT * FROM dblink('dbname=app user=app_user password=${APP_PW} host=127.0.0.1', 'DELETE FROM customers RETURNING id') AS t(id int)`],
      ['dblink schema-qualified', "SELECT public.dblink_connect('c', 'dbname=app')"],
      ['query_to_xml running a DELETE', "SELECT query_to_xml('DELETE FROM customers RETURNING id', true, false, '')"],
      ['a second statement after a dollar-quoted semicolon', 'SELECT $$;$$; DELETE FROM customers'],
      ['a second statement after an E-string with an escaped quote', "SELECT E'\\';'; DELETE FROM customers"],
      ['a second statement after a nested comment', 'SELECT 1 /* /* */ */; DELETE FROM customers'],
      ['a second statement after a line comment and newline', 'SELECT 1 -- ;\n; DELETE FROM customers'],
      ['Unicode-escaped table name in a DELETE', 'DELETE FROM U&"cust\\006fmers"'],
      ['Unicode escape with UESCAPE', "DELETE FROM U&\"cust!006fmers\" UESCAPE '!'"],
      ['BEGIN; DELETE; ROLLBACK', 'BEGIN; DELETE FROM customers; ROLLBACK'],
      ['SELECT … FOR UPDATE inside a data-modifying CTE', 'WITH d AS (DELETE FROM notes RETURNING id) SELECT * FROM customers FOR UPDATE'],
    ])('%s', async (_name, text) => {
      const o = await simple(text);
      expectRefused(o, 'no-writes');
      expect(o.tags).toEqual([]);
      await expectUnchanged();
    });

    it('a syntax error that hides a DELETE (SELECT * FROM (DELETE …)) is refused as unparseable', async () => {
      const o = await simple('SELECT * FROM (DELETE FROM customers RETURNING *) AS x');
      expectRefused(o, 'unparseable');
      await expectUnchanged();
    });

    it('the same smuggling through the extended protocol with parameters (pg)', async () => {
      const { c, received } = await pgClient();
      try {
        const attempts: Array<[string, unknown[]]> = [
          ['WITH d AS (DELETE FROM customers WHERE id = $1 RETURNING *) SELECT * FROM d', [1]],
          ['SELECT set_config($1, $2, false)', ['role', 'postgres']],
          ['SELECT nextval($1)', ['ord_seq']],
          ['SELECT lo_export($1, $2)', [0, '/tmp/agentgate-bypass-lo2']],
          ['EXPLAIN ANALYZE UPDATE customers SET name = $1', ['x']],
          ['SELECT dblink_exec($1, $2)', [`dbname=app user=app_user password=${APP_PW} host=127.0.0.1`, 'DELETE FROM customers']],
          ['CALL wipe()', []],
        ];
        for (const [text, values] of attempts) {
          const err = await c.query(text, values).then(
            () => undefined,
            (e: unknown) => e as { code?: string; message?: string },
          );
          expect({ text, code: err?.code }).toEqual({ text, code: '42501' });
          expect(err?.message).toContain('rule "no-writes"');
        }
        // The session goes on.
        expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await c.end();
      }
      expectNoLeak({ bytes: received() });
      await expectUnchanged();
    });

    it('PREPARE of a SELECT, then EXECUTE, runs the SELECT (control)', async () => {
      const [p, e] = await simpleSeq(['PREPARE ok AS SELECT id FROM customers ORDER BY id', 'EXECUTE ok']);
      expect(p?.errors).toEqual([]);
      expect(e?.values).toEqual(['1', '2']);
      await expectUnchanged();
    });

    it('DEALLOCATE and re-PREPARE the same name with a DELETE: the EXECUTE is refused', async () => {
      const rs = await simpleSeq([
        'PREPARE q AS SELECT id FROM customers',
        'DEALLOCATE q',
        'PREPARE q AS DELETE FROM customers',
        'EXECUTE q',
        'DEALLOCATE q; PREPARE q AS DELETE FROM customers; EXECUTE q',
      ]);
      expect(rs[0]?.errors).toEqual([]);
      expect(rs[1]?.errors).toEqual([]);
      expectRefused(rs[2] as Outcome, 'no-writes');
      expectRefused(rs[3] as Outcome, 'unknown-prepared-statement');
      expectRefused(rs[4] as Outcome, 'no-writes');
      await expectUnchanged();
    });

    it('a PREPARE that the backend refuses as a duplicate cannot swap the body an EXECUTE is judged on', async () => {
      // q2 exists as a SELECT; the second PREPARE fails at the backend (duplicate); EXECUTE still runs the SELECT.
      const rs = await simpleSeq(['PREPARE q2 AS SELECT 1 AS one', 'PREPARE q2 AS SELECT 2 AS two', 'EXECUTE q2']);
      expect(rs[1]?.errors[0]?.code).toBe('42P05');
      expect(rs[2]?.values).toEqual(['1']);
      await expectUnchanged();
    });

    it('a Parse of an allowed unnamed statement, then a refused Parse, then Bind/Execute: nothing runs', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeParse('', 'SELECT id FROM customers'),
          encodeParse('', 'DELETE FROM customers'),
          encodeBind('', ''),
          encodeExecute(''),
          encodeSync(),
        ]),
      );
      expectRefused(o, 'no-writes');
      expect(o.tags).toEqual([]);
      await expectUnchanged();
    });

    it('the refused Parse is not the unnamed statement afterwards: a later Bind runs the allowed one', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeParse('', 'SELECT 7 AS seven'),
          encodeSync(),
          encodeParse('', 'DELETE FROM customers RETURNING 7'),
          encodeSync(),
          encodeBind('', ''),
          encodeExecute(''),
          encodeSync(),
        ]),
        3,
      );
      expectRefused(o, 'no-writes');
      expect(o.values).toEqual(['7']);
      expect(o.tags).toEqual(['SELECT 1']);
      await expectUnchanged();
    });

    it('a Close of a named statement, then a refused re-Parse of the name: the Bind is refused', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeParse('s1', 'SELECT 1'),
          encodeClose('S', 's1'),
          encodeSync(),
          encodeParse('s1', 'DELETE FROM customers'),
          encodeSync(),
          encodeBind('', 's1'),
          encodeExecute(''),
          encodeSync(),
        ]),
        3,
      );
      expect(o.errors.map((e) => e.code)).toEqual(['42501', '42501']);
      expect(o.errors[1]?.message).toContain('rule "unknown-prepared-statement"');
      await expectUnchanged();
    });

    it('a Bind of a statement made by SQL PREPARE is judged on its body', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeQuery('PREPARE sq AS SELECT 1'),
          encodeBind('', 'sq'),
          encodeExecute(''),
          encodeSync(),
        ]),
        2,
      );
      expect(o.errors).toEqual([]);
      expect(o.values).toEqual(['1']);
    });

    it('a pipeline without Sync: a refused Parse stops everything up to the Sync, even after a Flush', async () => {
      const c = await RawClient.login(proxy.port, token);
      try {
        c.send(
          Buffer.concat([
            encodeParse('', 'SELECT 1'),
            encodeBind('', ''),
            encodeExecute(''),
            encodeParse('', "UPDATE customers SET name = 'x'"),
            encodeBind('', ''),
            encodeExecute(''),
            encodeFlush(),
          ]),
        );
        // The first Execute's answers and the refusal arrive without a Sync.
        const before = await c.readUntil('E');
        expect(errorOf(before[before.length - 1] as WireMessage).code).toBe('42501');
        // Statements after the refusal, still without a Sync, are discarded (as the backend would).
        c.send(Buffer.concat([encodeQuery('DELETE FROM customers'), encodeParse('', 'DELETE FROM notes'), encodeBind('', ''), encodeExecute(''), encodeSync()]));
        const after = outcomeOf(await c.readUntil('Z'));
        expect(after.tags).toEqual([]);
      } finally {
        c.close();
      }
      await expectUnchanged();
    });

    it('a statement over 1 MiB is refused (not parsed, not truncated)', async () => {
      const pad = ' '.repeat(1024 * 1024);
      const o = await simple(`SELECT 1 /*${pad}*/; DELETE FROM customers`);
      expectRefused(o, 'unparseable');
      const o2 = await extended(`SELECT 1${pad}`);
      expectRefused(o2, 'unparseable');
      await expectUnchanged();
    });

    it('a Parse with a NUL inside its text reads as its first C string only (and the rest is malformed)', async () => {
      const body = Buffer.concat([Buffer.from('\0SELECT 1\0DELETE FROM customers\0'), Buffer.from([0, 0])]);
      const c = await RawClient.login(proxy.port, token);
      try {
        c.send(Buffer.concat([frame('P', body), encodeSync()]));
        const msgs = await c.readToClose();
        const e = msgs.find((m) => m.type === 'E');
        expect(e === undefined ? undefined : errorOf(e).code).toBe('08P01');
      } finally {
        c.close();
      }
      await expectUnchanged();
    });

    it('a fast-path FunctionCall (lo_unlink by OID) is refused', async () => {
      // FunctionCall: OID 964 (lo_unlink), one text-format int argument, text result.
      const arg = Buffer.from('0');
      const body = Buffer.concat([
        Buffer.from([0, 0, 0x03, 0xc4]),
        Buffer.from([0, 1, 0, 0]),
        Buffer.from([0, 1]),
        Buffer.from([0, 0, 0, arg.length]),
        arg,
        Buffer.from([0, 0]),
      ]);
      const o = await rawFrames(frame('F', body));
      expectRefused(o, 'function-call');
      await expectUnchanged();
    });

    it('psql \\lo_import / \\lo_export use the fast path: refused', async () => {
      const r = await psqlVia(proxy.port, token, ['-c', '\\lo_import /etc/hostname']);
      expect(r.stderr).toContain('agentgate');
      const r2 = await psqlVia(proxy.port, token, ['-c', '\\lo_export 1 /tmp/agentgate-bypass-lo3']);
      expect(r2.code).not.toBe(0);
      await expectUnchanged();
    });

    it('psql \\copy FROM STDIN is refused', async () => {
      const r = await psqlVia(proxy.port, token, ['-c', '\\copy notes FROM STDIN'], { input: '9\tx\n\\.\n' });
      expect(r.stderr).toContain('rule "no-writes"');
      await expectUnchanged();
    });

    it('the COPY sub-protocol: CopyData and a Query sent after a refused COPY FROM STDIN change nothing', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeQuery('COPY notes FROM STDIN'),
          frame('d', Buffer.from('9\tsmuggled\n')),
          frame('c', Buffer.alloc(0)),
          encodeQuery('DELETE FROM customers'),
          encodeQuery('SELECT 1'),
        ]),
        3,
      );
      expect(o.errors.map((e) => e.code)).toEqual(['42501', '42501']);
      expect(o.values).toEqual(['1']);
      await expectUnchanged();
    });

    it('a Query pipelined behind a COPY TO STDOUT is judged on its own', async () => {
      const o = await rawFrames(Buffer.concat([encodeQuery('COPY (SELECT id FROM customers) TO STDOUT'), encodeQuery('DELETE FROM customers')]), 2);
      expect(o.values).toEqual(['1\n', '2\n']);
      expectRefused({ errors: o.errors }, 'no-writes');
      await expectUnchanged();
    });

    it('DECLARE … FOR UPDATE: a row lock, not a write; the facts say so and nothing changes', async () => {
      const rs = await simpleSeq(['BEGIN', 'DECLARE cu CURSOR FOR SELECT id FROM customers FOR UPDATE', 'FETCH ALL FROM cu', 'ROLLBACK']);
      expect(rs[1]?.errors).toEqual([]);
      expect(rs[2]?.values).toEqual(['1', '2']);
      const declared = gate.memory.statements().find((s) => s.text.startsWith('DECLARE cu'));
      expect(declared?.decision.action).toBe('allow');
      await expectUnchanged();
    });

    it('LISTEN is allowed (session rule), NOTIFY refused', async () => {
      const rs = await simpleSeq(['LISTEN ch', "NOTIFY ch, 'x'"]);
      expect(rs[0]?.errors).toEqual([]);
      expectRefused(rs[1] as Outcome, 'no-writes');
    });

    it('TABLE customers and VALUES are reads (TABLE is masked)', async () => {
      const t = await simple('TABLE customers');
      expect(t.errors).toEqual([]);
      expect(t.values).toContain('Bob');
      expectNoLeak(t);
      const v = await simple("VALUES (1, 'a')");
      expect(v.values).toEqual(['1', 'a']);
    });

    it('SET client_encoding away from UTF8 ends the session before anything is read differently', async () => {
      const c = await RawClient.login(proxy.port, token);
      try {
        c.send(Buffer.concat([encodeQuery("SET client_encoding TO 'SJIS'"), encodeQuery('SELECT 1')]));
        const msgs = await c.readToClose();
        const fatal = msgs.find((m) => m.type === 'E');
        expect(fatal === undefined ? undefined : errorOf(fatal).code).toBe('0A000');
        expect(msgs.some((m) => m.type === 'D')).toBe(false);
      } finally {
        c.close();
      }
      const inTx = await simpleSeq(['BEGIN']);
      expect(inTx[0]?.errors).toEqual([]);
    });

    it('startup parameters cannot change client_encoding, standard_conforming_strings or the role', async () => {
      const c = await RawClient.connect(proxy.port);
      try {
        c.send(
          encodeStartupMessage({
            user: 'agent',
            database: 'app',
            client_encoding: 'SJIS',
            options: '-c standard_conforming_strings=off -c role=postgres',
            standard_conforming_strings: 'off',
          }),
        );
        const auth = await c.read();
        expect(auth.type).toBe('R');
        c.send(frame('p', Buffer.from(`${token}\0`)));
        const start = await c.readUntil('Z');
        const params = new Map(
          start.filter((m) => m.type === 'S').map((m) => {
            const [k, v] = m.body.toString('utf8').split('\0');
            return [k, v];
          }),
        );
        expect(params.get('client_encoding')).toBe('UTF8');
        expect(params.get('standard_conforming_strings')).toBe('on');
        c.send(encodeQuery('SELECT current_user, current_setting(\'standard_conforming_strings\')'));
        const o = outcomeOf(await c.readUntil('Z'));
        expect(o.values).toEqual(['app_user', 'on']);
        c.send(encodeTerminate());
      } finally {
        c.close();
      }
    });
  });

  // ------------------------------------------------------------------ masking

  describe('masking bypass (no raw value reaches the client)', () => {
    it.each([
      ['renamed', 'SELECT ssn AS x, card AS y FROM customers'],
      ['table alias', 'SELECT c.ssn, c.card FROM customers c'],
      ['schema-qualified', 'SELECT public.customers.ssn FROM public.customers'],
      ['Unicode-escaped column name', 'SELECT U&"\\0073sn" FROM customers'],
      ['TABLE command', 'TABLE customers'],
      ['star', 'SELECT * FROM customers'],
      ['whole row', 'SELECT c FROM customers c'],
      ['whole row field', 'SELECT (c).ssn, (c).card FROM customers c'],
      ['whole row star', 'SELECT (c).* FROM customers c'],
      ['::bytea', 'SELECT ssn::bytea, card::bytea FROM customers'],
      ['encode hex', "SELECT encode(ssn::bytea, 'hex'), encode(card::bytea, 'base64') FROM customers"],
      ['reverse', 'SELECT reverse(card), reverse(ssn) FROM customers'],
      ['upper', 'SELECT upper(ssn), lower(card) FROM customers'],
      ['substring', 'SELECT substring(ssn, 1, 3) AS a, substring(card, 1, 12) AS b FROM customers'],
      ['string_agg', "SELECT string_agg(ssn, ','), string_agg(card, ',') FROM customers"],
      ['array_agg', 'SELECT array_agg(ssn), array_agg(card) FROM customers'],
      ['to_json', 'SELECT to_json(c) FROM customers c'],
      ['row_to_json', 'SELECT row_to_json(c) FROM customers c'],
      ['json_agg', 'SELECT json_agg(c) FROM customers c'],
      ['jsonb_build_object', "SELECT jsonb_build_object('s', ssn, 'c', card) FROM customers"],
      ['format', "SELECT format('%s|%s', ssn, card) FROM customers"],
      ['concatenation', "SELECT ssn || '', card || '' FROM customers"],
      ['ARRAY and ROW constructors', 'SELECT ARRAY[ssn], ROW(card, 1) FROM customers'],
      ['scalar subquery', 'SELECT (SELECT ssn FROM customers WHERE id = 2) AS s, (SELECT card FROM customers WHERE id = 2) AS c'],
      ['CTE', 'WITH x AS (SELECT ssn, card FROM customers) SELECT * FROM x'],
      ['CTE renamed by a column list', 'WITH x(a, b) AS (SELECT ssn, card FROM customers) SELECT a, b FROM x'],
      ['recursive CTE', 'WITH RECURSIVE r(s) AS (SELECT ssn FROM customers UNION ALL SELECT s FROM r WHERE false) SELECT s FROM r'],
      ['subquery in FROM with alias list', 'SELECT a, b FROM (SELECT ssn, card FROM customers) q(a, b)'],
      ['table alias column list', 'SELECT x, y FROM customers AS c(i, n, x, y)'],
      ['LATERAL', 'SELECT l.s FROM customers c, LATERAL (SELECT c.ssn AS s) l'],
      ['UNION ALL with a constant', "SELECT ssn FROM customers UNION ALL SELECT 'x'"],
      ['VALUES over a scalar subquery', 'SELECT * FROM (VALUES ((SELECT ssn FROM customers WHERE id = 2))) v(s)'],
      ['unnest(array_agg)', 'SELECT unnest(array_agg(ssn)) FROM customers'],
      ['window function over a masked column', 'SELECT lag(ssn) OVER (), first_value(card) OVER () FROM customers'],
      ['xmlelement', 'SELECT xmlelement(name x, ssn) FROM customers'],
      ['length (computed: masked whole)', 'SELECT length(ssn) AS l FROM customers'],
      ['CASE over a masked column', "SELECT CASE WHEN ssn LIKE '9%' THEN 'nine' ELSE 'other' END FROM customers"],
      ['aggregate ORDER BY a masked column', 'SELECT string_agg(id::text, \',\' ORDER BY ssn) FROM customers'],
      ['ts_stat (SQL text run by a function)', "SELECT * FROM ts_stat('SELECT to_tsvector(''simple'', ssn) FROM customers')"],
      ['pg_stats (planner statistics keep column values)', "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE tablename = 'customers'"],
      ['pg_stats star', "SELECT * FROM pg_stats WHERE tablename = 'customers'"],
      ['ts_stat over digits only', "SELECT * FROM ts_stat('SELECT to_tsvector(''simple'', replace(ssn, ''-'', '''') || '' '' || card) FROM customers')"],
      ['ts_rewrite running a query', "SELECT ts_rewrite('a'::tsquery, 'SELECT to_tsquery(''simple'', ''a''), to_tsquery(''simple'', replace(ssn, ''-'', '''')) FROM customers')"],
      ['a view whose columns the policy names', 'SELECT * FROM customer_view'],
      ['a view, computed', 'SELECT reverse(ssn), card || \'\' FROM customer_view'],
      ['COLLATE', 'SELECT ssn COLLATE "C", card COLLATE "C" FROM customers'],
      ['::varchar', 'SELECT ssn::varchar, card::varchar(40) FROM customers'],
      ['coalesce', "SELECT coalesce(ssn, ''), nullif(card, '') FROM customers"],
      ['scalar subquery over the outer row', 'SELECT (SELECT c.ssn), (SELECT c.card) FROM customers c'],
      ['array subscript of an aggregate', 'SELECT (array_agg(ssn))[2], (array_agg(card))[2] FROM customers'],
      ['jsonb path over the whole row', "SELECT jsonb_path_query(to_jsonb(c), '$.ssn'), to_jsonb(c)->>'card' FROM customers c"],
      ['FILTER over a masked column (the aggregate is masked whole)', "SELECT count(*) FILTER (WHERE ssn LIKE '9%') FROM customers"],
      ['count of a masked column', 'SELECT count(ssn), count(DISTINCT card) FROM customers'],
      ['free-text column with a card number and an email', 'SELECT body FROM notes'],
      ['free-text, computed', "SELECT upper(body), body || '' FROM notes"],
    ])('%s (simple protocol)', async (_name, text) => {
      const o = await simple(text);
      if (o.errors.length > 0) {
        // A refusal is also safe; but it must be ours, and it must not echo values.
        expect(o.errors[0]?.message).toMatch(/^agentgate: denied by /);
      }
      expectNoLeak(o);
    });

    it.each([
      ['SELECT ssn, card FROM customers WHERE id = $1', ['2']],
      ['SELECT ssn::bytea AS b, reverse(card) AS r FROM customers WHERE id >= $1', ['1']],
      ["SELECT string_agg(ssn || $1, ',') FROM customers", ['!']],
      ['SELECT row_to_json(c) FROM customers c WHERE id = $1', ['2']],
    ])('%s (extended protocol, text results)', async (text, params) => {
      const o = await extended(text, params);
      expect(o.errors).toEqual([]);
      expect(o.values.length).toBeGreaterThan(0);
      expectNoLeak(o);
    });

    it('binary result format (extended protocol, all columns binary)', async () => {
      const o = await extended('SELECT * FROM customers', [], [1]);
      expect(o.errors).toEqual([]);
      expectNoLeak(o);
      const o2 = await extended('SELECT reverse(ssn), card::bytea, to_jsonb(c) FROM customers c', [], [1]);
      expect(o2.errors).toEqual([]);
      expectNoLeak(o2);
    });

    it('binary results through pg (binary: true)', async () => {
      const { c, received } = await pgClient();
      try {
        const r = await c.query({ text: 'SELECT * FROM customers WHERE id > $1', values: [0], binary: true } as pg.QueryConfig);
        expect(r.rows).toHaveLength(2);
        await c.query({ text: 'SELECT ssn::bytea, reverse(card) FROM customers', binary: true } as pg.QueryConfig);
      } finally {
        await c.end();
      }
      expectNoLeak({ bytes: received() });
    });

    it('COPY (SELECT …) TO STDOUT and COPY table TO STDOUT (text and CSV), psql \\copy', async () => {
      for (const text of [
        'COPY (SELECT ssn, card, reverse(ssn) FROM customers) TO STDOUT',
        'COPY customers TO STDOUT',
        'COPY customers TO STDOUT WITH (FORMAT csv, HEADER)',
        'COPY (SELECT row_to_json(c) FROM customers c) TO STDOUT',
        'COPY (SELECT * FROM customer_view) TO STDOUT',
        'COPY notes TO STDOUT',
        'COPY (SELECT id, ssn AS csv, card AS "CSV" FROM customers) TO STDOUT',
        "COPY (SELECT 'csv', ssn, card FROM customers) TO STDOUT",
        'COPY (SELECT id, ssn, card FROM customers) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)',
        "COPY (SELECT id, ssn, card FROM customers) TO STDOUT WITH (FORMAT csv, NULL 'x', HEADER true)",
        "COPY (SELECT id, ssn, card FROM customers) TO STDOUT WITH (ENCODING 'SQL_ASCII')",
        'COPY (SELECT id, ssn, card FROM customers) TO STDOUT CSV',
        "COPY (SELECT id, ssn, card FROM customers) TO STDOUT (FORMAT 'csv')",
      ]) {
        // Masked, or (a format it cannot parse) refused by ending the session; never out unmasked.
        const o = await simpleOrEnd(text);
        if (o.errors.length > 0) expect(o.errors[0]?.message).toMatch(/^agentgate: /);
        expect({ text, leaks: leaksIn(o.bytes) }).toEqual({ text, leaks: [] });
      }
      // Without a column list every column takes the table's strictest rule.
      const r = await psqlVia(proxy.port, token, ['-c', '\\copy customers TO STDOUT']);
      expect(r.stdout.trim().split('\n')).toHaveLength(2);
      expect(leaksIn(Buffer.from(r.stdout + r.stderr))).toEqual([]);
    });

    it('binary COPY and COPY with custom delimiters end the session rather than go out unmasked', async () => {
      for (const text of [
        'COPY customers TO STDOUT WITH (FORMAT binary)',
        "COPY customers TO STDOUT WITH (DELIMITER '|')",
        "COPY (SELECT ssn, card FROM customers) TO STDOUT WITH (FORMAT csv, QUOTE '''')",
        "COPY (SELECT id, ssn, card FROM customers) TO STDOUT WITH (ENCODING 'SJIS')",
      ]) {
        const o = await simpleOrEnd(text);
        expect({ text, error: o.errors[0]?.message.startsWith('agentgate: ') }).toEqual({ text, error: true });
        expect(o.msgs.some((m) => m.type === 'Z')).toBe(false);
        expect({ text, leaks: leaksIn(o.bytes) }).toEqual({ text, leaks: [] });
      }
    });

    it.each([
      ['SELECT ssn::int FROM customers'],
      ['SELECT card::int FROM customers'],
      ['SELECT ssn::date FROM customers'],
      ['SELECT ssn::uuid FROM customers WHERE id = 2'],
      ['SELECT ssn::json FROM customers WHERE id = 2'],
      ["SELECT (card || 'x')::json FROM customers WHERE id = 2"],
      ["SELECT ('[' || ssn)::jsonb FROM customers WHERE id = 2"],
      ['SELECT ssn::regclass FROM customers WHERE id = 2'],
      ["SELECT xmlparse(document '<a>' || ssn || '</b>') FROM customers WHERE id = 2"],
      ["SELECT to_number(ssn, 'x') FROM customers WHERE id = 2"],
      ['SELECT ssn::numeric FROM customers WHERE id = 2'],
      ["SELECT ('\\x' || ssn)::bytea FROM customers WHERE id = 2"],
      ["SELECT convert_from('\\xf0'::bytea || substring(ssn, 1, 3)::bytea, 'UTF8') FROM customers WHERE id = 2"],
      ["SELECT convert_from('\\xf0'::bytea || substring(card, 1, 3)::bytea, 'UTF8') FROM customers WHERE id = 2"],
      ["SELECT (ssn || '<')::xml FROM customers WHERE id = 2"],
      ["SELECT to_date(ssn, 'YYYY-MM-DD') FROM customers WHERE id = 2"],
      ["SELECT ssn::interval FROM customers WHERE id = 2"],
      ["SELECT (ssn || ' ?')::jsonpath FROM customers WHERE id = 2"],
      ["SELECT ssn::int FROM customer_view WHERE id = 2"],
    ])('an error that echoes the value: %s', async (text) => {
      // Also the bytes of SSN2's and CARD2's first three characters, as an encoding error prints them.
      const partial = ['0x39 0x38 0x37', '0x39 0x39 0x39'];
      const o = await simple(text);
      expect(o.errors.length).toBeGreaterThan(0);
      expectNoLeak(o, partial);
      const e = await extended(text);
      expect(e.errors.length).toBeGreaterThan(0);
      expectNoLeak(e, partial);
    });

    it('a unique violation echoing a value (INSERT is refused before it runs anyway)', async () => {
      const o = await simple(`INSERT INTO customers (id, ssn) VALUES (3, '${SSN2}')`);
      expectRefused(o, 'no-writes');
      // The refusal does not echo the statement text back.
      expectNoLeak(o);
    });

    it('cursor FETCH of masked and computed columns (simple and extended, comments before FETCH)', async () => {
      const rs = await simpleSeq([
        'BEGIN',
        'DECLARE c1 CURSOR FOR SELECT ssn, reverse(card) AS r, row_to_json(c) AS j FROM customers c',
        'FETCH 1 FROM c1',
        '/* comment */ FETCH ALL FROM c1',
        'MOVE ABSOLUTE 0 IN c1',
        'FETCH FORWARD 2 IN c1',
        'CLOSE c1',
        'DECLARE "C2" CURSOR FOR SELECT upper(ssn) FROM customers',
        'FETCH ALL FROM "C2"',
        'COMMIT',
      ]);
      for (const r of rs) {
        expect(r.errors).toEqual([]);
        expectNoLeak(r);
      }
      expect(rs[2]?.values).toHaveLength(3);
      const e = await rawFrames(
        Buffer.concat([
          encodeQuery('BEGIN'),
          encodeQuery('DECLARE c3 CURSOR FOR SELECT reverse(ssn) FROM customers'),
          encodeParse('', 'FETCH ALL FROM c3'),
          encodeBind('', ''),
          encodeExecute(''),
          encodeSync(),
        ]),
        3,
      );
      expect(e.errors).toEqual([]);
      expect(e.values).toHaveLength(2);
      expectNoLeak(e);
    });

    it('a cursor re-DECLAREd under the same name (the backend refuses the duplicate) keeps its lineage', async () => {
      const rs = await simpleSeq([
        'BEGIN',
        'DECLARE dup CURSOR WITH HOLD FOR SELECT reverse(ssn) AS r FROM customers',
        'COMMIT',
        'BEGIN',
        "DECLARE dup CURSOR FOR SELECT 'harmless' AS r",
        'ROLLBACK',
        'FETCH ALL FROM dup',
        'CLOSE dup',
      ]);
      expect(rs[4]?.errors[0]?.code).toBe('42P03');
      expect(rs[6]?.values).toHaveLength(2);
      for (const r of rs) expectNoLeak(r);
    });

    it('a named Parse that the backend refuses as a duplicate cannot swap the lineage a Bind is masked with', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeParse('n1', 'SELECT reverse(ssn) AS r FROM customers'),
          encodeSync(),
          encodeParse('n1', "SELECT 'harmless' AS r"),
          encodeSync(),
          encodeBind('', 'n1'),
          encodeExecute(''),
          encodeSync(),
        ]),
        3,
      );
      expect(o.errors.map((e) => e.code)).toEqual(['42P05']);
      expect(o.values).toHaveLength(2);
      expectNoLeak(o);
    });

    it('a PREPARE the backend refuses as a duplicate (after a DEALLOCATE it ignored) cannot swap the lineage', async () => {
      const rs = await simpleSeq([
        'PREPARE pp AS SELECT reverse(ssn) AS r FROM customers',
        'BEGIN',
        'SELECT 1/0',
        'DEALLOCATE pp', // ignored by the backend: the transaction is aborted
        'ROLLBACK',
        "PREPARE pp AS SELECT 'harmless' AS r", // the backend still has pp: duplicate
        'EXECUTE pp',
      ]);
      expect(rs[3]?.errors[0]?.code).toBe('25P02');
      const last = rs[rs.length - 1] as Outcome;
      for (const r of rs) expectNoLeak(r);
      // Either refused (the proxy forgot pp) or masked; never the raw values.
      if (last.errors.length === 0) expect(last.values).toHaveLength(2);
    });

    it('an unnamed Parse skipped by the backend (an earlier error in its pipeline) cannot swap the lineage of the unnamed statement', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeParse('', 'SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers'),
          encodeSync(),
          // The Execute of a portal that does not exist fails; the Parse behind it is skipped.
          encodeExecute('no_such_portal'),
          encodeParse('', "SELECT 'harmless' AS r, 'x' AS c"),
          encodeSync(),
          encodeBind('', ''),
          encodeExecute(''),
          encodeSync(),
        ]),
        3,
      );
      expect(o.errors.map((e) => e.code)).toEqual(['34000']);
      expect(o.values).toHaveLength(4);
      expectNoLeak(o);
    });

    it('a Close and a named Parse skipped by the backend cannot swap the lineage of the name', async () => {
      const o = await rawFrames(
        Buffer.concat([
          encodeParse('n2', 'SELECT reverse(ssn) AS r FROM customers'),
          encodeSync(),
          // The Execute fails; the Close and the Parse behind it are skipped: n2 stays what it was.
          encodeExecute('no_such_portal'),
          encodeClose('S', 'n2'),
          encodeParse('n2', "SELECT 'harmless' AS r"),
          encodeSync(),
          encodeBind('', 'n2'),
          encodeExecute(''),
          encodeSync(),
        ]),
        3,
      );
      expect(o.errors.map((e) => e.code)).toEqual(['34000']);
      expect(o.values).toHaveLength(2);
      expectNoLeak(o);
    });

    it('an EXECUTE with two candidate bodies, followed by another statement, keeps each result set its own lineage', async () => {
      const rs = await simpleSeq([
        'PREPARE two AS SELECT reverse(ssn) AS r FROM customers',
        "PREPARE two AS SELECT 'harmless' AS r",
        'EXECUTE two; SELECT reverse(card) AS c FROM customers',
      ]);
      expect(rs[1]?.errors[0]?.code).toBe('42P05');
      expect(rs[2]?.values).toHaveLength(4);
      for (const r of rs) expectNoLeak(r);
    });

    it.each([
      ['SHOW', 'SHOW search_path; SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers'],
      ['EXPLAIN', 'EXPLAIN SELECT 1; SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers'],
      ['PREPARE', "PREPARE h AS SELECT 'x' AS r, 'y' AS c; SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers"],
      ['DECLARE', "BEGIN; DECLARE h CURSOR FOR SELECT 'x' AS r, 'y' AS c; SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers; COMMIT"],
      ['FETCH of an unknown cursor', "SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers; FETCH ALL FROM nowhere"],
      ['MOVE', "BEGIN; DECLARE m CURSOR FOR SELECT 'x' AS r, 'y' AS c; MOVE ALL IN m; SELECT reverse(ssn) AS r, reverse(card) AS c FROM customers; COMMIT"],
    ])('a multi-statement Query whose first statement is %s: each result set is masked by its own statement', async (_name, text) => {
      const o = await simple(text);
      expect(o.values.length).toBeGreaterThanOrEqual(4);
      expectNoLeak(o);
    });

    it('debug notices (client_min_messages, debug_print_plan) are masked like errors', async () => {
      const rs = await simpleSeq(['SET client_min_messages = debug5', 'SET debug_print_plan = on', 'SELECT reverse(ssn), reverse(card) FROM customers']);
      for (const r of rs) expectNoLeak(r);
      expect(rs[2]?.values).toHaveLength(4);
    });

    it('a NOTIFY payload from another session (a trigger sending row_to_json) is masked', async () => {
      const c = await RawClient.login(proxy.port, token);
      try {
        c.send(encodeQuery('LISTEN changes'));
        await c.readUntil('Z');
        const payload = JSON.stringify({ id: 3, ssn: SSN1, card: CARD1, email: NOTE_EMAIL, note: `card ${NOTE_CARD}` });
        await superSql(`NOTIFY changes, '${payload}'`);
        const a = (await c.readUntil('A')).pop();
        expect(a?.type).toBe('A');
        expect(a === undefined ? [] : leaksIn(a.body)).toEqual([]);
        expect(a?.body.toString('utf8')).toContain('"id":3');
      } finally {
        c.close();
      }
    });

    it('length(ssn) is computed from a masked column: masked whole (0), not the length', async () => {
      const o = await simple('SELECT length(ssn) AS l, length(card) AS c, length(name) AS n FROM customers ORDER BY id');
      expect(o.errors).toEqual([]);
      expect(o.values).toEqual(['0', '0', '3', '0', '0', '3']);
    });

    it('the n-th COPY of a multi-statement Query is masked by the n-th COPY statement', async () => {
      const o = await simple("COPY (SELECT 'x', 'y') TO STDOUT; COPY (SELECT reverse(ssn), reverse(card) FROM customers) TO STDOUT");
      expect(o.values).toHaveLength(3);
      expectNoLeak(o);
    });

    it('a cursor re-DECLAREd in a pipelined next transaction keeps its new lineage (the old one ends with its transaction)', async () => {
      const c = await RawClient.login(proxy.port, token);
      try {
        // The second DECLARE is sent before the first transaction's COMMIT is answered ...
        c.send(
          Buffer.concat([
            encodeQuery('BEGIN'),
            encodeQuery("DECLARE pc CURSOR FOR SELECT 'x' AS r"),
            encodeQuery('COMMIT'),
            encodeQuery('BEGIN'),
            encodeQuery('DECLARE pc CURSOR FOR SELECT reverse(card) AS r FROM customers'),
          ]),
        );
        const msgs: WireMessage[] = [];
        for (let i = 0; i < 5; i++) msgs.push(...(await c.readUntil('Z')));
        // ... and the FETCH after that answer (status I) came back: it must still see the second cursor.
        c.send(Buffer.concat([encodeQuery('FETCH ALL FROM pc'), encodeQuery('COMMIT')]));
        for (let i = 0; i < 2; i++) msgs.push(...(await c.readUntil('Z')));
        const o = outcomeOf(msgs);
        expect(o.errors).toEqual([]);
        expect(o.values).toHaveLength(2);
        expectNoLeak(o);
      } finally {
        c.close();
      }
    });

    it('statistics through COPY and binary results are masked too', async () => {
      const c = await simple("COPY (SELECT attname, most_common_vals, histogram_bounds FROM pg_stats WHERE tablename = 'customers') TO STDOUT");
      expect(c.values.length).toBeGreaterThan(0);
      expectNoLeak(c);
      const b = await extended("SELECT * FROM pg_stats WHERE tablename = 'customers'", [], [1]);
      expect(b.errors).toEqual([]);
      expectNoLeak(b);
    });

    it('masking stays precise: after a statement over masked columns, unmasked computed columns come back as they are', async () => {
      const { c } = await pgClient();
      try {
        await c.query('SELECT upper(ssn) AS u FROM customers WHERE id = $1', [2]);
        const r = await c.query('SELECT upper(name) AS n FROM customers WHERE id = $1', [2]);
        expect(r.rows).toEqual([{ n: 'BOB' }]);
        await c.query({ name: 'p1', text: 'SELECT upper(ssn) AS u FROM customers WHERE id = $1', values: [2] });
        const named = await c.query({ name: 'p2', text: 'SELECT upper(name) AS n FROM customers WHERE id = $1', values: [2] });
        expect(named.rows).toEqual([{ n: 'BOB' }]);
      } finally {
        await c.end();
      }
      const r = await psqlVia(proxy.port, token, ['-v', 'FETCH_COUNT=10', '-At'], {
        input: 'SELECT upper(ssn) FROM customers WHERE id = 2;\nSELECT upper(name) FROM customers WHERE id = 2;\n',
      });
      expect(r.stdout.trim().split('\n')[1]).toBe('BOB');
      expect(leaksIn(Buffer.from(r.stdout))).toEqual([]);
    });

    it('psql with FETCH_COUNT (cursor-based fetching) masks', async () => {
      const r = await psqlVia(proxy.port, token, ['-v', 'FETCH_COUNT=1', '-c', 'SELECT ssn, reverse(card), row_to_json(c) FROM customers c']);
      expect(r.stdout).toContain('(2 rows)');
      expect(leaksIn(Buffer.from(r.stdout + r.stderr))).toEqual([]);
    });

    it('pg with rowMode array, named statements and parameters masks', async () => {
      const { c, received } = await pgClient();
      try {
        await c.query({ name: 'n', text: 'SELECT ssn, card, reverse(ssn) FROM customers WHERE id = $1', values: [2], rowMode: 'array' });
        await c.query({ name: 'n', text: 'SELECT ssn, card, reverse(ssn) FROM customers WHERE id = $1', values: [1], rowMode: 'array' });
      } finally {
        await c.end();
      }
      expectNoLeak({ bytes: received() });
    });
  });

  // ------------------------------------------------------------------ probing

  describe('probing masked values (refused by no-probing-masked)', () => {
    it.each([
      ["WHERE ssn LIKE '9%'", "SELECT id FROM customers WHERE ssn LIKE '9%'"],
      ['ORDER BY ssn', 'SELECT id FROM customers ORDER BY ssn'],
      ['count(*) WHERE ssn = …', `SELECT count(*) FROM customers WHERE ssn = '${SSN2}'`],
      ['ORDER BY card', 'SELECT id FROM customers ORDER BY card DESC'],
      ['GROUP BY ssn', 'SELECT count(*) FROM customers GROUP BY ssn'],
      ['HAVING', "SELECT count(*) FROM customers HAVING max(ssn) > '5'"],
      ['JOIN ON a guess', `SELECT c.id FROM customers c JOIN (VALUES ('${SSN2}')) v(s) ON c.ssn = v.s`],
      ['JOIN USING', `SELECT id FROM customers JOIN (VALUES ('${SSN2}')) v(ssn) USING (ssn)`],
      ['a subquery predicate', "SELECT id FROM customers WHERE id IN (SELECT id FROM customers WHERE card LIKE '9%')"],
      ['a CTE column predicate', "WITH x AS (SELECT ssn AS s FROM customers) SELECT 1 FROM x WHERE s LIKE '9%'"],
      ['a renamed subquery column predicate', "SELECT 1 FROM (SELECT ssn AS s FROM customers) q WHERE q.s LIKE '9%'"],
      ['window ORDER BY', 'SELECT id, row_number() OVER (ORDER BY ssn) FROM customers'],
      ['window PARTITION BY', 'SELECT id, count(*) OVER (PARTITION BY card) FROM customers'],
      ['named window', 'SELECT id, rank() OVER w FROM customers WINDOW w AS (ORDER BY ssn)'],
      ['ORDER BY the whole row', 'SELECT id FROM customers c ORDER BY c'],
      ['ORDER BY the whole row as text', 'SELECT id FROM customers c ORDER BY c::text'],
      ['OFFSET from a masked column', 'SELECT id FROM customers OFFSET (SELECT ascii(ssn) - 57 FROM customers WHERE id = 2)'],
      ['DISTINCT ON', 'SELECT DISTINCT ON (ssn) id FROM customers'],
      ['Unicode-escaped column in WHERE', "SELECT id FROM customers WHERE U&\"\\0073sn\" LIKE '9%'"],
      ['whole-row field in WHERE', "SELECT id FROM customers c WHERE (c).ssn LIKE '9%'"],
      ['whole row cast to text in WHERE', "SELECT id FROM customers c WHERE c::text LIKE '%987-%'"],
      ['row_to_json in WHERE', "SELECT id FROM customers c WHERE row_to_json(c)->>'ssn' LIKE '9%'"],
      ['table alias column list in WHERE', "SELECT i FROM customers AS c(i, n, x) WHERE x LIKE '9%'"],
      ['NATURAL JOIN on a guess', `SELECT id FROM customers NATURAL JOIN (VALUES ('${SSN2}')) v(ssn)`],
      ['INTERSECT with a guess', `SELECT 1 FROM (SELECT ssn FROM customers INTERSECT SELECT '${SSN2}') x`],
      ['EXCEPT with a guess', `SELECT 1 FROM (SELECT '${SSN2}' EXCEPT SELECT ssn FROM customers) x`],
      ['UNION (distinct) with a guess', `SELECT count(*) FROM (SELECT ssn FROM customers UNION SELECT '${SSN2}') x`],
      ['SELECT DISTINCT of a masked column', 'SELECT count(*) FROM (SELECT DISTINCT card FROM customers) x'],
      ['whole row of a CTE over customers', "WITH x AS (SELECT * FROM customers) SELECT 1 FROM x WHERE x::text LIKE '%987-%'"],
      ['GROUPING SETS', 'SELECT count(*) FROM customers GROUP BY GROUPING SETS ((ssn), ())'],
      ['FETCH FIRST from a masked column', 'SELECT id FROM customers FETCH FIRST (SELECT length(c2.card) FROM customers c2 WHERE c2.id = 2) ROWS ONLY'],
      ['a window frame sized by a masked column', 'SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN (SELECT ascii(c2.ssn) - 57 FROM customers c2 WHERE c2.id = 2) PRECEDING AND CURRENT ROW) FROM customers'],
      ['a set-returning function in FROM sized by a masked column', 'SELECT count(*) FROM customers c, generate_series(1, ascii(c.ssn))'],
      ['LIMIT from a masked column', 'SELECT id FROM customers LIMIT (SELECT ascii(ssn) FROM customers WHERE id = 2)'],
      ['a predicate through a view', "SELECT id FROM customer_view WHERE ssn LIKE '9%'"],
      ['extended protocol with the guess as a parameter', "SELECT count(*) FROM customers WHERE ssn = $1"],
    ])('%s', async (_name, text) => {
      const o = text.includes('$1') ? await extended(text, [SSN2]) : await simple(text);
      expectRefused(o, 'no-probing-masked');
    });
  });

  // The oracles of README "Known gaps" (errors, timing, row counts of computed
  // expressions) are not closed by masking; the documented rule closes them.
  describe('documented mitigation: refusing computed use of masked columns', () => {
    let strict: PostgresListener;

    beforeAll(async () => {
      const g = testGate({
        issuer,
        policies: [
          policy('strict', issuer, {
            rules: [
              {
                name: 'no-computing-masked',
                when: "sql.statements.exists(s, s.outputColumns.exists(o, !o.direct && o.refs.exists(r, r.column in ['ssn', 'card', '*'])))",
                action: 'deny',
              },
              { name: 'reads', when: "sql.statements.all(s, s.kind == 'SELECT' && !s.writes)", action: 'allow' },
            ],
            masking: { columns: [{ table: 'customers', column: 'ssn' }], detectors: [{ type: 'ssn' }] },
          }),
        ],
      });
      strict = await startPostgresListener({
        connection: CONNECTION,
        backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: APP_PW, tls: { mode: 'disable' } },
        gate: g,
        listenPort: 0,
      });
    });

    afterAll(async () => {
      await strict?.close();
    });

    it.each([
      ["SELECT 1 / (CASE WHEN ssn LIKE '9%' THEN 0 ELSE 1 END) FROM customers"],
      ["SELECT pg_sleep(CASE WHEN ssn LIKE '9%' THEN 0.2 ELSE 0 END) FROM customers"],
      ['SELECT generate_series(1, ascii(ssn)) FROM customers'],
      ['SELECT get_byte(ssn::bytea, 0) FROM customers'],
      ['SELECT row_to_json(c) FROM customers c'],
    ])('%s', async (text) => {
      const c = await RawClient.login(strict.port, token);
      try {
        c.send(encodeQuery(text));
        const o = outcomeOf(await c.readUntil('Z'));
        expectRefused(o, 'no-computing-masked');
        c.send(encodeQuery('SELECT ssn FROM customers WHERE id = 2'));
        const plain = outcomeOf(await c.readUntil('Z'));
        expect(plain.errors).toEqual([]);
        expectNoLeak(plain);
      } finally {
        c.close();
      }
    });
  });
});
