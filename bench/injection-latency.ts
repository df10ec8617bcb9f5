// What pod injection adds to pod creation: the same pod created in a
// namespace opted in to injection (two AccessPolicies and two Connections
// select it) and in one the webhook never sees, alternating the two kinds
// (and which goes first) so drift in machine load hits both alike;
// sequential requests on a keep-alive connection, timed around the POST.
import { performance } from 'node:perf_hooks';
import type { BenchContext, BenchResult } from './bench-suite.js';
import type { ControlPlaneFixture } from './control-plane-fixture.js';
import { accessPolicy, agentPod, httpConnection, paths, postgresConnection, secret } from './control-plane-manifests.js';
import { histogramTotals, meanMsBetween } from './prometheus-text.js';
import { cpuResults } from './process-cpu.js';
import { ReadyTracker } from './ready-tracker.js';
import { round, summarize, type Summary } from './stats.js';

const INJECTED_NS = 'bench-injected';
const PLAIN_NS = 'bench-plain';
const APP = 'agent';

async function createSelectingPolicies(f: ControlPlaneFixture): Promise<void> {
  const c = f.client;
  const tracker = new ReadyTracker(c, paths.policies(INJECTED_NS), 'injection policies');
  await tracker.start();
  try {
    for (const s of ['orders-db-creds', 'billing-api-creds']) await c.json('POST', paths.secrets(INJECTED_NS), secret(INJECTED_NS, s));
    await c.json('POST', paths.connections(INJECTED_NS), postgresConnection(INJECTED_NS, 'orders-db', 'orders-db-creds', 15432));
    await c.json('POST', paths.connections(INJECTED_NS), httpConnection(INJECTED_NS, 'billing-api', 'billing-api-creds', 18080));
    await c.json('POST', paths.policies(INJECTED_NS), accessPolicy(INJECTED_NS, 'orders-read', APP, ['orders-db']));
    await c.json('POST', paths.policies(INJECTED_NS), accessPolicy(INJECTED_NS, 'billing-read', APP, ['orders-db', 'billing-api']));
    // Ready means the operator has both Connections in its cache, which the webhook reads.
    await tracker.until(() => tracker.ready === 2, 60_000, 'both policies Ready');
  } finally {
    tracker.stop();
  }
}

async function createPod(f: ControlPlaneFixture, ns: string, name: string, injected: boolean): Promise<number> {
  const body = JSON.stringify(agentPod(ns, name, APP));
  const t0 = performance.now();
  const r = await f.client.raw('POST', paths.pods(ns), body);
  const ms = performance.now() - t0;
  if (r.status !== 201) throw new Error(`create pod ${ns}/${name}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
  // Every response is checked, so a run that silently stopped injecting cannot pass for a fast one.
  const hasSidecar = r.text.includes('"agentgate-sidecar"') && r.text.includes('"PGPORT"') && r.text.includes('"API_BASE_URL"');
  if (hasSidecar !== injected) throw new Error(`pod ${ns}/${name}: expected ${injected ? 'the sidecar and both Connections\' env' : 'no injection'}`);
  return ms;
}

/** p50 and p99 of `s`, each with its ratio to the same percentile of `base` when given. */
function percentileResults(label: string, s: Summary, base?: { label: string; s: Summary }): BenchResult[] {
  return (['p50', 'p99'] as const).map((p) => ({
    name: `pod create ${p}, ${label}`, value: round(s[p]), unit: 'ms',
    ...(base ? { ratio: round(s[p] / base.s[p]), baseline: `pod create ${p}, ${base.label}` } : {}),
  }));
}

/** The two namespaces and the policies that select the pods; once per run. */
export async function prepareInjection(f: ControlPlaneFixture): Promise<void> {
  await f.createNamespace(INJECTED_NS, true);
  await f.createNamespace(PLAIN_NS, false);
  await createSelectingPolicies(f);
}

/** One pass: warm-up pairs, then `pods` pods of each kind; `pass` keeps pod names apart between passes. */
export async function measureInjectionLatency(f: ControlPlaneFixture, ctx: BenchContext, pass: string): Promise<BenchResult[]> {
  const pods = ctx.quick ? 100 : 1000;
  const warmup = ctx.quick ? 10 : 50;
  ctx.log(`injection (${pass}): ${warmup} warm-up pairs, then ${pods} pods in each namespace, alternating`);
  for (let i = 0; i < warmup; i++) {
    await createPod(f, INJECTED_NS, `${pass}-warmup-${i}`, true);
    await createPod(f, PLAIN_NS, `${pass}-warmup-${i}`, false);
  }
  const opBefore = histogramTotals(await f.operatorMetrics(), 'agentgate_admission_duration_seconds', { webhook: 'pods' });
  const apiBefore = histogramTotals(await f.apiServerMetrics(), 'apiserver_admission_webhook_admission_duration_seconds', { name: 'namespace.inject.agentgate.dev' });
  const withHook: number[] = [];
  const without: number[] = [];
  const cpuBefore = f.cpu();
  const started = performance.now();
  for (let i = 0; i < pods; i++) {
    const name = `${pass}-agent-${i}`;
    if (i % 2 === 0) {
      withHook.push(await createPod(f, INJECTED_NS, name, true));
      without.push(await createPod(f, PLAIN_NS, name, false));
    } else {
      without.push(await createPod(f, PLAIN_NS, name, false));
      withHook.push(await createPod(f, INJECTED_NS, name, true));
    }
    if ((i + 1) % 250 === 0) ctx.log(`injection (${pass}): ${i + 1}/${pods} pairs`);
  }
  const elapsedS = (performance.now() - started) / 1000;
  const cpuAfter = f.cpu();
  const opMean = meanMsBetween(opBefore, histogramTotals(await f.operatorMetrics(), 'agentgate_admission_duration_seconds', { webhook: 'pods' }));
  const apiMean = meanMsBetween(apiBefore, histogramTotals(await f.apiServerMetrics(), 'apiserver_admission_webhook_admission_duration_seconds', { name: 'namespace.inject.agentgate.dev' }));

  const w = summarize(withHook);
  const o = summarize(without);
  const addedP50 = w.p50 - o.p50;
  const addedP99 = w.p99 - o.p99;
  ctx.log(`injection (${pass}): injected p50 ${round(w.p50)} p99 ${round(w.p99)} ms; plain p50 ${round(o.p50)} p99 ${round(o.p99)} ms (${round(elapsedS)} s)`);
  return [
    ...percentileResults('no webhook', o),
    ...percentileResults('injected', w, { label: 'no webhook', s: o }),
    { name: 'added by injection, p50', value: round(addedP50), unit: 'ms', note: `p50 injected − p50 no webhook, ${pods} pods each` },
    {
      name: 'added by injection, p99', value: round(addedP99), unit: 'ms',
      note: `p99 injected − p99 no webhook; target < 20 ms: ${addedP99 < 20 ? 'met' : 'NOT met'}`,
    },
    { name: 'webhook call as the API server times it, mean', value: round(apiMean), unit: 'ms', note: 'apiserver_admission_webhook_admission_duration_seconds' },
    { name: 'webhook handler in the operator, mean', value: round(opMean), unit: 'ms', note: 'agentgate_admission_duration_seconds{webhook="pods"}' },
    { name: 'pod create max, injected', value: round(w.max), unit: 'ms' },
    { name: 'pod create max, no webhook', value: round(o.max), unit: 'ms' },
    ...cpuResults(`the ${2 * pods} creates`, cpuBefore, cpuAfter, elapsedS),
  ];
}
