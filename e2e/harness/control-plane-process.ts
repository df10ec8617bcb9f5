// Child processes of the control plane: testkit's runner (output to a log
// file, killed with their parent via setpriv --pdeathsig, so even a SIGKILLed
// test runner leaves no orphans) plus a startup wait with the harness's codes.
import { setTimeout as sleep } from 'node:timers/promises';
import { logTail, startProcess as startManagedProcess, type ManagedProcess } from '../../testkit/processes.js';
import { ControlPlaneError } from './control-plane-errors.js';

export { logTail, type ManagedProcess };

/** The one process runner of the test kit (pdeathsig, exit hook, TERM then KILL), with the harness's error code. */
export function startProcess(name: string, bin: string, args: readonly string[], logPath: string): ManagedProcess {
  try {
    return startManagedProcess(name, bin, args, { logPath });
  } catch (err) {
    throw new ControlPlaneError('CONTROL_PLANE_START_FAILED', err instanceof Error ? err.message : String(err));
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
