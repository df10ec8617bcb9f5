// The injected sidecar's listeners in front of a real PostgreSQL, following
// configurations built as the operator builds them: credentials brokered per
// session and released at its end, sessions ended with a reason, Connections
// added, changed and removed. The credential broker here is an in-process
// provider (the operator's side is covered by e2e/closing-the-loop).
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Recorder } from '../../core/recording/session-recorder.js';
import { Spool } from '../../core/recording/spool.js';
import type { AccessPolicy } from '../../core/resources/generated.js';
import { freePort } from '../../testkit/ports.js';
import { startPostgres, type PgServer } from '../../testkit/postgres.js';
import { SidecarMetrics } from '../admin/metrics.js';
import type { PodConfig } from '../cluster/api-types.js';
import type { SessionCredential } from '../cluster/cluster-credentials.js';
import { OperatorUnreachableError } from '../cluster/errors.js';
import { BackendCredential } from '../config/backend-credential.js';
import { createLogger } from '../standalone/logger.js';
import { buildClusterGate } from './cluster-gate.js';
import { compileConfig, type CompiledConfig } from './compiled-config.js';
import { DynamicAuthenticator } from './dynamic-authenticator.js';
import { ListenerSet } from './listener-set.js';
import { GrantUsage, revocationReason } from './revocation.js';

const NS = 'shop';
const PASSWORD = 'app-pw-4b1e';

const policy: AccessPolicy = {
  apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'agents', namespace: NS },
  spec: {
    podSelector: { matchLabels: { app: 'agent' } },
    subjects: [{ serviceAccount: { name: 'agent' } }],
    connections: ['db', 'db2'],
    rules: [{ name: 'reads', when: "sql.statements.all(s, s.kind == 'SELECT')", action: 'allow' }],
  },
};

function podConfig(pgPort: number, conns: Array<{ name: string; port: number }>, policies = [policy]): PodConfig {
  return {
    pod: { namespace: NS, name: 'agent-1', uid: 'u1', serviceAccount: 'agent', labels: { app: 'agent' } },
    connections: conns.map((c) => ({
      namespace: NS, name: c.name, labels: {}, tls: { mode: 'disable' },
      spec: { protocol: 'postgres', target: { host: '127.0.0.1', port: pgPort, database: 'shop' }, credentials: { jit: { postgres: { adminSecretRef: { name: 'a' } } } }, listen: { port: c.port } },
    })),
    policies,
    grants: [],
    maskingKeys: {},
    etag: `"${Math.random()}"`,
  };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

async function until(cond: () => boolean | Promise<boolean>, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('injected listeners', () => {
  let db: PgServer | undefined;
  let dir = '';
  let spool: Spool | undefined;
  let set: ListenerSet | undefined;
  let state: CompiledConfig | undefined;
  let failNext = false;
  const issued: string[] = [];
  const released: string[] = [];
  const clients: pg.Client[] = [];
  let portA = 0;
  let portB = 0;
  const S = (): ListenerSet => {
    if (!set) throw new Error('not started');
    return set;
  };
  const DB = (): PgServer => {
    if (!db) throw new Error('no postgres');
    return db;
  };

  async function connect(port: number): Promise<{ client: pg.Client; errors: Error[] }> {
    const client = new pg.Client({ host: '127.0.0.1', port, database: 'shop', user: 'agent', ssl: false });
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    clients.push(client);
    await client.connect();
    return { client, errors };
  }

  async function apply(cfg: PodConfig): Promise<void> {
    state = compileConfig(cfg);
    await S().reconcile(state);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentgate-injected-int-'));
    db = await startPostgres();
    await db.sql('CREATE DATABASE shop');
    await db.sql(`CREATE ROLE app LOGIN PASSWORD '${PASSWORD}'`);
    spool = await Spool.open({ dir: join(dir, 'spool') });
    const authenticator = new DynamicAuthenticator();
    const gate = buildClusterGate({
      state: () => {
        if (!state) throw new Error('no configuration');
        return state;
      },
      authenticator,
      approvals: { request: () => Promise.reject(new Error('no approvals here')) },
      accessRequest: () => Promise.reject(new Error('no approvals here')),
      recorder: new Recorder({ spool }),
      metrics: new SidecarMetrics({ defaultMetrics: false }),
      grantUsage: new GrantUsage(),
      logger: createLogger('silent'),
    });
    set = new ListenerSet({
      gate,
      state: () => {
        if (!state) throw new Error('no configuration');
        return state;
      },
      credentials: {
        async forSession(connection: string, sessionId: string): Promise<SessionCredential> {
          if (failNext) {
            failNext = false;
            throw new OperatorUnreachableError('connect ECONNREFUSED');
          }
          issued.push(`${connection}/${sessionId}`);
          return { kind: 'jit', credential: new BackendCredential('test', { username: 'app', password: PASSWORD }) };
        },
        async release(connection: string, sessionId: string): Promise<boolean> {
          released.push(`${connection}/${sessionId}`);
          return true;
        },
      },
      listenHost: '127.0.0.1',
      logger: createLogger('silent'),
    });
    portA = await freePort();
    portB = await freePort();
    const first = compileConfig(podConfig(db.port, [{ name: 'db', port: portA }]));
    await authenticator.update(first);
    state = first;
    await set.reconcile(first);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await set?.close();
    await spool?.close();
    await db?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('brokers a credential per session and releases it when the session ends', async () => {
    expect(S().ready()).toBe(true);
    expect(S().ports()).toEqual({ db: portA });
    const { client } = await connect(portA);
    expect((await client.query('SELECT current_user AS u')).rows).toEqual([{ u: 'app' }]);
    expect(issued).toHaveLength(1);
    const [live] = S().sessions();
    expect(live?.connection).toBe('db');
    expect(issued[0]).toBe(`db/${live?.id ?? ''}`);
    await client.end();
    expect(await until(() => released.length === 1)).toBe(true);
    expect(released).toEqual(issued);
  });

  it('refuses the session, naming only the error code, when no credential can be had', async () => {
    failNext = true;
    await expect(connect(portA)).rejects.toThrow('agentgate: no backend credential for this session (AG_OPERATOR_UNREACHABLE); refused');
  });

  it('ends exactly the sessions a revocation names, with the reason', async () => {
    const keep = await connect(portA);
    const cut = await connect(portA);
    const cutPid = (await cut.client.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number };
    expect(cutPid.pid).toBeGreaterThan(0);
    expect(await until(() => S().sessions().length === 2)).toBe(true);
    const ids = S().sessions().map((s) => s.id);
    expect(ids).toHaveLength(2);
    const target = ids[1];
    expect(S().terminate((s) => (s.id === target ? 'testing revocation' : undefined))).toBe(1);
    expect(await until(() => cut.errors.length > 0)).toBe(true);
    expect(cut.errors[0]?.message).toBe('agentgate: access revoked: testing revocation');
    expect((await keep.client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    // The backend side of the revoked session is gone too.
    expect(await until(async () => (await DB().sql(`SELECT count(*) FROM pg_stat_activity WHERE pid = ${cutPid.pid}`)) === '0')).toBe(true);
    await keep.client.end();
  });

  it('re-checks live sessions against a new configuration: no policy covers them any more, so they are cut', async () => {
    const s = await connect(portA);
    expect(await until(() => S().sessions().length === 1)).toBe(true);
    const cfg = compileConfig(podConfig(DB().port, [{ name: 'db', port: portA }], [{ ...policy, spec: { ...policy.spec, subjects: [{ serviceAccount: { name: 'someone-else' } }] } }]));
    expect(S().terminate((x) => revocationReason(x, cfg, new GrantUsage(), Date.now()))).toBe(1);
    expect(await until(() => s.errors.length > 0)).toBe(true);
    expect(s.errors[0]?.message).toBe('agentgate: access revoked: no AccessPolicy grants system:serviceaccount:shop:agent access to connection db any more');
  });

  it('follows Connections added, changed and removed', async () => {
    const s = await connect(portA);
    // Added: a second listener; the first and its session are untouched.
    await apply(podConfig(DB().port, [{ name: 'db', port: portA }, { name: 'db2', port: portB }]));
    expect(S().ports()).toEqual({ db: portA, db2: portB });
    const other = await connect(portB);
    expect((await other.client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    expect((await s.client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    // Removed: its sessions are told why and its port closes.
    await apply(podConfig(DB().port, [{ name: 'db2', port: portB }]));
    expect(await until(() => s.errors.length > 0)).toBe(true);
    expect(s.errors[0]?.message).toBe('agentgate: access revoked: connection db is no longer configured for this pod');
    expect(await refused(portA)).toBe(true);
    expect(S().ports()).toEqual({ db2: portB });

    // Changed (another listen port): the listener moves.
    await apply(podConfig(DB().port, [{ name: 'db2', port: portA }]));
    expect(await until(() => other.errors.length > 0)).toBe(true);
    expect(other.errors[0]?.message).toBe('agentgate: access revoked: the Connection db2 changed');
    expect(await refused(portB)).toBe(true);
    const moved = await connect(portA);
    expect((await moved.client.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    await moved.client.end();
  });

  it('is not ready while a Connection cannot listen, and recovers on a later reconcile', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(portB, '127.0.0.1', r));
    await apply(podConfig(DB().port, [{ name: 'db2', port: portA }, { name: 'db', port: portB }]));
    expect(S().ready()).toBe(false);
    await new Promise<void>((r) => blocker.close(() => r()));
    if (state) await S().reconcile(state);
    expect(S().ready()).toBe(true);
    expect(S().ports()).toEqual({ db2: portA, db: portB });
  });

  it('stops accepting while live sessions go on', async () => {
    const s = await connect(portA);
    await S().stopAccepting();
    expect(await refused(portA)).toBe(true);
    expect((await s.client.query('SELECT 4 AS four')).rows).toEqual([{ four: 4 }]);
    await s.client.end();
    expect(await until(() => released.length === issued.length)).toBe(true);
  });
});
