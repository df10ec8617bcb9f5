// The benchmark relays carry real sessions unchanged: psql and node-postgres
// (simple and extended protocol, a result larger than one read) through the
// plain relay and through the framing relay, which must also have read the
// statements it passed on.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startPostgres, type PgServer } from '../testkit/postgres.js';
import { framedTextChars, startRelay, type Relay } from './relay.js';

describe('benchmark relays (real PostgreSQL, real clients)', () => {
  let server: PgServer;
  const relays: Relay[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql('CREATE TABLE t (id int PRIMARY KEY, body text); INSERT INTO t SELECT g, repeat(md5(g::text), 40) FROM generate_series(1, 2000) g');
  });

  afterAll(async () => {
    for (const r of relays) await r.close();
    await server?.stop();
  });

  for (const frames of [false, true]) {
    it(`${frames ? 'framing' : 'plain'} relay: psql and pg work through it`, async () => {
      const relay = await startRelay({ host: '127.0.0.1', port: server.port }, 0, { frames });
      relays.push(relay);
      const before = framedTextChars;
      const r = await server.psql(['-At', '-c', 'SELECT count(*), sum(length(body)) FROM t', '-c', "SELECT 'two statements'"], { port: relay.port });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n')).toEqual(['2000|2560000', 'two statements']);

      const c = new pg.Client({ host: '127.0.0.1', port: relay.port, user: server.superuser, password: server.superPassword, database: 'postgres' });
      await c.connect();
      try {
        // ~2.6 MB of rows: many reads, messages split across them.
        const all = await c.query<{ id: number; body: string }>('SELECT id, body FROM t ORDER BY id');
        expect(all.rows).toHaveLength(2000);
        expect(all.rows[1999]?.body).toHaveLength(1280);
        const one = await c.query<{ id: number }>({ text: 'SELECT id FROM t WHERE id = $1', values: [7] });
        expect(one.rows).toEqual([{ id: 7 }]);
      } finally {
        await c.end();
      }
      // The framing relay decoded every statement it passed on; the plain one none.
      if (frames) expect(framedTextChars - before).toBeGreaterThan('SELECT id, body FROM t ORDER BY id'.length);
      else expect(framedTextChars).toBe(before);
    });
  }
});
