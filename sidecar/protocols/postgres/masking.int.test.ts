// Masking wired into the relay, against a real PostgreSQL: columns matched by
// lineage (RowDescription table OID + attribute, resolved through the
// catalog), computed columns by the statement's lineage, binary results,
// COPY TO STDOUT, and values echoed in error details.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { encodeBind, encodeExecute, encodeParse, encodeSync } from './frontend-messages.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import { CONNECTION, pgClientVia, policy, psqlVia, RawClient, startTestIssuer, testGate, type TestGate, type TestIssuer } from './pg-proxy.test-support.js';

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
});
