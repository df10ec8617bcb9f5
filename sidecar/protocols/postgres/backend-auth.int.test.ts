// The proxy's own connection to the backend, for real: SCRAM-SHA-256, MD5 and
// cleartext authentication; TLS in require / verify-ca / verify-full, with the
// right CA, a wrong CA and a wrong name; TLS and pod identity on the client
// side. A refusal reaches the client as a clear error that never carries the
// brokered password.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { createTestCa, type TestCa } from '../../../testkit/test-certs.js';
import type { BackendTls } from './backend-connector.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import { CONNECTION, pgClientVia, policy, psqlVia, startTestIssuer, testGate, type TestGate, type TestIssuer } from './pg-proxy.test-support.js';

const PW = { scram: 'scram-pw-1a2b', md5: 'md5-pw-3c4d', clear: 'clear-pw-5e6f' };

describe('backend authentication and TLS', () => {
  let tlsServer: PgServer;
  let plainServer: PgServer;
  let issuer: TestIssuer;
  let gate: TestGate;
  let otherCa: TestCa;
  let token: string;
  const listeners: PostgresListener[] = [];

  beforeAll(async () => {
    [tlsServer, plainServer, issuer, otherCa] = await Promise.all([
      startPostgres({ tls: true, hba: ['host all clear_user 127.0.0.1/32 password'] }),
      startPostgres(),
      startTestIssuer(),
      createTestCa('some-other-ca'),
    ]);
    await tlsServer.psql(['-c', `
      SET password_encryption = 'scram-sha-256';
      CREATE ROLE scram_user LOGIN PASSWORD '${PW.scram}';
      SET password_encryption = 'md5';
      CREATE ROLE md5_user LOGIN PASSWORD '${PW.md5}';
      SET password_encryption = 'scram-sha-256';
      CREATE ROLE clear_user LOGIN PASSWORD '${PW.clear}';
    `]);
    expect(await tlsServer.sql("SELECT substr(rolpassword, 1, 3) FROM pg_authid WHERE rolname = 'md5_user'")).toBe('md5');
    await plainServer.sql(`CREATE ROLE scram_user LOGIN PASSWORD '${PW.scram}'`);
    gate = testGate({
      issuer,
      allowPodIdentity: true,
      policies: [policy('all', issuer, { rules: [{ name: 'all', when: 'true', action: 'allow' }] })],
    });
    token = await issuer.token();
  });

  afterAll(async () => {
    for (const l of listeners) await l.close();
    await issuer?.close();
    await tlsServer?.stop();
    await plainServer?.stop();
  });

  const proxyTo = async (
    server: PgServer,
    user: keyof typeof PW,
    tls: BackendTls,
    extra: Partial<Parameters<typeof startPostgresListener>[0]> = {},
  ): Promise<PostgresListener> => {
    const l = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'postgres', user: `${user}_user`, password: PW[user], tls },
      gate,
      listenHost: '127.0.0.1',
      listenPort: 0,
      ...extra,
    });
    listeners.push(l);
    return l;
  };

  const whoAmI = async (l: PostgresListener): Promise<{ user: string; ssl: boolean }> => {
    const c = await pgClientVia(l.port, token);
    try {
      const r = await c.query('SELECT current_user AS user, coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl');
      return r.rows[0] as { user: string; ssl: boolean };
    } finally {
      await c.end();
    }
  };

  const refusal = async (l: PostgresListener): Promise<{ code: string; message: string }> => {
    const c = new pg.Client({ host: '127.0.0.1', port: l.port, user: 'agent', database: 'app', password: token });
    try {
      await c.connect();
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { code: e.code ?? '', message: e.message };
    } finally {
      await c.end().catch(() => undefined);
    }
    throw new Error('connected, but a refusal was expected');
  };

  it('authenticates with SCRAM-SHA-256 over verify-full TLS with the right CA', async () => {
    const l = await proxyTo(tlsServer, 'scram', { mode: 'verify-full', ca: tlsServer.tls?.caPem });
    expect(await whoAmI(l)).toEqual({ user: 'scram_user', ssl: true });
  });

  it('authenticates with MD5', async () => {
    const l = await proxyTo(tlsServer, 'md5', { mode: 'verify-ca', ca: tlsServer.tls?.caPem });
    expect(await whoAmI(l)).toEqual({ user: 'md5_user', ssl: true });
  });

  it('authenticates with a cleartext password (over TLS)', async () => {
    const l = await proxyTo(tlsServer, 'clear', { mode: 'require' });
    expect(await whoAmI(l)).toEqual({ user: 'clear_user', ssl: true });
  });

  it('authenticates with SCRAM over plain TCP when tls.mode is disable', async () => {
    const l = await proxyTo(plainServer, 'scram', { mode: 'disable' });
    expect(await whoAmI(l)).toEqual({ user: 'scram_user', ssl: false });
  });

  it('refuses a backend whose certificate another CA signed (verify-full and verify-ca)', async () => {
    for (const mode of ['verify-full', 'verify-ca'] as const) {
      const l = await proxyTo(tlsServer, 'scram', { mode, ca: otherCa.certPem });
      const r = await refusal(l);
      expect(r.code).toBe('08006');
      expect(r.message).toMatch(/TLS verification failed/);
    }
  });

  it('refuses a certificate for another name in verify-full, accepts it in verify-ca', async () => {
    const full = await proxyTo(tlsServer, 'scram', { mode: 'verify-full', ca: tlsServer.tls?.caPem, serverName: 'db.example.com' });
    const r = await refusal(full);
    expect(r.code).toBe('08006');
    expect(r.message).toMatch(/TLS verification failed/);
    const ca = await proxyTo(tlsServer, 'scram', { mode: 'verify-ca', ca: tlsServer.tls?.caPem, serverName: 'db.example.com' });
    expect((await whoAmI(ca)).ssl).toBe(true);
  });

  it('refuses a backend without TLS when TLS is required', async () => {
    const l = await proxyTo(plainServer, 'scram', { mode: 'require' });
    const r = await refusal(l);
    expect(r.code).toBe('08006');
    expect(r.message).toMatch(/does not support TLS/);
  });

  it('reports a refused brokered credential without revealing it', async () => {
    const l = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: tlsServer.host, port: tlsServer.port, database: 'postgres', user: 'scram_user', password: 'wrong-brokered-pw', tls: { mode: 'disable' } },
      gate,
      listenPort: 0,
    });
    listeners.push(l);
    const r = await refusal(l);
    expect(r.code).toBe('08006');
    expect(r.message).toContain('password authentication failed for user "scram_user"');
    expect(r.message).not.toContain('wrong-brokered-pw');
  });

  it('offers TLS to clients with the sidecar certificate (psql verify-full) and can require it', async () => {
    const ca = await createTestCa('sidecar-ca');
    const leaf = await ca.issue({ commonName: 'localhost', ips: ['127.0.0.1'], dnsNames: ['localhost'] });
    const dir = await mkdtemp(join(tmpdir(), 'agentgate-client-ca-'));
    try {
      await writeFile(join(dir, 'ca.crt'), ca.certPem);
      const l = await proxyTo(plainServer, 'scram', { mode: 'disable' }, { tls: { cert: leaf.certPem, key: leaf.keyPem, requireTls: true } });
      const ok = await psqlVia(l.port, token, ['-At', '-c', 'SELECT 42'], {
        env: { PGSSLMODE: 'verify-full', PGSSLROOTCERT: join(dir, 'ca.crt') },
      });
      expect(ok.stderr).toBe('');
      expect(ok.stdout.trim()).toBe('42');
      const plain = await psqlVia(l.port, token, ['-At', '-c', 'SELECT 42'], { env: { PGSSLMODE: 'disable' } });
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain('TLS connections only');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("uses the pod's identity when configured for it (no credential asked)", async () => {
    const l = await proxyTo(plainServer, 'scram', { mode: 'disable' }, { clientAuth: 'pod' });
    const r = await psqlVia(l.port, '', ['-At', '-c', 'SELECT current_user']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('scram_user');
    expect(gate.memory.started.some((s) => s.identity.sub === 'system:serviceaccount:team-a:agent')).toBe(true);
  });
});
