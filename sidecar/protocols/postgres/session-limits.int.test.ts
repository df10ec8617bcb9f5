// Session-level behaviour through the proxy: idle timeout and maximum duration
// from the policy, ending every session on demand (a revoked policy), strict
// recording (no record, no statement), an approval service that is down (the
// review fails closed), a held statement withdrawn when its client goes, and
// an ended session released at once.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import type { EventDataMap } from '../../../core/recording/events.js';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import type { ApprovalService, SessionEvents, SessionEventType } from '../../gate/gate.js';
import { startPostgresListener, type PostgresListener } from './listener.js';
import { createSessionMasking } from './row-masker-seam.js';
import { CONNECTION, MemoryEvents, pgClientVia, policy, startTestIssuer, testGate, type TestIssuer } from './pg-proxy.test-support.js';

/** Resolves with the first error the client reports (the server ending the session). */
// A full garbage collection on demand (to see what is still referenced).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function nextError(c: pg.Client): Promise<{ code?: string; message: string }> {
  return new Promise((resolve) => c.once('error', (e: Error & { code?: string }) => resolve(e)));
}

describe('session limits, strict recording, approval failures', () => {
  let server: PgServer;
  let issuer: TestIssuer;
  let token: string;
  const listeners: PostgresListener[] = [];

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql("CREATE ROLE app_user LOGIN PASSWORD 'app-pw'");
    await server.sql('CREATE DATABASE app OWNER app_user');
    await server.psql(['-c', 'CREATE TABLE t (id int); INSERT INTO t VALUES (1);'], { database: 'app', user: 'app_user', password: 'app-pw' });
    issuer = await startTestIssuer();
    token = await issuer.token();
  });

  afterAll(async () => {
    for (const l of listeners) await l.close();
    await issuer?.close();
    await server?.stop();
  });

  const start = async (gate: ReturnType<typeof testGate>): Promise<PostgresListener> => {
    const l = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: 'app-pw', tls: { mode: 'disable' } },
      gate,
      listenPort: 0,
    });
    listeners.push(l);
    return l;
  };

  const allowAll = (session?: Record<string, unknown>) =>
    testGate({ issuer, policies: [policy('p', issuer, { rules: [{ name: 'all', when: 'true', action: 'allow' }], ...(session ? { session } : {}) })] });

  it('ends an idle session with 57P05 (policy session.idleTimeout)', async () => {
    const l = await start(allowAll({ idleTimeout: '1s' }));
    const c = await pgClientVia(l.port, token);
    const ended = nextError(c);
    // A statement that runs longer than the idle timeout is not idleness.
    expect((await c.query('SELECT pg_sleep(1.5), 1 AS one')).rows[0]).toMatchObject({ one: 1 });
    const err = await ended;
    expect(err.message).toContain('idle timeout');
    expect(err.code).toBe('57P05');
    await c.end().catch(() => undefined);
  });

  it('ends a session at its maximum duration with 57P01, busy or not', async () => {
    const l = await start(allowAll({ maxDuration: '2s' }));
    const c = await pgClientVia(l.port, token);
    const ended = nextError(c);
    const err = await ended;
    expect(err.code).toBe('57P01');
    expect(err.message).toContain('maximum duration');
    await c.end().catch(() => undefined);
  });

  it('ends every live session on demand (e.g. the policy was revoked)', async () => {
    const l = await start(allowAll());
    const a = await pgClientVia(l.port, token);
    const b = await pgClientVia(l.port, token);
    const ea = nextError(a);
    const eb = nextError(b);
    expect(l.sessions()).toHaveLength(2);
    l.terminateAll('agentgate: terminating session: policy revoked');
    expect((await ea).message).toContain('policy revoked');
    expect((await eb).code).toBe('57P01');
    await a.end().catch(() => undefined);
    await b.end().catch(() => undefined);
    for (let i = 0; i < 100 && l.sessions().length > 0; i++) await sleep(10);
    expect(l.sessions()).toHaveLength(0);
  });

  it('refuses to run a statement it cannot record in strict mode', async () => {
    const gate = allowAll({ strictRecording: true });
    class FailingEvents extends MemoryEvents {
      override async startSession(...args: Parameters<MemoryEvents['startSession']>): Promise<SessionEvents> {
        const inner = await super.startSession(...args);
        return {
          sessionId: inner.sessionId,
          lastSeq: 0,
          record: async <T extends SessionEventType>(_type: T, _data: EventDataMap[T]) => {
            throw new Error('disk full');
          },
          end: inner.end,
        };
      }
    }
    const l = await start({ ...gate, events: new FailingEvents() });
    const c = await pgClientVia(l.port, token);
    c.on('error', () => undefined);
    await expect(c.query('INSERT INTO t VALUES (2)')).rejects.toMatchObject({ code: '58030' });
    expect(await server.sql('SELECT count(*) FROM t', { database: 'app' })).toBe('1');
    await c.end().catch(() => undefined);
  });

  it('refuses a session whose recording cannot start in strict mode', async () => {
    const gate = allowAll({ strictRecording: true });
    const l = await start({
      ...gate,
      events: {
        async startSession() {
          throw new Error('spool unavailable');
        },
      },
    });
    const c = new pg.Client({ host: '127.0.0.1', port: l.port, user: 'agent', database: 'app', password: token });
    await expect(c.connect()).rejects.toMatchObject({ code: '58030' });
  });

  const reviewGate = (approvals: ApprovalService) => {
    const gate = testGate({
      issuer,
      policies: [
        policy('p', issuer, {
          rules: [
            { name: 'review-inserts', when: "sql.statements.exists(s, s.kind == 'INSERT')", action: 'review' },
            { name: 'all', when: 'true', action: 'allow' },
          ],
          approval: { approvers: { users: ['dba'] } },
        }),
      ],
    });
    return { ...gate, approvals };
  };

  it('refuses a reviewed statement when the approval service is down (fail closed)', async () => {
    const l = await start(
      reviewGate({
        async request() {
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        },
      }),
    );
    const c = await pgClientVia(l.port, token);
    try {
      await expect(c.query('INSERT INTO t VALUES (3)')).rejects.toMatchObject({ code: '42501' });
      expect((await c.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('withdraws a held statement when its client goes away', async () => {
    let aborted: (() => void) | undefined;
    const withdrawn = new Promise<void>((resolve) => (aborted = resolve));
    let pending: (() => void) | undefined;
    const asked = new Promise<void>((resolve) => (pending = resolve));
    const l = await start(
      reviewGate({
        request(_req, opts) {
          opts.onPending('ar-held');
          pending?.();
          return new Promise((resolve) =>
            opts.signal.addEventListener('abort', () => {
              aborted?.();
              resolve('denied');
            }),
          );
        },
      }),
    );
    const c = await pgClientVia(l.port, token);
    c.on('error', () => undefined);
    const q = c.query('INSERT INTO t VALUES (4)').catch(() => undefined);
    await asked;
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await withdrawn;
    await q;
    expect(await server.sql('SELECT count(*) FROM t', { database: 'app' })).toBe('1');
  });

  it('lets go of a closed session at once: many short connections do not pile up in memory', async () => {
    // Each session's masking object lives as long as its session does: watch them with weak references.
    const sessions: Array<WeakRef<object>> = [];
    const l = await startPostgresListener({
      connection: CONNECTION,
      backend: { host: server.host, port: server.port, database: 'app', user: 'app_user', password: 'app-pw', tls: { mode: 'disable' } },
      gate: testGate({
        issuer,
        policies: [policy('p', issuer, { rules: [{ name: 'all', when: 'true', action: 'allow' }], masking: { detectors: [{ type: 'email', strategy: 'redact' }] } })],
      }),
      listenPort: 0,
      masking: (spec, o) => {
        const m = createSessionMasking(spec, o);
        if (m !== null) sessions.push(new WeakRef(m));
        return m;
      },
    });
    listeners.push(l);
    for (let i = 0; i < 20; i++) {
      const c = await pgClientVia(l.port, token);
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await c.end();
    }
    for (let i = 0; i < 300 && l.sessions().length > 0; i++) await sleep(10);
    expect(l.sessions()).toEqual([]);
    expect(sessions).toHaveLength(20);
    // The sockets' close events, then two full collections.
    await sleep(300);
    gc();
    await sleep(10);
    gc();
    // No timer (a backend-gone guard, a close deadline) holds an ended session until it fires.
    expect(sessions.filter((r) => r.deref() !== undefined)).toHaveLength(0);
  });
});
