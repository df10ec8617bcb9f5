// Child processes for test servers: output to a log file, killed with their
// parent (setpriv --pdeathsig, so a SIGKILLed test runner leaves no orphans),
// killed on process exit, stopped with a signal then KILL. As root, a process
// can be run as an unprivileged user (PostgreSQL refuses to run as root).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunAs {
  uid: number;
  gid: number;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  logPath: string;
  exited: Promise<ExitStatus>;
  hasExited(): boolean;
  /** Sends `signal` (default SIGTERM), then SIGKILL after `graceMs`. */
  stop(opts?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<void>;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

let setprivOk: boolean | undefined;
function setprivWorks(): boolean {
  if (setprivOk === undefined) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'true'], { stdio: 'ignore' });
    setprivOk = probe.status === 0;
  }
  return setprivOk;
}

/** The command line that runs `bin` with pdeathsig and, when asked, as another user. */
export function wrapCommand(bin: string, args: readonly string[], runAs?: RunAs): [string, string[]] {
  if (!setprivWorks()) {
    if (runAs !== undefined) throw new Error('setpriv is required to run a test server as an unprivileged user');
    return [bin, [...args]];
  }
  const ids = runAs === undefined ? [] : ['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--clear-groups'];
  return ['setpriv', [...ids, '--pdeathsig', 'SIGKILL', '--', bin, ...args]];
}

/** The user test servers run as: `nobody` when we are root, else ourselves. */
export function unprivilegedUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const out = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' });
  const uid = Number.parseInt(out.stdout.trim(), 10);
  const g = Number.parseInt(gid.stdout.trim(), 10);
  if (!Number.isInteger(uid) || !Number.isInteger(g)) throw new Error('user nobody not found');
  return { uid, gid: g };
}

export function startProcess(
  name: string,
  bin: string,
  args: readonly string[],
  opts: { logPath: string; runAs?: RunAs; env?: NodeJS.ProcessEnv; cwd?: string },
): ManagedProcess {
  installExitHook();
  const fd = openSync(opts.logPath, 'a', 0o644);
  const [command, argv] = wrapCommand(bin, args, opts.runAs);
  let child;
  try {
    child = spawn(command, argv, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd });
  } finally {
    closeSync(fd);
  }
  let done = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  }).finally(() => {
    if (child.pid !== undefined) live.delete(child.pid);
  });
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${bin})`);
  const pid = child.pid;
  live.add(pid);
  return {
    name,
    pid,
    logPath: opts.logPath,
    exited,
    hasExited: () => done,
    async stop(stopOpts = {}): Promise<void> {
      if (done) return;
      child.kill(stopOpts.signal ?? 'SIGTERM');
      const ac = new AbortController();
      const status = await Promise.race([
        exited,
        sleep(stopOpts.graceMs ?? 15_000, undefined, { signal: ac.signal }).catch(() => undefined),
      ]);
      ac.abort();
      if (status === undefined) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Runs a command to completion, capturing output (bounded to 16 MiB each). */
export async function runCommand(
  bin: string,
  args: readonly string[],
  opts: { runAs?: RunAs; env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  installExitHook();
  const [command, argv] = wrapCommand(bin, args, opts.runAs);
  const child = spawn(command, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) live.add(child.pid);
  const limit = 16 * 1024 * 1024;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let outLen = 0;
  let errLen = 0;
  child.stdout.on('data', (b: Buffer) => {
    if (outLen < limit) out.push(b);
    outLen += b.length;
  });
  child.stderr.on('data', (b: Buffer) => {
    if (errLen < limit) err.push(b);
    errLen += b.length;
  });
  child.stdin.on('error', () => {
    // the child may exit before reading all input
  });
  child.stdin.end(opts.input ?? '');
  const timer =
    opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs).unref();
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (c) => resolve(c));
  });
  if (timer !== undefined) clearTimeout(timer);
  if (child.pid !== undefined) live.delete(child.pid);
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** The last `lines` lines of a log file, for error messages. */
export async function logTail(logPath: string, lines = 40): Promise<string> {
  let handle;
  try {
    handle = await open(logPath, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    return buf.toString('utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  } finally {
    await handle?.close();
  }
}
