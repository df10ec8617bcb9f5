// Child processes of the control plane: output to a log file, killed with
// their parent (setpriv --pdeathsig, so even a SIGKILLed test runner leaves no
// orphans), killed on process exit, and stopped with TERM then KILL.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlPlaneError } from './control-plane-errors.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  logPath: string;
  exited: Promise<ExitStatus>;
  hasExited(): boolean;
  stop(graceMs?: number): Promise<void>;
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

let setprivChecked: boolean | undefined;
function hasSetprivPdeathsig(): boolean {
  if (setprivChecked === undefined) {
    const probe = spawnSync('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'true'], { stdio: 'ignore' });
    setprivChecked = probe.status === 0;
  }
  return setprivChecked;
}

export function startProcess(name: string, bin: string, args: readonly string[], logPath: string): ManagedProcess {
  installExitHook();
  const fd = openSync(logPath, 'a', 0o600);
  const [command, argv] = hasSetprivPdeathsig() ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', bin, ...args]] : [bin, [...args]];
  let child;
  try {
    child = spawn(command, argv, { stdio: ['ignore', fd, fd] });
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
  if (child.pid === undefined) {
    throw new ControlPlaneError('CONTROL_PLANE_START_FAILED', `cannot start ${name} (${bin})`);
  }
  const pid = child.pid;
  live.add(pid);
  return {
    name,
    pid,
    logPath,
    exited,
    hasExited: () => done,
    async stop(graceMs = 15_000): Promise<void> {
      if (done) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), graceMs);
      });
      const status = await Promise.race([exited, grace]);
      clearTimeout(timer);
      if (status === undefined) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
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

/**
 * Polls `check` until it returns true. Fails early when `proc` exits and after
 * `attempts` tries; a startup wait, not a test assertion.
 */
export async function waitUntil(
  what: string,
  proc: ManagedProcess,
  check: () => Promise<boolean>,
  opts: { attempts: number; intervalMs: number },
): Promise<void> {
  let lastError = '';
  for (let i = 0; i < opts.attempts; i++) {
    if (proc.hasExited()) {
      const status = await proc.exited;
      throw new ControlPlaneError(
        'CONTROL_PLANE_START_FAILED',
        `${proc.name} exited (code ${String(status.code)}, signal ${String(status.signal)}) before ${what}; ${proc.logPath}:\n${await logTail(proc.logPath)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err: unknown) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(opts.intervalMs);
  }
  throw new ControlPlaneError(
    'CONTROL_PLANE_NOT_READY',
    `${proc.name}: not ${what} after ${opts.attempts} checks${lastError ? ` (last error: ${lastError})` : ''}; ${proc.logPath}:\n${await logTail(proc.logPath)}`,
  );
}
