// What the control-plane benchmarks run against: the real kube-apiserver and
// etcd of e2e/harness (cached build), the CRDs applied, and the built operator
// (dist/operator/main.js) as a child process with its webhooks registered by
// URL and caBundle, as the e2e tests run it. Everything shares this machine's
// cores with the benchmark client.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane, type ControlPlane } from '../e2e/harness/control-plane.js';
import { freePort, httpGet, kubectlOk, startOperator, waitReady, type OperatorProcess } from '../e2e/operator-e2e-support.js';
import { BenchKubeClient } from './kube-bench-client.js';
import { agentPod, namespace, paths } from './control-plane-manifests.js';
import type { BenchContext } from './bench-suite.js';
import { snapshotCpu, type CpuSnapshot } from './process-cpu.js';

export const OPERATOR_NS = 'agentgate-system';
const INJECTION_LABEL = 'agentgate.dev/injection';

export interface ControlPlaneFixture {
  cp: ControlPlane;
  client: BenchKubeClient;
  operator: OperatorProcess;
  /** Creates a namespace, opted in to injection or not. */
  createNamespace(name: string, injected: boolean): Promise<void>;
  /** The operator's /metrics text. */
  operatorMetrics(): Promise<string>;
  /** The API server's /metrics text. */
  apiServerMetrics(): Promise<string>;
  /** CPU seconds so far of kube-apiserver, etcd, the operator and this process. */
  cpu(): CpuSnapshot;
  stop(): Promise<void>;
}

function operatorMain(): string {
  // This file runs from dist/bench/; the operator was built beside it.
  const main = fileURLToPath(new URL('../operator/main.js', import.meta.url));
  if (!existsSync(main)) throw new Error(`${main} not found: build first (make build, or npx tsc -p tsconfig.build.json)`);
  return main;
}

export async function startFixture(ctx: BenchContext): Promise<ControlPlaneFixture> {
  const main = operatorMain();
  ctx.log('starting kube-apiserver and etcd (built once and cached; the first build takes minutes)');
  const cp = await startControlPlane({ dataDir: join(ctx.workDir, 'control-plane') });
  let client: BenchKubeClient | undefined;
  let operator: OperatorProcess | undefined;
  try {
    ctx.log(`control plane ${cp.version} at ${cp.server}; applying CRDs`);
    const root = fileURLToPath(new URL('../..', import.meta.url));
    await kubectlOk(cp.kubeconfigPath, ['apply', '-f', join(root, 'crds')]);
    await kubectlOk(cp.kubeconfigPath, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    client = await BenchKubeClient.fromKubeconfig(cp.kubeconfigPath);
    const c = client;
    await c.json('POST', '/api/v1/namespaces', namespace(OPERATOR_NS));

    const webhookPort = await freePort();
    operator = await startOperator(main, {
      kubeconfig: cp.kubeconfigPath, namespace: OPERATOR_NS, identity: 'bench-operator', webhookPort, logDir: ctx.workDir,
      // Later flags win: info logging (debug logs every admission) and the default resync (a 30 s
      // resync would re-reconcile 2,000 objects in the middle of a measurement).
      extraArgs: ['--manage-webhooks', '--log-level', 'info', '--resync-period', '10m'],
    });
    await waitReady(operator);
    const op = operator;
    ctx.log(`operator running as a child process (pid ${String(op.child.pid)}), log ${op.logPath}`);
    await waitFor(async () => {
      const lease = await c.raw('GET', `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NS}/leases/agentgate-operator`);
      return lease.status === 200 && (JSON.parse(lease.text) as { spec?: { holderIdentity?: string } }).spec?.holderIdentity === op.identity;
    }, 'the operator to hold the leader Lease', op);

    const fixture: ControlPlaneFixture = {
      cp, client: c, operator: op,
      async createNamespace(name, injected) {
        await c.json('POST', '/api/v1/namespaces', namespace(name, injected ? { [INJECTION_LABEL]: 'enabled' } : {}));
        if (!injected) return;
        // The API server picks up the webhook configuration asynchronously: probe with dry-run pods.
        await waitFor(async () => {
          const r = await c.raw('POST', `${paths.pods(name)}?dryRun=All`, agentPod(name, 'probe', 'probe'));
          return r.status === 201 && r.text.includes('agentgate-sidecar');
        }, `pods in ${name} to be injected`, op);
      },
      async operatorMetrics() {
        const r = await httpGet(op.metricsPort, '/metrics');
        if (r.status !== 200) throw new Error(`operator /metrics: HTTP ${r.status}`);
        return r.body;
      },
      async apiServerMetrics() {
        const r = await c.raw('GET', '/metrics');
        if (r.status !== 200) throw new Error(`kube-apiserver /metrics: HTTP ${r.status}`);
        return r.text;
      },
      cpu: () => snapshotCpu({ 'kube-apiserver': cp.pids.kubeApiServer, etcd: cp.pids.etcd, operator: op.child.pid, 'bench client': process.pid }),
      async stop() {
        c.close();
        await op.stop();
        await cp.stop();
        // Keep the logs and certificates for a look afterwards; drop the bulky etcd data.
        await rm(join(cp.dataDir, 'etcd'), { recursive: true, force: true });
      },
    };
    return fixture;
  } catch (err) {
    client?.close();
    if (operator) {
      ctx.log(`operator log tail:\n${operator.logs().slice(-3000)}`);
      await operator.stop();
    }
    await cp.stop();
    throw err;
  }
}

/** Bounded wait (about a minute) for a condition during setup; never part of a measurement. */
async function waitFor(check: () => Promise<boolean>, what: string, op: OperatorProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (op.child.exitCode !== null) throw new Error(`the operator exited (${String(op.child.exitCode)}) while waiting for ${what}:\n${op.logs().slice(-3000)}`);
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}:\n${op.logs().slice(-3000)}`);
}
