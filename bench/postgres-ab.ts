// An interleaved A/B run for working on the sidecar's PostgreSQL path: pgbench
// through direct, the bare relay and chosen paths, in rotation, several
// rounds. For each path: TPS and its ratio to the relay's, the mean time per
// transaction as the clients saw it (with 1 client: the latency, and what the
// path adds over direct), the proxy's CPU per statement (user and system),
// how idle the machine was, and the proxy's RSS. The relay is the control: a
// run whose relay figure moved was a noisy run. Not part of `make bench`;
// after a build:
//   node dist/bench/postgres-ab.js [--variants all,masking,policy] [--rounds 3] [--seconds 8]
//        [--script select|tpcb] [--clients 4] [--connect] [--sidecar-node-args "--flag ..."]
// Variants: all (policy, masking, recording), masking (policy + masking),
// policy (policy only), frames (not a sidecar: bench/relay.ts --frames, which
// cuts both directions into messages and reads each statement, the least any
// PostgreSQL-aware proxy does). To compare two builds, run this from each
// build's dist/ in turn: the relay ratio carries across runs better than raw
// TPS does. `--connect`: a new session per transaction (pgbench -C), for what
// session setup costs and whether memory stays flat under connection churn.
import { parseArgs } from 'node:util';
import { BENCH_DB, BENCH_USER, startPgBenchFixture, type SidecarFeatures, type Target } from './postgres-fixture.js';
import { runPgbench, statementsPerTransaction, type PgbenchWorkload } from './postgres-pgbench.js';
import { rssMiB } from './postgres-large-result.js';
import { cpuTimes, machineTicks } from './process-cpu.js';
import { summarize } from './stats.js';

const VARIANTS: Record<string, SidecarFeatures | undefined> = {
  frames: undefined, // not a sidecar: the relay in --frames mode (bench/relay.ts)
  all: undefined, // the fixture's sidecar: everything on
  masking: { masking: true, recording: false },
  policy: { masking: false, recording: false },
};

export interface AbSample {
  tps: number;
  /** pgbench's mean latency per transaction, µs. */
  latencyUs: number;
  /** Proxy CPU per statement, µs. */
  userUs: number;
  systemUs: number;
  /** Share of the machine's CPU left idle during the run, %. */
  idlePct: number;
  /** The proxy's resident memory after the run, MiB. */
  rssMiB: number;
}

/** One pgbench run against `t`, with the proxy's CPU and the machine's idle time over it. */
export async function sampleTarget(t: Target, w: PgbenchWorkload, seconds: number, connectEachTransaction = false): Promise<AbSample> {
  const c0 = t.pid === undefined ? undefined : cpuTimes(t.pid);
  const m0 = machineTicks();
  const r = await runPgbench(w, { port: t.port, user: BENCH_USER, database: BENCH_DB, password: t.password, seconds, connectEachTransaction });
  const c1 = t.pid === undefined ? undefined : cpuTimes(t.pid);
  const m1 = machineTicks();
  const statements = r.transactions * statementsPerTransaction(w.script);
  const perStatement = (a: number | undefined, b: number | undefined): number =>
    a === undefined || b === undefined ? Number.NaN : ((b - a) * 1e6) / statements;
  return {
    tps: r.tps,
    latencyUs: r.latencyMs * 1000,
    userUs: perStatement(c0?.user, c1?.user),
    systemUs: perStatement(c0?.system, c1?.system),
    idlePct: m0 === undefined || m1 === undefined ? Number.NaN : (100 * (m1.idle - m0.idle)) / (m1.total - m0.total),
    rssMiB: (t.pid === undefined ? undefined : rssMiB(t.pid)) ?? Number.NaN,
  };
}

function fmt(s: AbSample): string {
  const cpu = Number.isNaN(s.userUs)
    ? 'CPU/statement —'
    : `CPU/statement ${(s.userUs + s.systemUs).toFixed(1)} µs (user ${s.userUs.toFixed(1)}, system ${s.systemUs.toFixed(1)})`;
  const rss = Number.isNaN(s.rssMiB) ? '' : `  RSS ${s.rssMiB.toFixed(0)} MiB`;
  return `${s.tps.toFixed(0).padStart(6)} tps  latency ${s.latencyUs.toFixed(0)} µs  ${cpu}  machine idle ${s.idlePct.toFixed(0)} %${rss}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: 'string', default: 'all,masking,policy' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '8' },
      script: { type: 'string', default: 'select' },
      clients: { type: 'string', default: '4' },
      connect: { type: 'boolean' },
      'sidecar-node-args': { type: 'string', default: '' },
      out: { type: 'string', default: '.tmp/bench/postgres-ab' },
    },
  });
  const names = values.variants.split(',').filter((n) => n !== '');
  for (const n of names) if (!(n in VARIANTS)) throw new Error(`unknown variant ${n} (all, masking, policy, frames)`);
  const w: PgbenchWorkload = { script: values.script === 'tpcb' ? 'tpcb' : 'select', clients: Number(values.clients) };
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  const f = await startPgBenchFixture({
    workDir: values.out,
    log,
    scale: 5,
    largeRows: 0,
    proxies: ['relay', ...(names.includes('frames') ? (['frames'] as const) : []), ...(names.includes('all') ? (['sidecar'] as const) : [])],
    sidecarNodeArgs: values['sidecar-node-args'].split(' ').filter((a) => a !== ''),
    sidecarVariants: names.filter((n) => n !== 'all' && n !== 'frames').map((n) => ({ name: n, features: VARIANTS[n] as SidecarFeatures })),
  });
  const paths: Array<[string, Target]> = [
    ['direct', f.targets.direct],
    ['relay', f.targets.relay],
    ...names.map((n): [string, Target] => [n, n === 'all' ? f.targets.sidecar : n === 'frames' ? f.targets.frames : (f.variants.get(n) as Target)]),
  ];
  const samples = new Map<string, AbSample[]>(paths.map(([n]) => [n, []]));
  try {
    for (const [, t] of paths) await runPgbench(w, { port: t.port, user: BENCH_USER, database: BENCH_DB, password: t.password, seconds: 2 });
    for (let r = 0; r < rounds; r++) {
      // Alternate the order, so drift in machine load hits every path alike.
      for (const [name, t] of r % 2 === 0 ? paths : [...paths].reverse()) {
        const s = await sampleTarget(t, w, seconds, values.connect === true);
        samples.get(name)?.push(s);
        log(`round ${r + 1} ${name.padEnd(8)} ${fmt(s)}`);
      }
    }
  } finally {
    await f.stop();
  }
  const mean = (xs: number[]): number => summarize(xs).mean;
  const avg = (xs: AbSample[]): AbSample => ({
    tps: mean(xs.map((x) => x.tps)),
    latencyUs: mean(xs.map((x) => x.latencyUs)),
    userUs: mean(xs.map((x) => x.userUs)),
    systemUs: mean(xs.map((x) => x.systemUs)),
    idlePct: mean(xs.map((x) => x.idlePct)),
    rssMiB: xs[xs.length - 1]?.rssMiB ?? Number.NaN,
  });
  const relay = avg(samples.get('relay') ?? []);
  const direct = avg(samples.get('direct') ?? []);
  const workload =
    `pgbench ${w.script === 'select' ? '-S' : 'TPC-B'}${values.connect === true ? ' -C (a session per transaction)' : ''}, ` +
    `${w.clients} clients, ${rounds} × ${seconds} s per path (RSS: after the last run)`;
  const lines = [workload, ...[...samples].map(([name, xs]) => {
    const a = avg(xs);
    const added = name === 'direct' ? '' : `  (+${(a.latencyUs - direct.latencyUs).toFixed(0)} µs over direct)`;
    return `${name.padEnd(8)} ${fmt(a)}  ${(a.tps / relay.tps).toFixed(3)}× relay${added}`;
  })];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`postgres-ab: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
