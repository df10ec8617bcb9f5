import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startPostgres, type PgServer } from './postgres.js';

describe('startPostgres', () => {
  let pg: PgServer;
  beforeAll(async () => {
    pg = await startPostgres({ tls: true });
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('runs a real server with password authentication', async () => {
    expect(await pg.sql('select 1 + 1')).toBe('2');
    const bad = await pg.psql(['-c', 'select 1'], { password: 'wrong' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/password authentication failed/);
  });

  it('serves TLS that verify-full accepts with its CA', async () => {
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'ca-'));
    try {
      await writeFile(join(dir, 'ca.crt'), pg.tls?.caPem ?? '');
      const out = await pg.sql('select ssl from pg_stat_ssl where pid = pg_backend_pid()', {
        env: { PGSSLMODE: 'verify-full', PGSSLROOTCERT: join(dir, 'ca.crt') },
      });
      expect(out).toBe('t');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
