// What the PostgreSQL benchmarks run against: a real PostgreSQL 15 (testkit),
// a role and database initialised by pgbench, a large table for the masked
// result set, and the three proxies, each in a process of its own so that its
// CPU and memory are its own: the bare relay (bench/relay.ts), the sidecar in
// standalone mode with policy, masking and recording on
// (bench/postgres-sidecar-child.ts), and Debian's pgbouncer (session pooling).
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BENCH_RULES } from './bench-policy-rules.js';
import { freePort } from '../testkit/ports.js';
import { PG_BIN, startPostgres, type PgServer } from '../testkit/postgres.js';
import { logTail, runCommand, startProcess, unprivilegedUser, wrapCommand, type ManagedProcess } from '../testkit/processes.js';

export const BENCH_DB = 'bench';
export const BENCH_USER = 'bench_app';
export const CONNECTION_NAME = 'bench-db';
export const LARGE_TABLE = 'bench_customers';
const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';

/** `frames`: the relay in --frames mode (bench/relay.ts), only when asked for. */
export type TargetName = 'direct' | 'relay' | 'frames' | 'sidecar' | 'pgbouncer';

export interface Target {
  /** A TargetName, or the name of a sidecar variant. */
  name: string;
  port: number;
  /** The proxy's process (undefined for direct). */
  pid?: number;
  /** The password a client sends on this path (the sidecar in pod-identity mode asks for none). */
  password: string;
}

export interface PgBenchFixture {
  server: PgServer;
  password: string;
  workDir: string;
  targets: Record<TargetName, Target>;
  /** Sidecars with some features off, by variant name (FixtureOptions.sidecarVariants). */
  variants: Map<string, Target>;
  /** The sidecar's recordings. */
  recordDir: string;
  /** Stops one proxy or variant (e.g. the sidecar, so its recordings are flushed); idempotent. */
  stopProxy(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface FixtureOptions {
  workDir: string;
  log(line: string): void;
  /** pgbench scale (-s). */
  scale: number;
  /** Rows in the large table (0: none). */
  largeRows: number;
  /** Extra node flags for the sidecar child (e.g. --cpu-prof). */
  sidecarNodeArgs?: string[];
  /** Features of the sidecar's policy (default: everything on). */
  sidecarFeatures?: SidecarFeatures;
  /** Which proxies to start (default all). */
  proxies?: ReadonlyArray<Exclude<TargetName, 'direct'>>;
  /** More sidecars, each with its own features, to show what each feature costs. */
  sidecarVariants?: ReadonlyArray<{ name: string; features: SidecarFeatures }>;
}

const here = dirname(fileURLToPath(import.meta.url));

/** A child that prints `READY <port>` on stdout once it listens; stderr goes to `logPath`. */
export interface ReadyChild {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

export async function startReadyChild(name: string, bin: string, args: string[], logPath: string, timeoutMs = 60_000): Promise<ReadyChild> {
  const fd = openSync(logPath, 'a', 0o644);
  // pdeathsig: a killed benchmark leaves no proxy behind.
  const [command, argv] = wrapCommand(bin, args);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', fd] });
  closeSync(fd);
  const stdout = child.stdout;
  if (child.pid === undefined || stdout === null) throw new Error(`cannot start ${name}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready in ${timeoutMs} ms`)), timeoutMs);
    stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      const m = /READY (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${String(code)}) before it was ready`));
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${err instanceof Error ? err.message : String(err)}; ${logPath}:\n${await logTail(logPath, 20)}`);
  });
  stdout.resume();
  return {
    pid: child.pid,
    port,
    async stop(): Promise<void> {
      if (done) return;
      child.kill('SIGTERM');
      const t = sleep(20_000).then(() => 'timeout' as const);
      if ((await Promise.race([exited.then(() => 'exited' as const), t])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** The standalone config: the Connection, the agent's AccessPolicy (policy, masking, recording), the Secrets. */
export interface SidecarFeatures {
  /** Column rules + detectors (default true). */
  masking?: boolean;
  /** Session recording (default true). */
  recording?: boolean;
}

export function sidecarConfig(o: { pgPort: number; listenPort: number; password: string } & SidecarFeatures): string {
  // JSON strings are YAML flow scalars: the CEL goes in verbatim.
  const rulesYaml = BENCH_RULES.map((r) =>
    [`    - name: ${r.name}`, `      when: ${JSON.stringify(r.when)}`, `      action: ${r.action}`, ...(r.message !== undefined ? [`      message: ${JSON.stringify(r.message)}`] : [])].join('\n'),
  ).join('\n');
  const masking = `  masking:
    columns:
      - { table: public.pgbench_accounts, column: abalance, strategy: partial, keep: 2 }
      - { table: public.${LARGE_TABLE}, column: ssn, strategy: partial, keep: 4 }
      - { table: public.${LARGE_TABLE}, column: email, strategy: hash }
    detectors:
      - { type: pan }
      - { type: ssn }
      - { type: email }
      - { type: jwt }
      - { type: cloudKey }
      - { type: privateKey }
    hashKeySecretRef: { name: bench-masking-key, key: key }
`;
  return `apiVersion: v1
kind: Secret
metadata: { name: bench-db-credentials, namespace: bench }
stringData:
  username: ${BENCH_USER}
  password: ${JSON.stringify(o.password)}
---
apiVersion: v1
kind: Secret
metadata: { name: bench-masking-key, namespace: bench }
stringData:
  key: bench-masking-key-4d7f0a1e9c2b8e35
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata:
  name: ${CONNECTION_NAME}
  namespace: bench
  labels: { env: bench }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${o.pgPort}, database: ${BENCH_DB} }
  tls: { mode: disable }
  credentials:
    secretRef: { name: bench-db-credentials }
  listen: { port: ${o.listenPort} }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: bench-agent, namespace: bench }
spec:
  podSelector:
    matchLabels: { app: agent }
  subjects:
    - serviceAccount: { name: agent }
  connections: [${CONNECTION_NAME}]
  rules:
${rulesYaml}
${o.masking === false ? '' : masking}  session:
    recording: ${o.recording === false ? 'false' : 'true'}
`;
}

async function startPgbouncer(dir: string, pgPort: number, password: string): Promise<{ proc: ManagedProcess; port: number }> {
  const runAs = unprivilegedUser();
  const port = await freePort();
  const userlist = `"${BENCH_USER}" "${password}"\n`;
  const ini = `[databases]
${BENCH_DB} = host=127.0.0.1 port=${pgPort} dbname=${BENCH_DB}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${join(dir, 'userlist.txt')}
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = ${join(dir, 'pgbouncer.log')}
pidfile = ${join(dir, 'pgbouncer.pid')}
log_connections = 0
log_disconnections = 0
`;
  await writeFile(join(dir, 'userlist.txt'), userlist, { mode: 0o600 });
  await writeFile(join(dir, 'pgbouncer.ini'), ini, { mode: 0o600 });
  if (runAs !== undefined) {
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(join(dir, f), runAs.uid, runAs.gid);
  }
  const proc = startProcess('pgbouncer', PGBOUNCER_BIN, [join(dir, 'pgbouncer.ini')], { logPath: join(dir, 'stdout.log'), runAs, cwd: dir });
  for (let i = 0; i < 100; i++) {
    if (proc.hasExited()) break;
    const r = await runCommand(join(PG_BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-d', BENCH_DB], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '2' },
    });
    if (r.code === 0) return { proc, port };
    await sleep(100);
  }
  await proc.stop();
  throw new Error(`pgbouncer did not start: ${await logTail(join(dir, 'pgbouncer.log'), 20)}\n${await logTail(join(dir, 'stdout.log'), 20)}`);
}

export async function startPgBenchFixture(o: FixtureOptions): Promise<PgBenchFixture> {
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    o.log('starting PostgreSQL 15');
    // No synchronized scans: every LIMIT query over the large table starts at its first row.
    const server = await startPostgres({ settings: { shared_buffers: '128MB', max_connections: '100', synchronize_seqscans: 'off' } });
    cleanups.push(() => server.stop());
    const password = `bench-${crypto.randomUUID()}`;
    // password_encryption is scram-sha-256: every path authenticates to the server with SCRAM.
    await server.sql(`CREATE ROLE ${BENCH_USER} LOGIN PASSWORD '${password}'`);
    await server.sql(`CREATE DATABASE ${BENCH_DB} OWNER ${BENCH_USER}`);
    o.log(`pgbench -i -s ${o.scale}`);
    const init = await runCommand(join(PG_BIN, 'pgbench'), ['-i', '-q', '-s', String(o.scale), '-h', '127.0.0.1', '-p', String(server.port), '-U', BENCH_USER, BENCH_DB], {
      env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' },
    });
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    if (o.largeRows > 0) {
      o.log(`creating ${LARGE_TABLE} (${o.largeRows} rows)`);
      await server.sql(
        `CREATE TABLE ${LARGE_TABLE} AS SELECT g AS id, 'Customer number ' || g AS name, 'user' || g || '@example.com' AS email, ` +
          `lpad((100 + g % 800)::text, 3, '0') || '-45-' || lpad((1000 + g % 8999)::text, 4, '0') AS ssn, ` +
          `'Preferred contact by mail; renewal due next quarter.'::text AS note, now() - (g || ' s')::interval AS created ` +
          `FROM generate_series(1, ${o.largeRows}) g; ALTER TABLE ${LARGE_TABLE} OWNER TO ${BENCH_USER}`,
        { database: BENCH_DB },
      );
    }
    await server.sql('VACUUM ANALYZE', { database: BENCH_DB });

    const proxies = new Set(o.proxies ?? ['relay', 'sidecar', 'pgbouncer']);
    const targets: Partial<Record<TargetName, Target>> = { direct: { name: 'direct', port: server.port, password } };
    const node = process.execPath;
    const proxyStops = new Map<string, () => Promise<void>>();
    await mkdir(o.workDir, { recursive: true });

    if (proxies.has('relay')) {
      const relay = await startReadyChild('relay', node, [join(here, 'relay.js'), '--target-port', String(server.port)], join(o.workDir, 'relay.log'));
      proxyStops.set('relay', () => relay.stop());
      cleanups.push(() => relay.stop());
      targets.relay = { name: 'relay', port: relay.port, pid: relay.pid, password };
    }
    if (proxies.has('frames')) {
      const frames = await startReadyChild('frames', node, [join(here, 'relay.js'), '--frames', '--target-port', String(server.port)], join(o.workDir, 'frames.log'));
      proxyStops.set('frames', () => frames.stop());
      cleanups.push(() => frames.stop());
      targets.frames = { name: 'frames', port: frames.port, pid: frames.pid, password };
    }

    const recordDir = join(o.workDir, 'records');
    const startSidecar = async (name: string, dir: string, features: SidecarFeatures | undefined): Promise<Target> => {
      await mkdir(dir, { recursive: true });
      const configPath = join(dir, 'sidecar.yaml');
      await writeFile(configPath, sidecarConfig({ pgPort: server.port, listenPort: await freePort(), password, ...features }), { mode: 0o600 });
      const child = await startReadyChild(
        name,
        node,
        [
          ...(o.sidecarNodeArgs ?? []),
          join(here, 'postgres-sidecar-child.js'),
          '--config', configPath,
          '--record-dir', join(dir, 'records'),
          '--identity', 'bench/agent',
          '--pod-labels', 'app=agent',
          '--connection', CONNECTION_NAME,
        ],
        join(dir, 'sidecar.log'),
      );
      proxyStops.set(name, () => child.stop());
      cleanups.push(() => child.stop());
      return { name, port: child.port, pid: child.pid, password: '' };
    };
    if (proxies.has('sidecar')) targets.sidecar = await startSidecar('sidecar', o.workDir, o.sidecarFeatures);
    const variants = new Map<string, Target>();
    for (const [i, v] of (o.sidecarVariants ?? []).entries()) {
      variants.set(v.name, await startSidecar(v.name, join(o.workDir, `sidecar-variant-${i + 1}`), v.features));
    }

    if (proxies.has('pgbouncer')) {
      // Outside the checkout: pgbouncer runs as nobody and needs its own readable directory.
      const dir = await mkdtemp(join(tmpdir(), 'agentgate-bench-pgbouncer-'));
      await chmod(dir, 0o700);
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const pgb = await startPgbouncer(dir, server.port, password);
      proxyStops.set('pgbouncer', () => pgb.proc.stop({ signal: 'SIGINT', graceMs: 5000 }));
      cleanups.push(() => pgb.proc.stop({ signal: 'SIGINT', graceMs: 5000 }));
      targets.pgbouncer = { name: 'pgbouncer', port: pgb.port, pid: pgb.proc.pid, password };
    }

    return {
      server,
      password,
      workDir: o.workDir,
      targets: targets as Record<TargetName, Target>,
      variants,
      recordDir,
      stopProxy: async (name) => {
        await proxyStops.get(name)?.();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
