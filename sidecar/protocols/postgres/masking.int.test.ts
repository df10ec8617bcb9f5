// Masking wired into the relay, against a real PostgreSQL: columns matched by
// lineage (RowDescription table OID + attribute, resolved through the
// catalog), computed columns by the statement's lineage, binary results,
// COPY TO STDOUT, and values echoed in error details; and the recorded
// outcome of every statement (rows, masked values, errors) through the real
// recorder, spool, shipper and transcript sink.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { compilePolicies } from '../../../core/policy/engine.js';
import type { RecordEvent } from '../../../core/recording/events.js';
import { FileRecordSink } from '../../../core/recording/file-record-sink.js';
import { verifyChain } from '../../../core/recording/hash-chain.js';
import { Recorder } from '../../../core/recording/session-recorder.js';
import { Shipper } from '../../../core/recording/shipper.js';
import { Spool } from '../../../core/recording/spool.js';
import { readJsonl, tempDir } from '../../../core/recording/test-helpers.js';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { SidecarMetrics } from '../../admin/metrics.js';
import { LocalApprovals } from '../../approvals/local-approvals.js';
import { buildGate, type StandaloneGate } from '../../standalone/gate-wiring.js';
import { createLogger } from '../../standalone/logger.js';
import { encodeBind, encodeExecute, encodeParse, encodeQuery, encodeSync } from './frontend-messages.js';
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
} from './pg-proxy.test-support.js';

const SSN = '123-45-6789';
const CARD = '4111111111111111';

describe('masking in the relay', () => {
  let server: PgServer;
  let issuer: TestIssuer;
  let gate: TestGate;
  let proxy: PostgresListener;
  let token: string;

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql("CREATE ROLE app_user LOGIN PASSWORD 'app-pw'");
    await server.sql('CREATE DATABASE app OWNER app_user');
    await server.psql(['-c', `
      CREATE TABLE customers (id int PRIMARY KEY, name text, ssn text UNIQUE, card text, email text);
      INSERT INTO customers VALUES (1, 'Ada', '${SSN}', '${CARD}', 'ada@example.com'), (2, 'Bob', '987-65-4321', '5500005555555559', 'bob@example.org');
    `], { database: 'app', user: 'app_user', password: 'app-pw' });
    issuer = await startTestIssuer();
    gate = testGate({
      issuer,
      policies: [
        policy('read-masked', issuer, {
          rules: [{ name: 'all', when: 'true', action: 'allow' }],
          masking: {
            columns: [
              { table: 'public.customers', column: 'ssn', strategy: 'redact' },
              { table: 'customers', column: 'card', strategy: 'partial', keep: 4 },
            ],
            detectors: [{ type: 'email', strategy: 'redact' }],
          },
        }),
      ],
    });
    proxy = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: 'app-pw', tls: { mode: 'disable' } },
      gate,
      listenPort: 0,
    });
    token = await issuer.token();
  });

  afterAll(async () => {
    await proxy?.close();
    await issuer?.close();
    await server?.stop();
  });

  it('masks columns by lineage, even renamed, and content by detectors', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const r = await c.query('SELECT id, name, ssn AS x, card, email FROM customers WHERE id = 1');
      const row = r.rows[0] as Record<string, string>;
      expect(row.name).toBe('Ada');
      expect(row.x).not.toContain('6789');
      expect(row.x).not.toBe(SSN);
      expect(row.card).toMatch(/1111$/);
      expect(row.card).not.toBe(CARD);
      expect(row.email).not.toContain('ada@example.com');
    } finally {
      await c.end();
    }
  });

  it('masks a computed column that reads a masked column (statement lineage)', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const r = await c.query("SELECT upper(ssn) AS u, reverse(card) AS r, 'ok' AS plain FROM customers WHERE id = 1");
      const row = r.rows[0] as Record<string, string>;
      expect(row.u).not.toContain('6789');
      expect(row.r).not.toContain('1111');
      expect(row.plain).toBe('ok');
    } finally {
      await c.end();
    }
  });

  it('masks computed values fetched from a cursor by the lineage of its query', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      await c.query('BEGIN');
      await c.query('DECLARE cur CURSOR FOR SELECT reverse(ssn) AS r, id FROM customers ORDER BY id');
      const r = await c.query('FETCH 1 FROM cur');
      const row = r.rows[0] as { r: string; id: number };
      expect(row.id).toBe(1);
      expect(row.r).not.toBe(SSN.split('').reverse().join(''));
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
  });

  it('masks an Execute that no Describe announced', async () => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(Buffer.concat([encodeParse('', 'SELECT ssn FROM customers WHERE id = 1'), encodeBind('', ''), encodeExecute(''), encodeSync()]));
      const msgs = await c.readUntil('Z');
      expect(msgs.map((m) => m.type).join('')).toBe('12DCZ');
      const row = msgs[2]?.body.toString('latin1') ?? '';
      expect(row).not.toContain(SSN);
    } finally {
      c.close();
    }
  });

  it('masks through the extended protocol with binary results', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const q = { text: 'SELECT ssn, id FROM customers WHERE id = $1', values: [1], binary: true };
      const r = await c.query(q as pg.QueryConfig);
      const row = r.rows[0] as { ssn: string; id: number };
      expect(row.id).toBe(1);
      expect(row.ssn).not.toBe(SSN);
      expect(row.ssn).not.toContain('6789');
    } finally {
      await c.end();
    }
  });

  it('masks COPY TO STDOUT', async () => {
    const r = await psqlVia(proxy.port, token, ['-c', 'COPY customers (id, ssn, email) TO STDOUT']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('1\t');
    expect(r.stdout).not.toContain(SSN);
    expect(r.stdout).not.toContain('ada@example.com');
    const star = await psqlVia(proxy.port, token, ['-c', 'COPY customers TO STDOUT WITH (FORMAT csv)']);
    expect(star.stderr).toBe('');
    expect(star.stdout).not.toContain(SSN);
    expect(star.stdout).not.toContain(CARD);
  });

  it('masks COPY TO STDOUT run through the extended protocol', async () => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(Buffer.concat([encodeParse('', 'COPY customers (id, ssn) TO STDOUT'), encodeBind('', ''), encodeExecute(''), encodeSync()]));
      const msgs = await c.readUntil('Z');
      expect(msgs.map((m) => m.type).join('')).toBe('12HddcCZ');
      const data = msgs.filter((m) => m.type === 'd').map((m) => m.body.toString()).join('');
      expect(data).toMatch(/^1\t/);
      expect(data).not.toContain(SSN);
    } finally {
      c.close();
    }
  });

  it('masks a value echoed in an error detail', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const err = await c.query(`INSERT INTO customers (id, ssn) VALUES (3, '${SSN}')`).then(
        () => undefined,
        (e: unknown) => e as { code?: string; detail?: string },
      );
      expect(err?.code).toBe('23505');
      expect(err?.detail ?? '').not.toContain(SSN);
    } finally {
      await c.end();
    }
  });

  it('counts masked values per session and leaves unmasked columns as they are', async () => {
    const c = await pgClientVia(proxy.port, token);
    try {
      const r = await c.query('SELECT id, name FROM customers ORDER BY id');
      expect(r.rows).toEqual([{ id: 1, name: 'Ada' }, { id: 2, name: 'Bob' }]);
      const stats = proxy.sessions().find((s) => s.stats.statements > 0 && s.stats.rows >= 2);
      expect(stats).toBeDefined();
    } finally {
      await c.end();
    }
    expect(proxy.totals().masked).toBeGreaterThan(0);
  });

  describe('recorded statement outcomes', () => {
    const SSNS = ['078-05-1120', '219-09-9999', '457-55-5462'];
    let dirs: Array<{ remove: () => Promise<void> }> = [];
    let recordDir = '';
    let spool: Spool;
    let shipper: Shipper;
    let metrics: SidecarMetrics;
    let outcomesGate: StandaloneGate;
    let listener: PostgresListener;
    let approvals: LocalApprovals;

    beforeAll(async () => {
      await server.psql(['-c', `
        CREATE TABLE patients (id int PRIMARY KEY, name text, ssn text UNIQUE, card text, email text);
        INSERT INTO patients VALUES
          (1, 'Ann', '${SSNS[0]}', '4111111111111111', 'ann@example.com'),
          (2, 'Ben', '${SSNS[1]}', '5500005555555559', 'ben@example.com'),
          (3, 'Cyd', '${SSNS[2]}', '340000000000009', 'cyd@example.com');
        CREATE TABLE notes (id int, body text);
      `], { database: 'app', user: 'app_user', password: 'app-pw' });
      const spoolDir = await tempDir('pg-outcomes-spool');
      const records = await tempDir('pg-outcomes-records');
      dirs = [spoolDir, records];
      recordDir = records.path;
      const { engine, errors } = compilePolicies([
        policy('outcomes', issuer, {
          rules: [
            { name: 'no-deletes', when: "sql.statements.exists(s, s.kind == 'DELETE')", action: 'deny', message: 'deleting is not allowed' },
            { name: 'notes-need-review', when: "sql.statements.exists(s, s.kind == 'UPDATE' && s.tables.exists(t, t.endsWith('notes')))", action: 'review' },
            { name: 'all', when: 'true', action: 'allow' },
          ],
          approval: { approvers: { users: ['alice'] } },
          masking: {
            columns: [
              { table: 'public.patients', column: 'ssn', strategy: 'redact' },
              { table: 'patients', column: 'card', strategy: 'partial', keep: 4 },
            ],
            detectors: [{ type: 'email', strategy: 'redact' }],
          },
        }),
      ]);
      expect(errors).toEqual([]);
      spool = await Spool.open({ dir: spoolDir.path });
      metrics = new SidecarMetrics({ defaultMetrics: false });
      const recorder = new Recorder({ spool, onEvent: (e) => metrics.observeEvent(e) });
      shipper = new Shipper({ spool, sink: new FileRecordSink(recordDir) });
      shipper.start();
      approvals = new LocalApprovals();
      outcomesGate = buildGate({
        engine,
        authenticator: gate.authenticator,
        approvals,
        recorder,
        metrics,
        logger: createLogger('silent'),
        secretValue: () => undefined,
      });
      listener = await startPostgresListener({
        connection: CONNECTION,
        backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: 'app-pw', tls: { mode: 'disable' } },
        gate: outcomesGate,
        listenPort: 0,
      });
    });

    afterAll(async () => {
      await listener?.close();
      approvals?.close();
      await shipper?.stop();
      await spool?.close();
      for (const d of dirs) await d.remove();
    });

    /** Runs one client session and returns its transcript, shipped to the sink and chain-checked. */
    const recordedSession = async (work: () => Promise<void>): Promise<RecordEvent[]> => {
      const before = new Set(await readdir(recordDir));
      await work();
      await outcomesGate.whenIdle();
      expect(await shipper.flush(60_000)).toBe(true);
      const added = (await readdir(recordDir)).filter((n) => n.endsWith('.jsonl') && !before.has(n));
      expect(added).toHaveLength(1);
      const events = await readJsonl(join(recordDir, added[0] ?? ''));
      expect(verifyChain(events)).toMatchObject({ ok: true });
      expect(events[events.length - 1]?.type).toBe('session.end');
      return events;
    };
    const resultsOf = (events: RecordEvent[]): Array<RecordEvent<'statement.result'>> =>
      events.filter((e): e is RecordEvent<'statement.result'> => e.type === 'statement.result');
    const statementOf = (events: RecordEvent[], r: RecordEvent<'statement.result'>): RecordEvent<'statement'> | undefined =>
      events.find((e): e is RecordEvent<'statement'> => e.type === 'statement' && e.seq === r.data.ref);
    const noValues = (events: RecordEvent[]): void => {
      const text = JSON.stringify(events);
      for (const v of [...SSNS, '4111111111111111', 'ann@example.com']) expect(text).not.toContain(v);
    };

    it('a masked SELECT of 3 rows with 2 masked columns: rows 3, 6 masked values, both columns named', async () => {
      const events = await recordedSession(async () => {
        const c = await pgClientVia(listener.port, token);
        try {
          const r = await c.query('SELECT id, name, ssn, card FROM patients ORDER BY id');
          expect(r.rows).toHaveLength(3);
          expect(r.rows.map((row: { ssn: string }) => row.ssn)).not.toContain(SSNS[0]);
        } finally {
          await c.end();
        }
      });
      const results = resultsOf(events);
      expect(results).toHaveLength(1);
      const r = results[0]!;
      expect(r.data).toMatchObject({ command: 'SELECT', rows: 3, maskedFields: 6, index: 0 });
      expect([...(r.data.maskedColumns ?? [])].sort()).toEqual(['public.patients.card', 'public.patients.ssn']);
      expect(r.data.durationMs).toBeGreaterThanOrEqual(0);
      expect(r.data.error).toBeUndefined();
      // The outcome follows its write-ahead statement event and points at it.
      const stmt = statementOf(events, r);
      expect(stmt?.data.text).toBe('SELECT id, name, ssn, card FROM patients ORDER BY id');
      expect(stmt!.seq).toBeLessThan(r.seq);
      noValues(events);
    });

    it('a multi-statement simple Query: one outcome per statement, all pointing at the one decision', async () => {
      const text = 'SELECT id FROM patients; UPDATE patients SET name = name WHERE id <= 2; SELECT ssn, email FROM patients WHERE id = 1';
      const events = await recordedSession(async () => {
        const c = await RawClient.login(listener.port, token);
        try {
          c.send(encodeQuery(text));
          const msgs = await c.readUntil('Z');
          expect(msgs.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, m.body.length - 1))).toEqual(['SELECT 3', 'UPDATE 2', 'SELECT 1']);
        } finally {
          c.close();
        }
      });
      const statements = events.filter((e) => e.type === 'statement');
      expect(statements).toHaveLength(1);
      const results = resultsOf(events);
      expect(results.map((r) => [r.data.index, r.data.command, r.data.rows, r.data.maskedFields])).toEqual([
        [0, 'SELECT', 3, 0],
        [1, 'UPDATE', 2, 0],
        [2, 'SELECT', 1, 2],
      ]);
      expect(results.every((r) => r.data.ref === statements[0]!.seq)).toBe(true);
      expect(results[0]!.data.maskedColumns).toBeUndefined();
      expect([...(results[2]!.data.maskedColumns ?? [])].sort()).toEqual(['detector:email', 'public.patients.ssn']);
      noValues(events);
    });

    it('extended protocol via pg: one outcome per Execute, a prepared statement run twice points at its one Parse', async () => {
      const events = await recordedSession(async () => {
        const c = await pgClientVia(listener.port, token);
        try {
          const one = await c.query('SELECT ssn, email FROM patients WHERE id = $1', [1]);
          expect(one.rows).toHaveLength(1);
          const named = { name: 'upto', text: 'SELECT id, card FROM patients WHERE id <= $1 ORDER BY id' };
          expect((await c.query({ ...named, values: [2] })).rows).toHaveLength(2);
          expect((await c.query({ ...named, values: [3] })).rows).toHaveLength(3);
        } finally {
          await c.end();
        }
      });
      const statements = events.filter((e): e is RecordEvent<'statement'> => e.type === 'statement');
      expect(statements.map((s) => s.data.text)).toEqual([
        'SELECT ssn, email FROM patients WHERE id = $1',
        'SELECT id, card FROM patients WHERE id <= $1 ORDER BY id',
      ]);
      const results = resultsOf(events);
      expect(results.map((r) => [r.data.ref, r.data.command, r.data.rows, r.data.maskedFields])).toEqual([
        [statements[0]!.seq, 'SELECT', 1, 2],
        [statements[1]!.seq, 'SELECT', 2, 2],
        [statements[1]!.seq, 'SELECT', 3, 3],
      ]);
      expect(results.every((r) => r.data.index === undefined)).toBe(true);
      expect([...(results[0]!.data.maskedColumns ?? [])].sort()).toEqual(['detector:email', 'public.patients.ssn']);
      expect(results[1]!.data.maskedColumns).toEqual(['public.patients.card']);
      noValues(events);
    });

    it('an UPDATE records the rows it changed; a failing statement records its SQLSTATE and a masked message', async () => {
      const events = await recordedSession(async () => {
        const c = await pgClientVia(listener.port, token);
        try {
          expect((await c.query("UPDATE patients SET name = name || '' WHERE id >= 2")).rowCount).toBe(2);
          await expect(c.query('SELECT 1 / 0')).rejects.toMatchObject({ code: '22012' });
          await expect(c.query('SELECT $1::int / 0 AS x', [1])).rejects.toMatchObject({ code: '22012' });
          await expect(c.query(`INSERT INTO patients (id, ssn) VALUES (9, '${SSNS[0]}')`)).rejects.toMatchObject({ code: '23505' });
          await expect(c.query('DELETE FROM patients')).rejects.toMatchObject({ code: '42501' });
        } finally {
          await c.end();
        }
      });
      const results = resultsOf(events);
      expect(results.map((r) => [r.data.command, r.data.rows, r.data.error?.code])).toEqual([
        ['UPDATE', 2, undefined],
        [undefined, 0, '22012'],
        [undefined, 0, '22012'],
        [undefined, 0, '23505'],
      ]);
      expect(results[1]!.data.error?.message).toBe('division by zero');
      expect(results[3]!.data.error?.message).toContain('duplicate key value violates unique constraint');
      // The unique violation's detail echoed the value: masked in what the client got and in the record.
      expect(results[3]!.data.maskedFields).toBeGreaterThan(0);
      // The refused DELETE is a decision with no outcome: it never ran.
      const denied = events.find((e): e is RecordEvent<'statement'> => e.type === 'statement' && e.data.decision.action === 'deny');
      expect(denied?.data.decision.rule).toBe('no-deletes');
      expect(results.some((r) => r.data.ref === denied?.seq)).toBe(false);
      // (The INSERT's own text carries the value the agent typed; its outcome does not.)
      noValues(results);
    });

    it('a statement that may carry a credential is recorded with its constants replaced', async () => {
      const events = await recordedSession(async () => {
        const c = await pgClientVia(listener.port, token);
        try {
          // Harmless to run, and reads like a connection string with a password in it.
          expect((await c.query("SELECT 'host=db password=leaked-via-transcript-7f3a' AS conninfo")).rowCount).toBe(1);
        } finally {
          await c.end();
        }
      });
      const stmt = events.find((e): e is RecordEvent<'statement'> => e.type === 'statement');
      expect(stmt?.data.decision.action).toBe('allow');
      expect(stmt?.data.text).toBe('SELECT $1 AS conninfo');
      expect(JSON.stringify(events)).not.toContain('leaked-via-transcript-7f3a');
    });

    it('an approval request shows the statement as the recording does: detectors applied, credential constants replaced', async () => {
      const pendingOne = async (): Promise<{ id: string; operation: string }> => {
        for (let i = 0; i < 400; i++) {
          const p = approvals.list();
          if (p.length > 0) {
            expect(p).toHaveLength(1);
            return p[0]!;
          }
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error('no approval request appeared');
      };
      let shown = '';
      let withheld = '';
      const events = await recordedSession(async () => {
        const c = await pgClientVia(listener.port, token);
        try {
          await c.query("INSERT INTO notes VALUES (7, 'draft')");
          const update = c.query("UPDATE notes SET body = 'mail ann@example.com' WHERE id = 7");
          const req = await pendingOne();
          shown = req.operation;
          approvals.approve(req.id, { user: 'alice' });
          expect((await update).rowCount).toBe(1);
          const secret = c.query("UPDATE notes SET body = 'password=hunter2-approval-leak' WHERE id = 7");
          const req2 = await pendingOne();
          withheld = req2.operation;
          approvals.deny(req2.id, { user: 'alice' });
          await expect(secret).rejects.toMatchObject({ code: '42501' });
        } finally {
          await c.end();
        }
      });
      // The approver sees what the statement does, not the value the detector found.
      expect(shown).toMatch(/^UPDATE notes SET body = '.*' WHERE id = 7$/);
      expect(shown).not.toContain('ann@example.com');
      expect(withheld).toBe('UPDATE notes SET body = $1 WHERE id = $2');
      // The backend ran the text as sent.
      expect(await server.sql('SELECT body FROM notes WHERE id = 7', { database: 'app' })).toBe('mail ann@example.com');
      const requested = events.filter((e): e is RecordEvent<'approval.requested'> => e.type === 'approval.requested');
      expect(requested.map((e) => e.data.operation)).toEqual([shown, withheld]);
      const approvedStatement = events.find((e): e is RecordEvent<'statement'> => e.type === 'statement' && e.data.approvalId === requested[0]?.data.approvalId);
      expect(approvedStatement?.data.text).toBe(shown);
      const text = JSON.stringify(events);
      expect(text).not.toContain('ann@example.com');
      expect(text).not.toContain('hunter2-approval-leak');
    });

    it('a pipeline: a suspended portal, its resumption, and a statement the backend fails at Parse (the rest skipped)', async () => {
      let clientSaw = '';
      const events = await recordedSession(async () => {
        const c = await RawClient.login(listener.port, token);
        try {
          c.send(
            Buffer.concat([
              encodeParse('s1', 'SELECT id, ssn FROM patients ORDER BY id'),
              encodeBind('p1', 's1'),
              encodeExecute('p1', 2),
              encodeExecute('p1', 0),
              encodeParse('s2', 'SELECT id FROM no_such_table'),
              encodeBind('p2', 's2'),
              encodeExecute('p2', 0),
              encodeSync(),
            ]),
          );
          const msgs = await c.readUntil('Z');
          expect(msgs.map((m) => m.type).join('')).toBe('12DDsDCEZ');
          const e = msgs.find((m) => m.type === 'E');
          clientSaw = e === undefined ? '' : errorOf(e).message;
        } finally {
          c.close();
        }
      });
      const statements = events.filter((e): e is RecordEvent<'statement'> => e.type === 'statement');
      expect(statements).toHaveLength(2);
      const results = resultsOf(events);
      expect(results.map((r) => [r.data.ref, r.data.suspended ?? false, r.data.rows, r.data.error?.code])).toEqual([
        [statements[0]!.seq, true, 2, undefined],
        [statements[0]!.seq, false, 1, undefined],
        [statements[1]!.seq, false, 0, '42P01'],
      ]);
      expect(results.slice(0, 2).map((r) => r.data.maskedFields)).toEqual([2, 1]);
      // The recorded message is the one the client got (masked the same way).
      expect(clientSaw).toContain('does not exist');
      expect(results[2]!.data.error?.message).toBe(clientSaw);
      noValues(events);
    });

    it('COPY TO STDOUT and COPY FROM STDIN record their rows, COPY out its masked values', async () => {
      const out = await recordedSession(async () => {
        const r = await psqlVia(listener.port, token, ['-c', 'COPY patients (id, ssn, email) TO STDOUT']);
        expect(r.stderr).toBe('');
        expect(r.stdout.trim().split('\n')).toHaveLength(3);
      });
      const [copyOut] = resultsOf(out);
      expect(copyOut?.data).toMatchObject({ command: 'COPY', rows: 3, maskedFields: 6 });
      expect([...(copyOut?.data.maskedColumns ?? [])].sort()).toEqual(['detector:email', 'public.patients.ssn']);
      noValues(out);
      const into = await recordedSession(async () => {
        const r = await psqlVia(listener.port, token, ['-c', 'COPY notes FROM STDIN'], { input: '1\thello\n2\tworld\n' });
        expect(r.stderr).toBe('');
      });
      expect(resultsOf(into).map((r) => [r.data.command, r.data.rows, r.data.maskedFields])).toEqual([['COPY', 2, 0]]);
    });

    it('the session summary and metrics count masked values and rows from outcomes, statements once', async () => {
      const events = await recordedSession(async () => {
        const c = await pgClientVia(listener.port, token);
        try {
          await c.query('SELECT id, ssn, card FROM patients ORDER BY id'); // 3 rows, 6 masked
          await c.query('SELECT email FROM patients WHERE id = $1', [2]); // 1 row, 1 masked
          await expect(c.query('DELETE FROM patients WHERE id = 3')).rejects.toMatchObject({ code: '42501' });
          await c.query("UPDATE patients SET name = 'Cy' WHERE id = 3"); // 1 row
        } finally {
          await c.end();
        }
      });
      const summary = await new FileRecordSink(recordDir).readSummary(events[0]!.sessionId);
      expect(summary?.counts).toEqual({ statements: 4, denied: 1, masked: 7, approvals: 0, rows: 5 });
      expect(summary?.outcome).toBe('ok');
      const end = events[events.length - 1] as RecordEvent<'session.end'>;
      expect(end.data.counts).toEqual({ statements: 4, denied: 1, masked: 7, approvals: 0, rows: 5 });
      // The metric adds every outcome's masked values recorded through this listener so far.
      const all = await Promise.all((await readdir(recordDir)).filter((n) => n.endsWith('.jsonl')).map((n) => readJsonl(join(recordDir, n))));
      const maskedTotal = all.flat().reduce((n, e) => n + (e.type === 'statement.result' ? e.data.maskedFields : 0), 0);
      expect(maskedTotal).toBeGreaterThanOrEqual(7);
      const text = await metrics.registry.metrics();
      expect(text).toContain(`agentgate_masked_fields_total ${maskedTotal}`);
    });
  });
});
