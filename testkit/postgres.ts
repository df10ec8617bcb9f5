// A real PostgreSQL 15 for tests: initdb into a temp dir (password auth on,
// SCRAM by default), postgres on a free loopback port, unix socket in the temp
// dir, optional TLS with a throwaway CA. As root it runs as `nobody` (postgres
// refuses root). Always `stop()` it in afterAll; it also dies with the runner.
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { logTail, runCommand, startProcess, unprivilegedUser, type ManagedProcess, type RunResult } from './processes.js';
import { createTestCa, type TestCa } from './test-certs.js';

export const PG_BIN = process.env.AGENTGATE_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface StartPostgresOptions {
  /** Serve TLS with a server certificate for 127.0.0.1 / localhost signed by `ca` (a new CA when `true`). */
  tls?: boolean | { ca: TestCa };
  /** Superuser name (default `postgres`). */
  superuser?: string;
  /** Extra postgresql.conf settings passed as -c. */
  settings?: Record<string, string>;
  /** pg_hba.conf lines placed before the defaults (e.g. a per-user `password` method). */
  hba?: string[];
}

export interface PsqlOptions {
  input?: string;
  user?: string;
  password?: string;
  database?: string;
  env?: NodeJS.ProcessEnv;
  host?: string;
  port?: number;
}

export interface PgServer {
  host: '127.0.0.1';
  port: number;
  superuser: string;
  superPassword: string;
  dataDir: string;
  socketDir: string;
  /** Present when started with `tls`. */
  tls?: { ca: TestCa; caPem: string };
  connectionString(db?: string, user?: string, password?: string): string;
  /** psql -X -v ON_ERROR_STOP=1 against this server (as the superuser unless told). */
  psql(args: string[], opts?: PsqlOptions): Promise<RunResult>;
  /** Runs SQL as the superuser and returns unaligned, tuples-only output; throws on error. */
  sql(text: string, opts?: PsqlOptions): Promise<string>;
  stop(): Promise<void>;
}

function randomPassword(): string {
  return `pw-${crypto.randomUUID()}`;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgServer> {
  const runAs = unprivilegedUser();
  const root = await mkdtemp(join(tmpdir(), 'agentgate-pg-'));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'sock');
  const superuser = opts.superuser ?? 'postgres';
  const superPassword = randomPassword();
  let proc: ManagedProcess | undefined;
  const cleanup = async (): Promise<void> => {
    if (proc !== undefined) await proc.stop({ signal: 'SIGINT' });
    await rm(root, { recursive: true, force: true });
  };
  try {
    await mkdir(socketDir);
    await writeFile(join(root, 'pwfile'), superPassword + '\n', { mode: 0o600 });
    if (runAs !== undefined) {
      for (const p of [root, socketDir, join(root, 'pwfile')]) await chown(p, runAs.uid, runAs.gid);
    }
    await chmod(root, 0o700);
    const env = { ...process.env, HOME: root, LC_ALL: 'C', LANG: 'C' };
    const init = await runCommand(
      join(PG_BIN, 'initdb'),
      ['-D', dataDir, '-U', superuser, `--pwfile=${join(root, 'pwfile')}`, '--auth=scram-sha-256', '-E', 'UTF8',
        '--locale=C', '--no-sync', '--no-instructions'],
      { runAs, env, cwd: root },
    );
    if (init.code !== 0) throw new Error(`initdb failed (${String(init.code)}): ${init.stderr || init.stdout}`);

    // `md5` in pg_hba accepts both MD5- and SCRAM-stored passwords, so one
    // server can test both backend authentication methods (per role).
    const hba = [
      ...(opts.hba ?? []),
      'local all all scram-sha-256',
      'host all all 127.0.0.1/32 md5',
      'host all all ::1/128 md5',
    ];
    await writeFile(join(dataDir, 'pg_hba.conf'), hba.join('\n') + '\n');

    let tls: PgServer['tls'];
    const tlsArgs: string[] = [];
    if (opts.tls !== undefined && opts.tls !== false) {
      const ca = opts.tls === true ? await createTestCa('agentgate-test-pg-ca') : opts.tls.ca;
      const leaf = await ca.issue({ commonName: 'localhost', ips: ['127.0.0.1'], dnsNames: ['localhost'] });
      await writeFile(join(dataDir, 'server.crt'), leaf.certPem, { mode: 0o600 });
      await writeFile(join(dataDir, 'server.key'), leaf.keyPem, { mode: 0o600 });
      tlsArgs.push('-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key');
      tls = { ca, caPem: ca.certPem };
    }
    if (runAs !== undefined) {
      for (const f of ['pg_hba.conf', ...(tls ? ['server.crt', 'server.key'] : [])]) {
        await chown(join(dataDir, f), runAs.uid, runAs.gid);
      }
    }

    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: socketDir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: '32MB',
      max_connections: '100',
      log_min_messages: 'warning',
      ...opts.settings,
    };
    const settingArgs = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);

    let port = 0;
    for (let attempt = 0; attempt < 5; attempt++) {
      port = await freePort();
      const logPath = join(root, `postgres-${attempt}.log`);
      proc = startProcess('postgres', join(PG_BIN, 'postgres'), ['-D', dataDir, '-p', String(port), ...settingArgs, ...tlsArgs], {
        logPath,
        runAs,
        env,
        cwd: root,
      });
      if (await waitReady(proc, port)) break;
      const tail = await logTail(logPath);
      await proc.stop({ signal: 'SIGINT' });
      proc = undefined;
      // Another process took the port between freePort() and bind: try another.
      if (!/could not (bind|create listen)/i.test(tail) || attempt === 4) {
        throw new Error(`postgres did not start; ${logPath}:\n${tail}`);
      }
    }
    const started = proc;
    if (started === undefined) throw new Error('postgres did not start');

    const connectionString = (db = 'postgres', user = superuser, password = superPassword): string =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;

    const psql = async (args: string[], o: PsqlOptions = {}): Promise<RunResult> => {
      const user = o.user ?? superuser;
      const password = o.password ?? (user === superuser ? superPassword : undefined);
      return await runCommand(
        '/usr/bin/psql',
        ['-X', '-v', 'ON_ERROR_STOP=1', '-h', o.host ?? '127.0.0.1', '-p', String(o.port ?? port), '-U', user,
          '-d', o.database ?? 'postgres', ...args],
        {
          env: {
            ...process.env,
            PGSSLMODE: 'disable',
            PGCONNECT_TIMEOUT: '10',
            ...(password !== undefined ? { PGPASSWORD: password } : {}),
            ...o.env,
          },
          input: o.input,
        },
      );
    };

    let stopped = false;
    return {
      host: '127.0.0.1',
      port,
      superuser,
      superPassword,
      dataDir,
      socketDir,
      tls,
      connectionString,
      psql,
      async sql(text: string, o: PsqlOptions = {}): Promise<string> {
        const r = await psql(['-At', '-c', text], o);
        if (r.code !== 0) throw new Error(`psql failed: ${r.stderr}`);
        return r.stdout.replace(/\n$/, '');
      },
      async stop(): Promise<void> {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function waitReady(proc: ManagedProcess, port: number): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    if (proc.hasExited()) return false;
    const r = await runCommand(join(PG_BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], {
      env: { ...process.env, PGCONNECT_TIMEOUT: '2' },
    });
    if (r.code === 0) return true;
    await sleep(100);
  }
  return false;
}
