// For the sidecar-API and approval e2e tests: the real control plane with the
// CRDs, and the operator's sidecar API and AccessRequest admission handlers
// on an HTTPS server of the test's own (a throwaway CA, registered by URL +
// caBundle, as envtest does), with the same modules the operator mounts.
// Pods are created with the injected sidecar's init container as the
// injection webhook writes it; their tokens come from the TokenRequest API.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { ACCESS_REQUEST_WEBHOOK_PATHS } from '../operator/approvals/access-request-admission.js';
import type { CredentialBroker } from '../operator/credentials/credential-broker.js';
import type { StartedClusterResources } from '../operator/sidecar-api/cluster-resources.js';
import { startControlPlaneServices } from '../operator/sidecar-api/control-plane-services.js';
import { SIDECAR_API_PREFIX } from '../operator/sidecar-api/sidecar-api.js';
import { OPERATOR_AUDIENCE } from '../operator/sidecar-api/token-reviewer.js';
import { KubeClient } from '../operator/kube/kube-client.js';
import { R } from '../operator/kube/resources.js';
import { parseReview, review, type AdmissionHandler } from '../operator/webhooks/admission.js';
import { createTestCa } from '../testkit/test-certs.js';
import { startControlPlane, type ControlPlane } from './harness/control-plane.js';
import { kubectlOk, requestPodToken, ROOT, settle } from './operator-e2e-support.js';

export interface ApiHarness {
  cp: ControlPlane;
  admin: KubeClient;
  /** https://127.0.0.1:<port> */
  apiUrl: string;
  caFile: string;
  storeDir: string;
  tmp: string;
  log: Logger;
  resources: StartedClusterResources;
  broker: CredentialBroker;
  /** Creates a ServiceAccount (once) and a Pod; `sidecar: false` leaves the injected sidecar out. */
  createPod(ns: string, name: string, o?: { labels?: Record<string, string>; sidecar?: boolean; serviceAccount?: string }): Promise<{ uid: string }>;
  /** A TokenRequest token bound to the pod, written to a file; returns the path. */
  podToken(ns: string, pod: string, o?: { audience?: string; serviceAccount?: string }): Promise<string>;
  apply(yaml: string): Promise<void>;
  stop(): Promise<void>;
}

const silent = (): Logger => pino({ level: process.env.AGENTGATE_E2E_LOG ?? 'silent' });

function readBody(req: import('node:http').IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startApiHarness(): Promise<ApiHarness> {
  const tmp = await mkdtemp(join(tmpdir(), 'agentgate-api-e2e-'));
  const cp = await startControlPlane();
  const log = silent();
  const stops: Array<() => Promise<void>> = [async () => cp.stop()];
  try {
    await kubectlOk(cp.kubeconfigPath, ['apply', '-f', join(ROOT, 'crds')]);
    await kubectlOk(cp.kubeconfigPath, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const admin = new KubeClient(kc, 'agentgate-e2e');

    const ca = await createTestCa('agentgate-e2e-operator-ca');
    const leaf = await ca.issue({ commonName: 'agentgate-operator', ips: ['127.0.0.1'], dnsNames: ['localhost'] });
    const caFile = join(tmp, 'operator-ca.crt');
    await writeFile(caFile, ca.certPem);

    const storeDir = join(tmp, 'transcripts');
    await mkdir(storeDir, { recursive: true });
    // The same composition the operator mounts (no sweeper timer: tests sweep explicitly).
    const services = await startControlPlaneServices({ client: admin, log, transcriptDir: storeDir, jitSweepIntervalMs: 0 });
    stops.unshift(() => services.stop());
    const { resources, broker, sidecarApi: api } = services;
    await settle(async () => resources.synced, (s) => s, 300);
    const admission: Record<string, AdmissionHandler> = {
      [ACCESS_REQUEST_WEBHOOK_PATHS.mutate]: services.mutateAccessRequests,
      [ACCESS_REQUEST_WEBHOOK_PATHS.validate]: services.validateAccessRequests,
    };
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (path.startsWith(SIDECAR_API_PREFIX)) {
        api(req, res);
        return;
      }
      const handler = admission[path];
      if (handler === undefined || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      void readBody(req).then(async (text) => {
        const out = await review(parseReview(JSON.parse(text) as unknown), handler, log, path);
        const body = JSON.stringify(out);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      }).catch(() => res.writeHead(400).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stops.unshift(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const apiUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const caBundle = Buffer.from(ca.certPem).toString('base64');
    const common = { admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: 10 };
    await admin.create(R.mutatingWebhooks, undefined, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'agentgate-e2e' },
      webhooks: [{
        name: 'stamp.accessrequests.agentgate.dev', clientConfig: { url: `${apiUrl}${ACCESS_REQUEST_WEBHOOK_PATHS.mutate}`, caBundle },
        rules: [{ operations: ['UPDATE'], apiGroups: ['agentgate.dev'], apiVersions: ['v1alpha1'], resources: ['accessrequests/status'], scope: 'Namespaced' }],
        reinvocationPolicy: 'Never', ...common,
      }],
    } as never);
    await admin.create(R.validatingWebhooks, undefined, {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'agentgate-e2e' },
      webhooks: [{
        name: 'accessrequests.agentgate.dev', clientConfig: { url: `${apiUrl}${ACCESS_REQUEST_WEBHOOK_PATHS.validate}`, caBundle },
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['agentgate.dev'], apiVersions: ['v1alpha1'], resources: ['accessrequests', 'accessrequests/status'], scope: 'Namespaced' }],
        ...common,
      }],
    } as never);

    const serviceAccounts = new Set<string>();
    const ensureSa = async (ns: string, sa: string): Promise<void> => {
      if (serviceAccounts.has(`${ns}/${sa}`)) return;
      await admin.create(R.namespaces, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch(() => undefined);
      await admin.create({ group: '', version: 'v1', plural: 'serviceaccounts', namespaced: true }, ns, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } })
        .catch(() => undefined);
      serviceAccounts.add(`${ns}/${sa}`);
    };

    return {
      cp, admin, apiUrl, caFile, storeDir, tmp, log, resources, broker,
      async createPod(ns, name, o = {}) {
        const sa = o.serviceAccount ?? 'agent';
        await ensureSa(ns, sa);
        const pod = await admin.create<{ metadata?: { uid?: string } }>(R.pods, ns, {
          apiVersion: 'v1', kind: 'Pod',
          metadata: { name, namespace: ns, labels: o.labels ?? {} },
          spec: {
            serviceAccountName: sa,
            ...(o.sidecar === false ? {} : { initContainers: [{ name: 'agentgate-sidecar', image: 'registry.local/agentgate:e2e', restartPolicy: 'Always', args: ['injected'] }] }),
            containers: [{ name: 'agent', image: 'registry.local/agent:e2e' }],
          },
        } as never);
        return { uid: pod.metadata?.uid ?? '' };
      },
      async podToken(ns, pod, o = {}) {
        return requestPodToken(admin, ns, pod, { audience: o.audience ?? OPERATOR_AUDIENCE, serviceAccount: o.serviceAccount ?? 'agent', dir: tmp });
      },
      async apply(yaml) {
        await kubectlOk(cp.kubeconfigPath, ['apply', '-f', '-'], yaml);
      },
      async stop() {
        for (const s of stops) await s().catch(() => undefined);
        await rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const s of stops) await s().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

/**
 * Runs `kubectl agentgate ARGS` exactly as a person would: kubectl finds the
 * plugin (a `kubectl-agentgate` on PATH that runs the built dist/cli/kubectl-agentgate.js)
 * and passes the arguments; the user's kubeconfig comes from $KUBECONFIG.
 */
export async function kubectlAgentgate(h: Pick<ApiHarness, 'tmp'>, kubeconfig: string, args: string[]): Promise<CliResult> {
  const bin = join(h.tmp, 'bin');
  const plugin = join(bin, 'kubectl-agentgate');
  await mkdir(bin, { recursive: true });
  await writeFile(plugin, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/cli/kubectl-agentgate.js')}" "$@"\n`);
  await chmod(plugin, 0o755);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/kubectl', ['agentgate', ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig, PATH: `${bin}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Builds dist/ (tsc emits even when other parts of the repo have type errors) and checks the plugin is there. */
export async function buildCli(): Promise<void> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { existsSync } = await import('node:fs');
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT }).catch(() => undefined);
  if (!existsSync(join(ROOT, 'dist/cli/kubectl-agentgate.js'))) throw new Error('the build did not produce dist/cli/kubectl-agentgate.js');
}
