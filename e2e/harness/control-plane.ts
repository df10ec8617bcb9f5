// A real Kubernetes control plane for e2e tests and the demo: etcd and
// kube-apiserver (built from the Go module proxy, cached outside the repo) on
// random loopback ports, with RBAC, client-certificate users and working
// service-account tokens (TokenRequest / TokenReview). No kubelet and no
// controller-manager: Pods stay Pending, nothing creates default ServiceAccounts.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureControlPlaneBinaries } from './control-plane-binaries.js';
import { generateControlPlanePki, issueCertificate, type ControlPlanePki } from './control-plane-certs.js';
import { ControlPlaneError } from './control-plane-errors.js';
import { logTail, startProcess, waitUntil, type ManagedProcess } from './control-plane-process.js';
import { writeKubeconfig } from './kubeconfig-file.js';

export { ControlPlaneError } from './control-plane-errors.js';

export interface ControlPlaneOptions {
  /** Where certificates, etcd data, logs and kubeconfigs go; kept on stop(). Default: a new temp dir, removed on stop(). */
  dataDir?: string;
  /**
   * Appended after the defaults: a repeated scalar flag overrides the default, a repeated
   * list flag (e.g. --disable-admission-plugins) adds to it.
   */
  extraApiServerFlags?: string[];
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig: client certificate in group system:masters. */
  kubeconfigPath: string;
  /** CA of the API server's serving certificate. */
  caCertPem: string;
  dataDir: string;
  /** Issuer of service-account tokens (= server, so /.well-known/openid-configuration works). */
  serviceAccountIssuer: string;
  /** Kubernetes version of the binaries, e.g. v1.37.1. */
  version: string;
  /** Process ids, for tools that manage a detached control plane. */
  pids: { etcd: number; kubeApiServer: number };
  /** Writes a kubeconfig for another user (client certificate: CN = user, O = groups); returns its path. */
  makeUserKubeconfig(user: string, groups: string[]): Promise<string>;
  /** Stops kube-apiserver, then etcd. Idempotent. */
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3; // a fresh port pair per attempt: a port picked free can be taken before the bind
const SERVICE_CIDR = '10.0.0.0/24';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

function httpGet(url: string, tls?: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { ...tls, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 65_536) body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout GET ${url}`)));
    req.on('error', reject);
  });
}

async function portInUse(proc: ManagedProcess): Promise<boolean> {
  return /address already in use/i.test(await logTail(proc.logPath, 200));
}

async function startEtcd(bin: string, dataDir: string): Promise<{ proc: ManagedProcess; url: string }> {
  for (let attempt = 1; ; attempt++) {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const proc = startProcess('etcd', bin, [
      '--name=agentgate-e2e',
      `--data-dir=${path.join(dataDir, 'etcd')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=agentgate-e2e=${peer}`,
      '--initial-cluster-state=new',
      // Test data: durability across power loss does not matter, speed does.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ], path.join(dataDir, 'etcd.log'));
    try {
      await waitUntil('healthy', proc, async () => {
        const res = await httpGet(`${url}/health`);
        return res.status === 200 && /"health":\s*"true"/.test(res.body);
      }, { attempts: 300, intervalMs: 200 });
      return { proc, url };
    } catch (err: unknown) {
      await proc.stop();
      if (attempt >= START_ATTEMPTS || !(await portInUse(proc))) throw err;
      await rm(path.join(dataDir, 'etcd'), { recursive: true, force: true });
    }
  }
}

function apiServerArgs(pki: ControlPlanePki, dataDir: string, etcdUrl: string, port: number, extra: readonly string[]): string[] {
  const server = `https://127.0.0.1:${port}`;
  return [
    `--etcd-servers=${etcdUrl}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // The endpoint reconciler refuses a loopback advertise address (fatal since ~1.35); no
    // in-cluster client needs the "kubernetes" Service endpoints here.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${path.join(dataDir, 'apiserver-certs')}`,
    `--tls-cert-file=${pki.serving.certPath}`,
    `--tls-private-key-file=${pki.serving.keyPath}`,
    `--client-ca-file=${pki.clientCa.certPath}`,
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${pki.serviceAccountPubPath}`,
    `--service-account-signing-key-file=${pki.serviceAccountKeyPath}`,
    '--authorization-mode=RBAC',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--allow-privileged=true',
    // No controller-manager creates "default" ServiceAccounts; tests create the ones they use.
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
    ...extra,
  ];
}

async function startApiServer(
  bin: string,
  pki: ControlPlanePki,
  dataDir: string,
  etcdUrl: string,
  extra: readonly string[],
): Promise<{ proc: ManagedProcess; server: string }> {
  const tls: https.RequestOptions = {
    ca: await readFile(pki.servingCa.certPath),
    cert: await readFile(pki.admin.certPath),
    key: await readFile(pki.admin.keyPath),
  };
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const proc = startProcess('kube-apiserver', bin, apiServerArgs(pki, dataDir, etcdUrl, port, extra), path.join(dataDir, 'kube-apiserver.log'));
    try {
      await waitUntil('ready (/readyz)', proc, async () => {
        const res = await httpGet(`${server}/readyz`, tls);
        if (res.status !== 200) throw new Error(`/readyz ${res.status}: ${res.body.split('\n').filter((l) => l.startsWith('[-]')).join(' ')}`);
        return true;
      }, { attempts: 600, intervalMs: 200 });
      return { proc, server };
    } catch (err: unknown) {
      await proc.stop();
      if (attempt >= START_ATTEMPTS || !(await portInUse(proc))) throw err;
    }
  }
}

/** Starts etcd and kube-apiserver (building them first if they are not cached) and waits until /readyz is ok. */
export async function startControlPlane(opts?: ControlPlaneOptions): Promise<ControlPlane> {
  const binaries = await ensureControlPlaneBinaries();
  const ownDataDir = opts?.dataDir === undefined;
  const dataDir = opts?.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'agentgate-cp-')));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });

  let etcd: ManagedProcess | undefined;
  let apiServer: ManagedProcess | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await apiServer?.stop();
      await etcd?.stop();
      if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const pki = await generateControlPlanePki(path.join(dataDir, 'pki'));
    const etcdStarted = await startEtcd(binaries.etcd, dataDir);
    etcd = etcdStarted.proc;
    const apiStarted = await startApiServer(binaries.kubeApiServer, pki, dataDir, etcdStarted.url, opts?.extraApiServerFlags ?? []);
    apiServer = apiStarted.proc;
    const server = apiStarted.server;

    const caCertPem = await readFile(pki.servingCa.certPath, 'utf8');
    const kubeconfigPath = path.join(dataDir, 'admin.kubeconfig');
    await writeKubeconfig(kubeconfigPath, {
      server,
      caCertPem,
      clientCertPem: await readFile(pki.admin.certPath, 'utf8'),
      clientKeyPem: await readFile(pki.admin.keyPath, 'utf8'),
      userName: 'admin',
    });

    const usersDir = path.join(dataDir, 'users');
    let userCount = 0;
    const makeUserKubeconfig = async (user: string, groups: string[]): Promise<string> => {
      await mkdir(usersDir, { recursive: true, mode: 0o700 });
      const base = `${++userCount}-${user.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64)}`;
      const cert = await issueCertificate(pki.clientCa, usersDir, base, { commonName: user, organizations: groups });
      const file = path.join(usersDir, `${base}.kubeconfig`);
      await writeKubeconfig(file, {
        server,
        caCertPem,
        clientCertPem: await readFile(cert.certPath, 'utf8'),
        clientKeyPem: await readFile(cert.keyPath, 'utf8'),
        userName: user,
      });
      return file;
    };

    return {
      server,
      kubeconfigPath,
      caCertPem,
      dataDir,
      serviceAccountIssuer: server,
      version: binaries.version,
      pids: { etcd: etcd.pid, kubeApiServer: apiServer.pid },
      makeUserKubeconfig,
      stop,
    };
  } catch (err: unknown) {
    // Keep a caller's dataDir (with the logs) for inspection; the error carries the log tail either way.
    await stop().catch(() => undefined);
    if (err instanceof ControlPlaneError) throw err;
    throw new ControlPlaneError('CONTROL_PLANE_START_FAILED', err instanceof Error ? err.message : String(err), { cause: err });
  }
}
