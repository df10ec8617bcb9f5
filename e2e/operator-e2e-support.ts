// Helpers for the operator e2e tests: kubectl, the operator as a local
// process (the built dist/operator/main.js), bounded polling, free ports.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const ROOT = resolve(import.meta.dirname, '..');
export const KUBECTL = '/usr/bin/kubectl';

export interface RunResult { code: number | null; stdout: string; stderr: string }

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', rej);
    child.once('close', (code) => res({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export async function kubectlOk(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Re-runs `attempt` until `done` holds (informers and reconcilers trail a
 * write); bounded by `tries`. The caller asserts on the returned last value.
 */
export async function settle<T>(attempt: () => Promise<T>, done: (v: T) => boolean, tries = 300): Promise<T> {
  let last = await attempt();
  for (let i = 1; i < tries && !done(last); i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = await attempt();
  }
  return last;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

export function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 2000 }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res({ status: 0, body: '' }));
  });
}

/** Builds dist/ once per run (tsc emits even when other parts of the repo have type errors). */
export async function buildOperator(): Promise<string> {
  const main = join(ROOT, 'dist/operator/main.js');
  await rm(join(ROOT, 'dist/operator'), { recursive: true, force: true });
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT }).catch(() => undefined);
  if (!existsSync(main)) throw new Error('build did not produce dist/operator/main.js (run npx tsc -p tsconfig.build.json)');
  return main;
}

export interface OperatorProcess {
  identity: string;
  healthPort: number;
  metricsPort: number;
  webhookPort: number;
  logPath: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** SIGTERM, then wait for the exit code. */
  stop(): Promise<number | null>;
  logs(): string;
}

export async function startOperator(main: string, o: {
  kubeconfig: string; namespace: string; identity: string; webhookPort: number; logDir: string; extraArgs?: string[];
}): Promise<OperatorProcess> {
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const logPath = join(o.logDir, `operator-${o.identity}-${Date.now()}.log`);
  const out = createWriteStream(logPath);
  const child = spawn(process.execPath, [
    main, '--kubeconfig', o.kubeconfig, '--namespace', o.namespace, '--identity', o.identity,
    '--bind-address', '127.0.0.1', '--webhook-host', '127.0.0.1', '--webhook-port', String(o.webhookPort),
    '--health-port', String(healthPort), '--metrics-port', String(metricsPort),
    '--leader-elect', '--sidecar-image', 'registry.local/agentgate:e2e', '--resync-period', '30s', '--log-level', 'debug',
    ...(o.extraArgs ?? []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    identity: o.identity, healthPort, metricsPort, webhookPort: o.webhookPort, logPath, child, exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    logs: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
  };
}

/** Waits (bounded) until /readyz answers 200; throws with the log tail if it never does or the process dies. */
export async function waitReady(op: OperatorProcess): Promise<void> {
  const r = await settle(async () => (op.child.exitCode !== null ? { status: -1, body: 'exited' } : httpGet(op.healthPort, '/readyz')),
    (x) => x.status === 200 || x.status === -1, 600);
  if (r.status !== 200) throw new Error(`operator ${op.identity} not ready (${r.status} ${r.body}):\n${op.logs().slice(-4000)}`);
}
