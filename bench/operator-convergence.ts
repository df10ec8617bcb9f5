// How fast the operator brings many objects to Ready, and how fast it
// reflects one change among them. N Secrets, N Connections (postgres, each
// needing its Secret) and N AccessPolicies (each naming its Connection, four
// CEL rules, through the validating webhook) are created by a few parallel
// clients; watches on both resources time when every object is Ready=True for
// its current generation. Then, repeatedly: a referenced Secret is deleted
// (its Connection must turn SecretNotFound) and put back, and a policy is made
// to name a missing Connection (ConnectionNotFound) and restored.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, BenchResult } from './bench-suite.js';
import type { ControlPlaneFixture } from './control-plane-fixture.js';
import { accessPolicy, paths, postgresConnection, secret } from './control-plane-manifests.js';
import { isReadyNow, ReadyTracker, type ReadyState } from './ready-tracker.js';
import { round, summarize } from './stats.js';
import { cpuResults } from './process-cpu.js';

const NS = 'bench-scale';
/** Parallel creating clients: enough to out-run the operator, so its own pace shows. */
const CREATE_CONCURRENCY = 8;
const ONE_CHANGE_TARGET_MS = 1000;

const secretName = (i: number) => `db-${i}-creds`;
const connName = (i: number) => `db-${i}`;
const policyName = (i: number) => `agent-${i}`;

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

const reasonIs = (status: string, reason: string) => (s: ReadyState | undefined): boolean =>
  s !== undefined && s.ready?.status === status && s.ready.reason === reason && s.observedGeneration === s.generation;

export async function measureConvergence(f: ControlPlaneFixture, ctx: BenchContext): Promise<BenchResult[]> {
  const n = ctx.quick ? 100 : 1000;
  const reps = ctx.quick ? 3 : 10;
  const c = f.client;
  await f.createNamespace(NS, false);
  const conns = new ReadyTracker(c, paths.connections(NS), 'connections');
  const policies = new ReadyTracker(c, paths.policies(NS), 'policies');
  await Promise.all([conns.start(), policies.start()]);
  try {
    // --- N of each to Ready --------------------------------------------------
    ctx.log(`convergence: creating ${n} Secrets, ${n} Connections, ${n} AccessPolicies (${CREATE_CONCURRENCY} parallel clients)`);
    const allReady = Promise.all([
      conns.until(() => conns.ready === n, 600_000, `all ${n} Connections Ready`),
      policies.until(() => policies.ready === n, 600_000, `all ${n} AccessPolicies Ready`),
    ]);
    allReady.catch(() => undefined); // awaited below; do not let an early rejection go unhandled
    const cpuBefore = f.cpu();
    const t0 = performance.now();
    await pool(n, CREATE_CONCURRENCY, (i) => c.json('POST', paths.secrets(NS), secret(NS, secretName(i))).then(() => undefined));
    await pool(n, CREATE_CONCURRENCY, (i) => c.json('POST', paths.connections(NS), postgresConnection(NS, connName(i), secretName(i), 20000 + i)).then(() => undefined));
    await pool(n, CREATE_CONCURRENCY, (i) => c.json('POST', paths.policies(NS), accessPolicy(NS, policyName(i), policyName(i), [connName(i)])).then(() => undefined));
    const created = performance.now();
    ctx.log(`convergence: ${3 * n} objects created in ${round((created - t0) / 1000)} s; waiting for Ready`);
    const [connsAt, policiesAt] = await allReady;
    const doneAt = Math.max(connsAt, policiesAt);
    const totalS = (doneAt - t0) / 1000;
    const cpuAfter = f.cpu();
    ctx.log(`convergence: all Ready ${round(totalS)} s after the first create (${round((doneAt - created) / 1000)} s after the last)`);
    const results: BenchResult[] = [
      { name: `create ${n} Secrets + ${n} Connections + ${n} AccessPolicies`, value: round((created - t0) / 1000), unit: 's', note: `${CREATE_CONCURRENCY} parallel clients; policies pass the validating webhook` },
      { name: `all ${2 * n} Ready, from the first create`, value: round(totalS), unit: 's', note: 'Ready=True with observedGeneration current, seen on a watch' },
      { name: `all ${2 * n} Ready, after the last create`, value: round((doneAt - created) / 1000), unit: 's', note: 'the operator\'s backlog once creation stops' },
      { name: 'Connections all Ready, from the first create', value: round((connsAt - t0) / 1000), unit: 's' },
      { name: 'AccessPolicies all Ready, from the first create', value: round((policiesAt - t0) / 1000), unit: 's' },
      ...cpuResults('create + converge', cpuBefore, cpuAfter, totalS),
    ];

    // --- one change among N -----------------------------------------------------
    // Let the creation storm's tail (Events, resync of late keys) drain first.
    await sleep(3000);
    ctx.log(`one change: ${reps} rounds of Secret delete/restore and policy break/restore among ${n}`);
    const secretGone: number[] = [];
    const secretBack: number[] = [];
    const policyBroken: number[] = [];
    const policyFixed: number[] = [];
    const timeout = 30_000;
    for (let r = 0; r < reps; r++) {
      const i = Math.floor(((r + 0.5) * n) / reps); // spread over the set, never the same object twice
      const conn = connName(i);
      let t = performance.now();
      await c.json('DELETE', `${paths.secrets(NS)}/${secretName(i)}`);
      secretGone.push((await conns.untilObject(conn, reasonIs('False', 'SecretNotFound'), timeout, 'SecretNotFound')) - t);
      t = performance.now();
      await c.json('POST', paths.secrets(NS), secret(NS, secretName(i)));
      secretBack.push((await conns.untilObject(conn, isReadyNow, timeout, 'Ready again')) - t);

      const pol = policyName(i);
      const gen = policies.get(pol)?.generation ?? 0;
      t = performance.now();
      await c.json('PATCH', `${paths.policies(NS)}/${pol}`, { spec: { connections: [conn, `missing-${i}`] } }, 'merge');
      policyBroken.push((await policies.untilObject(pol, (s) => (s?.generation ?? 0) > gen && reasonIs('False', 'ConnectionNotFound')(s), timeout, 'ConnectionNotFound')) - t);
      t = performance.now();
      await c.json('PATCH', `${paths.policies(NS)}/${pol}`, { spec: { connections: [conn] } }, 'merge');
      policyFixed.push((await policies.untilObject(pol, (s) => (s?.generation ?? 0) > gen + 1 && isReadyNow(s), timeout, 'Ready again')) - t);
    }
    const one = (label: string, samples: number[], target: boolean): BenchResult[] => {
      const s = summarize(samples);
      return [
        { name: `${label}, p50`, value: round(s.p50), unit: 'ms', note: `${s.n} rounds, from the request until the watch shows it` },
        {
          name: `${label}, max`, value: round(s.max), unit: 'ms',
          ...(target ? { note: `target < ${ONE_CHANGE_TARGET_MS} ms: ${s.max < ONE_CHANGE_TARGET_MS ? 'met' : 'NOT met'}` } : {}),
        },
      ];
    };
    results.push(
      ...one('Secret deleted → Connection SecretNotFound', secretGone, true),
      ...one('Secret re-created → Connection Ready', secretBack, false),
      ...one('policy names a missing Connection → ConnectionNotFound', policyBroken, true),
      ...one('policy restored → Ready', policyFixed, false),
      { name: 'status watch events seen', value: conns.events + policies.events, unit: 'count', note: 'Connections + AccessPolicies, whole scenario' },
    );
    return results;
  } finally {
    conns.stop();
    policies.stop();
  }
}
