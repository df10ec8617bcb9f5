// A million rows through the proxy to a deliberately slow reader: the result
// streams with backpressure, so what the proxy holds at once stays at socket
// buffer size (its own accounting, a bound, not a timing). Also COPY TO STDOUT
// of the same size, and every row counted. The process-level memory bound is
// measured on the real sidecar process in sidecar/standalone/streaming-memory.int.test.ts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { encodePassword, encodeQuery, encodeTerminate } from './frontend-messages.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import { CONNECTION, policy, startTestIssuer, testGate, type TestIssuer } from './pg-proxy.test-support.js';
import { encodeStartupMessage } from './startup-codec.js';

const ROWS = 1_000_000;

interface Drained {
  bytes: number;
  dataRows: number;
  copyData: number;
  error: string | undefined;
}

/**
 * Logs in, runs `sql`, and reads the answer slowly: after every 4 MiB it
 * stops reading for a moment, so the proxy must hold the backend back.
 * Counts DataRow / CopyData messages by walking the frames.
 */
async function drainSlowly(port: number, password: string, sql: string): Promise<Drained> {
  const s: Socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  const out: Drained = { bytes: 0, dataRows: 0, copyData: 0, error: undefined };
  let header = Buffer.alloc(0);
  let remaining = 0;
  let phase: 'auth' | 'query' = 'auth';
  let sincePause = 0;
  let held = Buffer.alloc(0);
  try {
    s.write(encodeStartupMessage({ user: 'agent', database: 'app' }));
    await new Promise<void>((resolve, reject) => {
      s.on('error', reject);
      s.on('close', () => resolve());
      s.on('data', (chunk: Buffer) => {
        out.bytes += chunk.length;
        sincePause += chunk.length;
        let pos = 0;
        while (pos < chunk.length) {
          if (remaining > 0) {
            const take = Math.min(remaining, chunk.length - pos);
            if (held.length < 4096) held = Buffer.concat([held, chunk.subarray(pos, pos + take)]);
            remaining -= take;
            pos += take;
            if (remaining === 0) onMessage();
            continue;
          }
          const need = 5 - header.length;
          header = Buffer.concat([header, chunk.subarray(pos, pos + need)]);
          pos += Math.min(need, chunk.length - pos);
          if (header.length < 5) break;
          remaining = header.readInt32BE(1) - 4;
          held = Buffer.alloc(0);
          if (remaining === 0) onMessage();
        }
        if (sincePause > 4 * 1024 * 1024) {
          sincePause = 0;
          s.pause();
          setTimeout(() => s.resume(), 15);
        }
      });
      const onMessage = (): void => {
        const type = String.fromCharCode(header[0] as number);
        header = Buffer.alloc(0);
        if (type === 'D') out.dataRows++;
        else if (type === 'd') out.copyData++;
        else if (type === 'E') out.error = held.toString('utf8');
        else if (type === 'R' && phase === 'auth' && held.readInt32BE(0) === 3) s.write(encodePassword(password));
        else if (type === 'Z') {
          if (phase === 'auth') {
            phase = 'query';
            s.write(encodeQuery(sql));
          } else {
            s.end(encodeTerminate());
          }
        }
      };
    });
  } finally {
    s.destroy();
  }
  return out;
}

describe('streaming through the proxy', () => {
  let server: PgServer;
  let issuer: TestIssuer;
  let proxy: PostgresListener;
  let token: string;

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql("CREATE ROLE app_user LOGIN PASSWORD 'app-pw'");
    await server.sql('CREATE DATABASE app OWNER app_user');
    issuer = await startTestIssuer();
    const gate = testGate({ issuer, policies: [policy('all', issuer, { rules: [{ name: 'read', when: 'true', action: 'allow' }] })] });
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

  it(`streams ${ROWS.toLocaleString('en')} rows to a slow reader with memory bounded well below the result size`, async () => {
    const r = await drainSlowly(proxy.port, token, `SELECT g, repeat('x', 300) AS pad FROM generate_series(1, ${ROWS}) g`);
    expect(r.error).toBeUndefined();
    expect(r.dataRows).toBe(ROWS);
    expect(r.bytes).toBeGreaterThan(300 * 1024 * 1024);
    const totals = proxy.totals();
    expect(totals.rows).toBeGreaterThanOrEqual(ROWS);
    // What the proxy held at once: socket buffers, not the result.
    expect(totals.peakBuffered).toBeLessThan(4 * 1024 * 1024);
  });

  it('streams a large COPY TO STDOUT the same way', async () => {
    const r = await drainSlowly(proxy.port, token, `COPY (SELECT g, repeat('y', 300) FROM generate_series(1, ${ROWS}) g) TO STDOUT`);
    expect(r.error).toBeUndefined();
    expect(r.copyData).toBe(ROWS);
    expect(proxy.totals().peakBuffered).toBeLessThan(4 * 1024 * 1024);
  });
});
