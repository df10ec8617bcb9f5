// `cluster-cli up|down|status`: a long-lived control plane for the demo and
// for poking around by hand (make cluster-up / cluster-down).
//   up     starts a detached daemon (`serve`) that owns etcd + kube-apiserver,
//          waits until it is ready and prints `export KUBECONFIG=...`
//   down   stops the daemon, which stops both processes
//   status prints the state file
// State: ${AGENTGATE_CACHE:-~/.cache/agentgate}/cluster/state.json
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheRoot, ensureControlPlaneBinaries } from './control-plane-binaries.js';
import { startControlPlane } from './control-plane.js';
import { logTail } from './control-plane-process.js';

interface ClusterState {
  daemonPid: number;
  server: string;
  kubeconfigPath: string;
  caCertPath: string;
  dataDir: string;
  serviceAccountIssuer: string;
  version: string;
  pids: { etcd: number; kubeApiServer: number };
  startedAt: string;
}

const clusterDir = (): string => path.join(cacheRoot(), 'cluster');
const statePath = (): string => path.join(clusterDir(), 'state.json');
const daemonLog = (): string => path.join(clusterDir(), 'daemon.log');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The daemon is alive only if the pid still runs this script (pids get reused). */
function daemonAlive(state: ClusterState): boolean {
  if (!isAlive(state.daemonPid)) return false;
  try {
    return readFileSync(`/proc/${state.daemonPid}/cmdline`, 'utf8').includes('cluster-cli');
  } catch {
    return false;
  }
}

async function readState(): Promise<ClusterState | undefined> {
  let text: string;
  try {
    text = await readFile(statePath(), 'utf8');
  } catch {
    return undefined;
  }
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || !('daemonPid' in parsed) || !('kubeconfigPath' in parsed)) {
    throw new Error(`${statePath()} is not a cluster state file`);
  }
  return parsed as ClusterState;
}

async function serve(): Promise<void> {
  const dataDir = path.join(clusterDir(), 'data');
  await rm(dataDir, { recursive: true, force: true });
  const cp = await startControlPlane({ dataDir });
  const caCertPath = path.join(dataDir, 'ca.crt');
  await writeFile(caCertPath, cp.caCertPem);
  const state: ClusterState = {
    daemonPid: process.pid,
    server: cp.server,
    kubeconfigPath: cp.kubeconfigPath,
    caCertPath,
    dataDir: cp.dataDir,
    serviceAccountIssuer: cp.serviceAccountIssuer,
    version: cp.version,
    pids: cp.pids,
    startedAt: new Date().toISOString(),
  };
  const tmp = `${statePath()}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, statePath());
  console.log(`control plane ${cp.version} ready at ${cp.server}`);

  const shutdown = (signal: string): void => {
    console.log(`${signal}: stopping the control plane`);
    void cp
      .stop()
      .then(async () => {
        const current = await readState().catch(() => undefined);
        if (current?.daemonPid === process.pid) await rm(statePath(), { force: true });
      })
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => undefined);
  // Stay alive: the pending timer keeps the event loop running until a signal.
  setInterval(() => undefined, 1 << 30);
}

function printExport(state: ClusterState): void {
  console.error(`control plane ${state.version} at ${state.server} (daemon pid ${state.daemonPid}, logs in ${state.dataDir})`);
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
}

async function up(): Promise<number> {
  const existing = await readState();
  if (existing !== undefined && daemonAlive(existing) && isAlive(existing.pids.kubeApiServer) && isAlive(existing.pids.etcd)) {
    printExport(existing);
    return 0;
  }
  if (existing !== undefined) await down();
  await mkdir(clusterDir(), { recursive: true, mode: 0o700 });
  // Build in the foreground (a cold build takes many minutes) so its progress is visible.
  await ensureControlPlaneBinaries({ onProgress: (text) => process.stderr.write(text) });

  await rm(statePath(), { force: true });
  const fd = openSync(daemonLog(), 'w', 0o600);
  const script = fileURLToPath(import.meta.url);
  const daemon = spawn(process.execPath, [...process.execArgv, script, 'serve'], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  daemon.unref();
  let exited = false;
  daemon.once('exit', () => {
    exited = true;
  });
  // Bounded: kube-apiserver is ready within a minute here; the harness itself gives up after ~2 minutes.
  for (let i = 0; i < 1500 && !exited; i++) {
    const state = await readState().catch(() => undefined);
    if (state !== undefined && state.daemonPid === daemon.pid) {
      printExport(state);
      return 0;
    }
    await sleep(200);
  }
  if (!exited && daemon.pid !== undefined) process.kill(daemon.pid, 'SIGTERM');
  console.error(`cluster-cli: the control plane did not come up; ${daemonLog()}:\n${await logTail(daemonLog(), 60)}`);
  return 1;
}

async function down(): Promise<number> {
  const state = await readState();
  if (state === undefined) {
    console.error('cluster-cli: no cluster running');
    return 0;
  }
  if (daemonAlive(state)) {
    process.kill(state.daemonPid, 'SIGTERM');
    for (let i = 0; i < 150 && daemonAlive(state); i++) await sleep(200);
    if (daemonAlive(state)) process.kill(state.daemonPid, 'SIGKILL');
  }
  // The daemon's children die with it (parent-death signal); this covers a daemon that was SIGKILLed without it.
  for (const pid of [state.pids.kubeApiServer, state.pids.etcd]) {
    if (isAlive(pid)) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes('kube-apiserver') || cmd.includes('etcd')) process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  await rm(statePath(), { force: true });
  console.error(`cluster-cli: stopped the control plane at ${state.server}`);
  return 0;
}

async function status(): Promise<number> {
  const state = await readState();
  if (state === undefined || !daemonAlive(state)) {
    console.error('cluster-cli: no cluster running');
    return 1;
  }
  console.log(JSON.stringify(state, null, 2));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case 'up':
      return up();
    case 'down':
      return down();
    case 'status':
      return status();
    case 'serve':
      await serve();
      return -1; // keeps running until a signal
    default:
      console.error('usage: cluster-cli up|down|status');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(`cluster-cli: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
