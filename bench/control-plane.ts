// The control-plane suite: injection latency added to pod creation, and the
// operator's convergence over many AccessPolicies and Connections, against a
// real kube-apiserver + etcd with the operator as a child process.
import { cpus } from 'node:os';
import type { BenchContext, BenchResult, BenchSuite } from './bench-suite.js';
import { startFixture } from './control-plane-fixture.js';
import { measureInjectionLatency, prepareInjection } from './injection-latency.js';
import { measureConvergence } from './operator-convergence.js';

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const f = await startFixture(ctx);
  try {
    const results: BenchResult[] = [];
    const prefix = (p: string, rs: BenchResult[]) => rs.map((r) => ({ ...r, name: `${p}: ${r.name}` }));
    await prepareInjection(f);
    results.push(...prefix('injection', await measureInjectionLatency(f, ctx, 'small')));
    results.push(...prefix('operator', await measureConvergence(f, ctx)));
    // Again with the operator's caches holding the 1,000s of objects above: the webhook filters
    // every policy in the cluster for each pod, so this shows whether that costs anything.
    const big = await measureInjectionLatency(f, ctx, 'large');
    const keep = /^(pod create p(50|99)|added by injection|webhook handler)/;
    results.push(...prefix(`injection, +${ctx.quick ? 100 : 1000} policies`, big.filter((r) => keep.test(r.name))));
    return results;
  } finally {
    await f.stop();
  }
}

export const suite: BenchSuite = {
  name: 'control-plane',
  description: `kube-apiserver + etcd + operator (child process) on one machine (${cpus().length} cores shared with the client): pod injection latency, operator convergence and reaction`,
  run,
};
