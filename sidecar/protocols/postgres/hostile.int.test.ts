// Hostile and malformed input. Every case ends (at most) the connection that
// sent it, with a protocol error where one can be sent; a healthy session
// opened before the first case keeps working throughout, and the proxy
// process never stops. Append-only: a bypass found later gets a case here.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { frame } from './body-reader.js';
import {
  encodeBind,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  encodePassword,
  encodeQuery,
  encodeSync,
  encodeTerminate,
} from './frontend-messages.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import { CONNECTION, errorOf, pgClientVia, policy, RawClient, startTestIssuer, testGate, type TestIssuer, type WireMessage } from './pg-proxy.test-support.js';
import { encodeStartupMessage } from './startup-codec.js';

function startupPacket(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + payload.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(code, 4);
  payload.copy(out, 8);
  return out;
}

function header(type: string, length: number): Buffer {
  const b = Buffer.alloc(5);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(length, 1);
  return b;
}

describe('hostile input', () => {
  let server: PgServer;
  let issuer: TestIssuer;
  let proxy: PostgresListener;
  let token: string;
  let healthy: pg.Client;

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql("CREATE ROLE app_user LOGIN PASSWORD 'app-pw'");
    await server.sql('CREATE DATABASE app OWNER app_user');
    await server.psql(['-c', "CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'one'), (2, 'two');"], {
      database: 'app',
      user: 'app_user',
      password: 'app-pw',
    });
    issuer = await startTestIssuer();
    const gate = testGate({
      issuer,
      policies: [
        policy('rules', issuer, {
          rules: [
            { name: 'no-deletes', when: "sql.statements.exists(s, s.kind == 'DELETE')", action: 'deny' },
            { name: 'no-truncate', when: "sql.statements.exists(s, s.kind == 'TRUNCATE')", action: 'deny', message: `truncating is not allowed ${'.'.repeat(900)}` },
            { name: 'rest', when: 'true', action: 'allow' },
          ],
        }),
      ],
    });
    proxy = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: 'app-pw', tls: { mode: 'disable' } },
      gate,
      listenPort: 0,
      handshakeTimeoutMs: 10_000,
    });
    token = await issuer.token();
    healthy = await pgClientVia(proxy.port, token);
  });

  afterAll(async () => {
    await healthy?.end().catch(() => undefined);
    await proxy?.close();
    await issuer?.close();
    await server?.stop();
  });

  /** The healthy session still answers, and the table is untouched. */
  const stillHealthy = async (): Promise<void> => {
    const r = await healthy.query('SELECT count(*)::int AS n FROM t WHERE id > $1', [0]);
    expect(r.rows).toEqual([{ n: 2 }]);
  };

  const fatalOf = (msgs: WireMessage[]): { code: string; message: string; severity: string } | undefined => {
    const e = msgs.find((m) => m.type === 'E');
    return e === undefined ? undefined : errorOf(e);
  };

  /** A whole normal session as client bytes, and what it must get back. */
  const normalSession = (): Buffer =>
    Buffer.concat([
      encodeQuery('SELECT v FROM t WHERE id = 1'),
      encodeParse('s1', 'SELECT v FROM t WHERE id = $1'),
      encodeBind('', 's1', ['2']),
      encodeDescribe('P', ''),
      encodeExecute(''),
      encodeSync(),
      encodeQuery('DELETE FROM t'),
      encodeQuery('SELECT 3'),
      encodeTerminate(),
    ]);

  const expectNormalAnswers = (msgs: WireMessage[]): void => {
    const types = msgs.map((m) => m.type).join('');
    // AuthenticationOk, ParameterStatus…, BackendKeyData, Z; then the statements.
    expect(types).toMatch(/^RS+KZ/);
    const after = types.replace(/^RS+KZ/, '');
    expect(after).toBe('TDCZ' + '12TDCZ' + 'EZ' + 'TDCZ');
    const rows = msgs.filter((m) => m.type === 'D').map((m) => m.body.subarray(6).toString());
    expect(rows).toEqual(['one', 'two', '3']);
    expect(errorOf(msgs.find((m) => m.type === 'E') as WireMessage).code).toBe('42501');
  };

  it('handles a normal session sent one byte at a time (every message split at every boundary)', async () => {
    const c = await RawClient.connect(proxy.port);
    try {
      const bytes = Buffer.concat([encodeStartupMessage({ user: 'agent', database: 'app' })]);
      for (const b of bytes) {
        c.send(Buffer.from([b]));
        await sleep(1);
      }
      const auth = await c.read();
      expect(auth.type).toBe('R');
      const rest = Buffer.concat([encodePassword(token), normalSession()]);
      for (let i = 0; i < rest.length; i++) {
        c.send(rest.subarray(i, i + 1));
        if (i % 4 === 0) await sleep(1);
      }
      expectNormalAnswers(await c.readToClose());
    } finally {
      c.close();
    }
    await stillHealthy();
  });

  it('handles the same session split in two at each message boundary and inside each header', async () => {
    const all = Buffer.concat([encodePassword(token), normalSession()]);
    // Split points: every header byte of every message (where framing is decided).
    const points: number[] = [];
    for (let pos = 0; pos < all.length; ) {
      for (let k = 0; k <= 5; k++) points.push(pos + k);
      pos += 1 + all.readInt32BE(pos + 1);
    }
    for (const at of points.filter((p) => p > 0 && p < all.length)) {
      const c = await RawClient.connect(proxy.port);
      try {
        c.send(encodeStartupMessage({ user: 'agent', database: 'app' }));
        await c.read();
        c.send(all.subarray(0, at));
        await sleep(2);
        c.send(all.subarray(at));
        expectNormalAnswers(await c.readToClose());
      } finally {
        c.close();
      }
    }
    await stillHealthy();
  });

  const afterLogin = async (bytes: Buffer): Promise<WireMessage[]> => {
    const c = await RawClient.login(proxy.port, token);
    try {
      c.send(bytes);
      return await c.readToClose();
    } finally {
      c.close();
    }
  };

  const beforeLogin = async (bytes: Buffer): Promise<WireMessage[]> => {
    const c = await RawClient.connect(proxy.port);
    try {
      c.send(bytes);
      return await c.readToClose();
    } finally {
      c.close();
    }
  };

  it.each([
    ['a length below 4', header('Q', 3)],
    ['a negative length', header('Q', -5)],
    ['a Query over the 16 MiB limit', header('Q', 64 * 1024 * 1024)],
    ['a Sync claiming 1 GiB', header('S', 1024 * 1024 * 1024)],
    ['an unknown message type', frame('Z', Buffer.alloc(1))],
    ['a zero type byte', frame(0, Buffer.alloc(0))],
    ['a password message after login', frame('p', Buffer.from('again\0'))],
    ['garbage', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['a Query with an embedded NUL (statement after it)', frame('Q', Buffer.from('SELECT 1\0DELETE FROM t\0'))],
    ['a Query without its terminator', frame('Q', Buffer.from('SELECT 1'))],
    ['a Parse with a negative parameter count', frame('P', Buffer.concat([Buffer.from('\0SELECT 1\0'), Buffer.from([0xff, 0xff])]))],
    ['a Describe of an unknown kind', frame('D', Buffer.from('Xname\0'))],
    ['a Sync with a body', frame('S', Buffer.from('x'))],
  ])('answers %s after login with 08P01 and closes only that connection', async (_name, bytes) => {
    const msgs = await afterLogin(bytes);
    expect(fatalOf(msgs)).toMatchObject({ code: '08P01', severity: 'FATAL' });
    await stillHealthy();
  });

  it.each([
    ['a startup length below 8', startupPacket(196608).subarray(0, 4).fill(0).fill(4, 3)],
    ['a startup packet over 10 KB', Buffer.concat([(() => { const b = Buffer.alloc(8); b.writeInt32BE(20_000, 0); b.writeInt32BE(196608, 4); return b; })(), Buffer.alloc(100)])],
    ['protocol 2.0', startupPacket(0x20000, Buffer.from('user\0x\0\0'))],
    ['a startup with 5000 parameters', startupPacket(196608, Buffer.concat([...Array.from({ length: 700 }, (_, i) => Buffer.from(`p${i}\0v\0`)), Buffer.from('user\0x\0\0')]))],
    ['a startup without a user', startupPacket(196608, Buffer.from('database\0app\0\0'))],
    ['a startup without its final terminator', startupPacket(196608, Buffer.from('user\0x\0'))],
    ['an SSLRequest with data pipelined behind it', Buffer.concat([startupPacket(80877103), encodeQuery('SELECT 1')])],
    ['a CancelRequest of the wrong length', startupPacket(80877102, Buffer.alloc(4))],
  ])('answers %s before login with 08P01 and closes only that connection', async (_name, bytes) => {
    const msgs = await beforeLogin(bytes);
    const err = fatalOf(msgs);
    expect(err).toMatchObject({ code: '08P01', severity: 'FATAL' });
    await stillHealthy();
  });

  it('closes quietly when a client sends half a message and leaves', async () => {
    const c = await RawClient.login(proxy.port, token);
    c.send(Buffer.concat([header('Q', 1000), Buffer.from('SELECT')]));
    await sleep(5);
    c.close();
    const before = await RawClient.login(proxy.port, token);
    before.send(Buffer.concat([encodeQuery('SELECT 1'), encodeTerminate()]));
    expect((await before.readToClose()).map((m) => m.type).join('')).toBe('TDCZ');
    await stillHealthy();
  });

  it('refuses the fast-path function call (no SQL for a policy to read) and goes on', async () => {
    const c = await RawClient.login(proxy.port, token);
    try {
      // FunctionCall of pg_sleep-like OID 1 with no arguments, text result.
      c.send(frame('F', Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0])));
      const r = await c.readUntil('Z');
      expect(errorOf(r[0] as WireMessage).code).toBe('42501');
      c.send(encodeQuery('SELECT 1'));
      expect((await c.readUntil('Z')).map((m) => m.type).join('')).toBe('TDCZ');
    } finally {
      c.close();
    }
  });

  it('ends a session that switches client_encoding away from UTF8 (the classifier reads UTF-8)', async () => {
    const msgs = await afterLogin(encodeQuery("SET client_encoding TO 'SJIS'"));
    const err = fatalOf(msgs);
    expect(err?.code).toBe('0A000');
    expect(err?.message).toContain('client_encoding');
    await stillHealthy();
  });

  it('ends a session that turns standard_conforming_strings off (backslash escapes would read differently)', async () => {
    const msgs = await afterLogin(encodeQuery('SET standard_conforming_strings = off'));
    expect(fatalOf(msgs)?.message).toContain('standard_conforming_strings');
    await stillHealthy();
  });

  it('refuses a multi-statement query when any statement is refused', async () => {
    const msgs = await afterLogin(Buffer.concat([encodeQuery('SELECT 1; DELETE FROM t; SELECT 2'), encodeTerminate()]));
    expect(msgs.map((m) => m.type).join('')).toBe('EZ');
    await stillHealthy();
  });

  it('stops reading from a client that sends refused statements without reading the answers', async () => {
    const n = 20_000;
    const c = await RawClient.login(proxy.port, token);
    try {
      c.socket.pause();
      // Each refusal is about 1 KB: 20 MB of answers, more than the kernel's socket buffers hold.
      const q = encodeQuery('TRUNCATE t');
      c.send(Buffer.concat(Array.from({ length: n }, () => q)));
      await sleep(300);
      c.socket.resume();
      let errors = 0;
      let ready = 0;
      while (ready < n) {
        const m = await c.read();
        if (m.type === 'E') errors++;
        if (m.type === 'Z') ready++;
      }
      expect(errors).toBe(n);
      const mine = proxy.sessions().find((s) => s.stats.denied >= n);
      // The answers waited in the client (it stopped reading), not in the proxy.
      expect(mine?.stats.peakBuffered).toBeLessThan(1024 * 1024);
    } finally {
      c.close();
    }
    await stillHealthy();
  });

  it('survives many concurrent hostile connections while the healthy session works', async () => {
    const attacks = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? afterLogin(header('Q', 3)) : beforeLogin(startupPacket(196608, Buffer.from('nouser\0\0'))),
    );
    const healthyRuns = Array.from({ length: 20 }, () => stillHealthy());
    const results = await Promise.all(attacks);
    await Promise.all(healthyRuns);
    for (const r of results) expect(fatalOf(r)?.code).toBe('08P01');
    // Backend connections of the hostile sessions are gone (bounded wait, not a timing assertion).
    let n = -1;
    for (let i = 0; i < 100; i++) {
      n = Number(await server.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_user' AND application_name <> 'agentgate-catalog'"));
      if (n === 1) break;
      await sleep(50);
    }
    expect(n).toBe(1);
  });
});
