// The PostgreSQL suite: pgbench -S and TPC-B (4 clients: throughput; 1
// client: latency per statement) direct, through a bare Node relay, through
// the sidecar (standalone, policy + masking + recording on) and through
// pgbouncer, interleaved round by round, medians reported as ratios; then a
// large masked result set (throughput per path, the sidecar's peak RSS as the
// result grows). Every proxy is a process of its own.
import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../testkit/processes.js';
import type { BenchContext, BenchResult, BenchSuite } from './bench-suite.js';
import { cpuSeconds } from './process-cpu.js';
import { BENCH_DB, BENCH_USER, LARGE_TABLE, startPgBenchFixture, type PgBenchFixture, type Target, type TargetName } from './postgres-fixture.js';
import { peakRssMiB, resetPeakRss, rssMiB, streamQuery, type StreamedResult } from './postgres-large-result.js';
import { runPgbench, statementsPerTransaction, type PgbenchResult, type PgbenchWorkload } from './postgres-pgbench.js';
import { percentile, round } from './stats.js';

const TARGETS: readonly TargetName[] = ['direct', 'relay', 'sidecar', 'pgbouncer'];

interface Plan {
  scale: number;
  /** Throughput runs (4 clients): seconds each, rounds. */
  seconds: number;
  rounds: number;
  /** Latency runs (1 client): shorter and more of them, since one run's latency depends on where the scheduler puts the processes. */
  latencySeconds: number;
  latencyRounds: number;
  warmupSeconds: number;
  /** Rows for the throughput comparison, and the sizes for the memory curve. */
  throughputRows: number;
  throughputRounds: number;
  memoryRows: number[];
}

const FULL: Plan = { scale: 5, seconds: 8, rounds: 3, latencySeconds: 3, latencyRounds: 7, warmupSeconds: 3, throughputRows: 1_000_000, throughputRounds: 3, memoryRows: [100_000, 1_000_000, 3_000_000] };
const QUICK: Plan = { scale: 2, seconds: 2, rounds: 1, latencySeconds: 1, latencyRounds: 3, warmupSeconds: 1, throughputRows: 100_000, throughputRounds: 1, memoryRows: [30_000, 100_000, 300_000] };

const WORKLOADS: ReadonlyArray<PgbenchWorkload & { label: string }> = [
  { label: 'pgbench -S, 4 clients', script: 'select', clients: 4 },
  { label: 'pgbench -S, 1 client', script: 'select', clients: 1 },
  { label: 'pgbench TPC-B, 4 clients', script: 'tpcb', clients: 4 },
  { label: 'pgbench TPC-B, 1 client', script: 'tpcb', clients: 1 },
];

interface Sample {
  run: PgbenchResult;
  /** The proxy's CPU seconds during the run. */
  proxyCpuS?: number;
}

const median = (xs: number[]): number => percentile(xs, 50);
const fmtN = (n: number): string => n.toLocaleString('en-US');

/** `target` rotated by `r`, so no path always goes first (or right after another). */
function rotation(r: number): TargetName[] {
  return TARGETS.map((_, i) => TARGETS[(i + r) % TARGETS.length] as TargetName);
}

function pgbenchOn(f: PgBenchFixture, t: Target, w: PgbenchWorkload, seconds: number): Promise<PgbenchResult> {
  return runPgbench(w, { port: t.port, user: BENCH_USER, database: BENCH_DB, password: t.password, seconds });
}

/** The sidecar enforces the policy: an unbounded DELETE is refused with 42501 (else the figures mean nothing). */
async function checkSidecarEnforces(f: PgBenchFixture): Promise<string> {
  const r = await runCommand('/usr/bin/psql', ['-X', '-h', '127.0.0.1', '-p', String(f.targets.sidecar.port), '-U', BENCH_USER, '-d', BENCH_DB, '-c', 'DELETE FROM pgbench_history'], {
    env: { ...process.env, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', PGPASSWORD: '' },
    timeoutMs: 30_000,
  });
  if (r.code === 0 || !/denied by policy/.test(r.stderr)) throw new Error(`the sidecar did not refuse an unbounded DELETE: ${r.stdout}${r.stderr}`);
  return r.stderr.trim().split('\n')[0] ?? '';
}

/** Sidecars with features off, measured on pgbench -S beside the full one: what each feature costs. */
const VARIANTS = [
  { name: 'sidecar, policy only', features: { masking: false, recording: false } },
  { name: 'sidecar, policy + masking', features: { masking: true, recording: false } },
] as const;

function targetOf(f: PgBenchFixture, name: string): Target {
  const t = (f.targets as Record<string, Target | undefined>)[name] ?? f.variants.get(name);
  if (t === undefined) throw new Error(`no target ${name}`);
  return t;
}

async function measurePgbench(f: PgBenchFixture, ctx: BenchContext, plan: Plan): Promise<BenchResult[]> {
  const samples = new Map<string, Sample[]>();
  const key = (w: string, t: string): string => `${w}|${t}`;
  // The framing relay and the sidecar variants show what each layer costs: `-S` only.
  const selectOnly = ['frames', ...f.variants.keys()];
  const pathsOf = (w: PgbenchWorkload): string[] => [...TARGETS, ...(w.script === 'select' ? selectOnly : [])];
  ctx.log(`warm-up: ${plan.warmupSeconds} s of each script on each path`);
  for (const t of TARGETS) {
    for (const script of ['select', 'tpcb'] as const) await pgbenchOn(f, targetOf(f, t), { script, clients: 4 }, plan.warmupSeconds);
  }
  for (const t of selectOnly) await pgbenchOn(f, targetOf(f, t), { script: 'select', clients: 4 }, plan.warmupSeconds);
  const roundsOf = (w: PgbenchWorkload): number => (w.clients > 1 ? plan.rounds : plan.latencyRounds);
  const secondsOf = (w: PgbenchWorkload): number => (w.clients > 1 ? plan.seconds : plan.latencySeconds);
  const total = WORKLOADS.reduce((n, w) => n + roundsOf(w) * pathsOf(w).length, 0);
  let done = 0;
  for (let r = 0; r < Math.max(plan.rounds, plan.latencyRounds); r++) {
    for (const [wi, w] of WORKLOADS.entries()) {
      if (r >= roundsOf(w)) continue;
      const paths = pathsOf(w);
      // Rotated every round (and per workload), so no path always goes first or right after another.
      const shift = (r + wi) % paths.length;
      for (const t of [...paths.slice(shift), ...paths.slice(0, shift)]) {
        const target = targetOf(f, t);
        const before = target.pid === undefined ? undefined : cpuSeconds(target.pid);
        const run = await pgbenchOn(f, target, w, secondsOf(w));
        const after = target.pid === undefined ? undefined : cpuSeconds(target.pid);
        const s: Sample = { run, ...(before !== undefined && after !== undefined ? { proxyCpuS: after - before } : {}) };
        samples.set(key(w.label, t), [...(samples.get(key(w.label, t)) ?? []), s]);
        done++;
        ctx.log(`[${done}/${total}] round ${r + 1} ${w.label} ${t}: ${round(run.tps)} tps, ${round(run.latencyMs)} ms/tx`);
      }
    }
  }

  const results: BenchResult[] = [];
  for (const w of WORKLOADS) {
    const runs = `median of ${roundsOf(w)} interleaved ${secondsOf(w)} s runs`;
    const stmts = statementsPerTransaction(w.script);
    const paths = pathsOf(w);
    const get = (t: string): Sample[] => samples.get(key(w.label, t)) ?? [];
    const tps = (t: string): number => median(get(t).map((s) => s.run.tps));
    // Mean latency per statement as the single client saw it: pgbench's latency average / statements per transaction.
    const perStmtUs = (t: string): number => median(get(t).map((s) => (s.run.latencyMs * 1000) / stmts));
    const cpuPerStmtUs = (t: string): number | undefined => {
      const xs = get(t).flatMap((s) => (s.proxyCpuS === undefined ? [] : [(s.proxyCpuS * 1e6) / (s.run.transactions * stmts)]));
      return xs.length === 0 ? undefined : median(xs);
    };
    const label = (t: string): string =>
      t === 'sidecar' ? 'sidecar (policy + masking + recording)' : t === 'frames' ? 'framing relay (reads every statement; no policy)' : t;
    if (w.clients > 1) {
      const d = tps('direct');
      const rl = tps('relay');
      for (const t of paths) {
        const v = tps(t);
        if (t === 'direct') results.push({ name: `${w.label}: direct`, value: round(v), unit: 'tps', note: runs });
        else if (t === 'relay' || t === 'pgbouncer') {
          results.push({ name: `${w.label}: ${t}`, value: round(v), unit: 'tps', ratio: round(v / d), baseline: 'direct', ...(t === 'pgbouncer' ? { note: `${round(v / rl)}× relay` } : {}) });
        } else {
          results.push({
            name: `${w.label}: ${label(t)}`, value: round(v), unit: 'tps', ratio: round(v / rl), baseline: 'relay',
            note: `${round(v / d)}× direct${t === 'sidecar' ? `; target ≥ 0.9× relay: ${v / rl >= 0.9 ? 'met' : 'NOT met'}` : ''}`,
          });
        }
      }
    } else {
      const d = perStmtUs('direct');
      for (const t of paths) {
        const v = perStmtUs(t);
        const added = v - d;
        const all = get(t).map((x) => (x.run.latencyMs * 1000) / stmts);
        const range = `runs ${round(Math.min(...all))}–${round(Math.max(...all))} µs`;
        const note =
          t === 'direct' ? `${runs}; ${stmts} statement${stmts > 1 ? 's' : ''} per transaction; ${range}`
            : `${added >= 0 ? '+' : '−'}${round(Math.abs(added))} µs per statement over direct${t === 'sidecar' ? `; target ≤ 50 µs: ${added <= 50 ? 'met' : 'NOT met'}` : ''}; ${range}`;
        results.push({
          name: `${w.label}: ${label(t)}, mean latency per statement`, value: round(v), unit: 'µs',
          ...(t === 'direct' ? {} : { ratio: round(v / d), baseline: 'direct' }), note,
        });
      }
    }
    const relayCpu = cpuPerStmtUs('relay');
    for (const t of paths.filter((p) => p !== 'direct')) {
      const c = cpuPerStmtUs(t);
      if (c === undefined) continue;
      results.push({
        name: `${w.label}: ${label(t)}, proxy process CPU per statement`, value: round(c), unit: 'µs',
        ...(t !== 'relay' && relayCpu !== undefined ? { ratio: round(c / relayCpu), baseline: 'relay' } : {}),
        ...(t === 'pgbouncer' ? { note: 'pgbouncer: one C process' } : {}),
      });
    }
  }
  return results;
}

function selectSql(rows: number): string {
  return `SELECT id, name, email, ssn, note, created FROM ${LARGE_TABLE} LIMIT ${rows}`;
}

async function stream(f: PgBenchFixture, t: TargetName, rows: number): Promise<StreamedResult> {
  const target = f.targets[t];
  const res = await streamQuery({ port: target.port, user: BENCH_USER, password: target.password, database: BENCH_DB }, selectSql(rows));
  if (res.rows !== rows) throw new Error(`${t}: expected ${rows} rows, got ${res.rows} (${res.tag})`);
  return res;
}

async function measureLargeResult(f: PgBenchFixture, ctx: BenchContext, plan: Plan): Promise<BenchResult[]> {
  const n = plan.throughputRows;
  const rate = new Map<TargetName, number[]>();
  const mbs = new Map<TargetName, number[]>();
  const first = new Map<TargetName, Array<string | null>>();
  ctx.log(`masked result set: ${fmtN(n)} rows on each path, ${plan.throughputRounds} interleaved rounds (after a warm-up)`);
  for (const t of TARGETS) await stream(f, t, Math.min(n, 100_000));
  for (let r = 0; r < plan.throughputRounds; r++) {
    for (const t of rotation(r)) {
      const res = await stream(f, t, n);
      rate.set(t, [...(rate.get(t) ?? []), res.rows / res.seconds]);
      mbs.set(t, [...(mbs.get(t) ?? []), res.bytes / 2 ** 20 / res.seconds]);
      first.set(t, res.firstRow);
      ctx.log(`round ${r + 1} ${t}: ${fmtN(Math.round(res.rows / res.seconds))} rows/s, ${round(res.bytes / 2 ** 20 / res.seconds)} MiB/s`);
    }
  }
  // What the agent saw through the sidecar must differ from the table where a rule applies (email, ssn).
  const raw = first.get('direct') ?? [];
  const masked = first.get('sidecar') ?? [];
  const maskedOk = raw[2] !== masked[2] && raw[3] !== masked[3] && raw[0] === masked[0];
  const sample = `first row via sidecar: email ${JSON.stringify(masked[2])}, ssn ${JSON.stringify(masked[3])} (direct: ${JSON.stringify(raw[2])}, ${JSON.stringify(raw[3])})`;
  ctx.log(sample);
  const med = (m: Map<TargetName, number[]>, t: TargetName): number => median(m.get(t) ?? []);
  const label = `masked result, ${fmtN(n)} rows`;
  const d = med(rate, 'direct');
  const rl = med(rate, 'relay');
  const results: BenchResult[] = [
    { name: `${label}: direct`, value: Math.round(d), unit: 'rows/s', note: `${round(med(mbs, 'direct'))} MiB/s; median of ${plan.throughputRounds}` },
    { name: `${label}: relay`, value: Math.round(rl), unit: 'rows/s', ratio: round(rl / d), baseline: 'direct', note: `${round(med(mbs, 'relay'))} MiB/s` },
    {
      name: `${label}: sidecar`, value: Math.round(med(rate, 'sidecar')), unit: 'rows/s', ratio: round(med(rate, 'sidecar') / rl), baseline: 'relay',
      note: `${round(med(mbs, 'sidecar'))} MiB/s, ${round(med(rate, 'sidecar') / d)}× direct; 2 column rules + 6 detectors; ${maskedOk ? 'masked' : 'NOT MASKED'}: ${sample}`,
    },
    { name: `${label}: pgbouncer`, value: Math.round(med(rate, 'pgbouncer')), unit: 'rows/s', ratio: round(med(rate, 'pgbouncer') / d), baseline: 'direct', note: `${round(med(mbs, 'pgbouncer'))} MiB/s (no masking)` },
  ];

  // Memory: the sidecar's peak RSS while one result of each size streams through it.
  const pid = f.targets.sidecar.pid;
  if (pid === undefined) return results;
  const idle = rssMiB(pid);
  results.push({ name: 'sidecar RSS before the large results', value: round(idle ?? Number.NaN), unit: 'MiB' });
  let smallest: number | undefined;
  for (const rows of plan.memoryRows) {
    const reset = resetPeakRss(pid);
    // Sampled too, in case the kernel's peak mark cannot be reset here.
    let sampled = 0;
    const timer = setInterval(() => {
      sampled = Math.max(sampled, rssMiB(pid) ?? 0);
    }, 20);
    let res: StreamedResult;
    try {
      res = await stream(f, 'sidecar', rows);
    } finally {
      clearInterval(timer);
    }
    const peak = reset ? (peakRssMiB(pid) ?? sampled) : sampled;
    smallest ??= peak;
    ctx.log(`sidecar peak RSS with ${fmtN(rows)} rows: ${round(peak)} MiB (${round(res.bytes / 2 ** 20)} MiB streamed)`);
    results.push({
      name: `sidecar peak RSS, ${fmtN(rows)} rows`, value: round(peak), unit: 'MiB',
      ...(rows !== plan.memoryRows[0] ? { ratio: round(peak / smallest), baseline: `${fmtN(plan.memoryRows[0] ?? 0)} rows` } : {}),
      note: `${round(res.bytes / 2 ** 20)} MiB streamed in ${round(res.seconds)} s; ${reset ? 'VmHWM (reset before the query)' : 'sampled VmRSS every 20 ms'}`,
    });
  }
  return results;
}

/** Statements the sidecar recorded (its transcripts, once it has shut down and flushed them). */
async function recordedStatements(dir: string): Promise<number> {
  let n = 0;
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return 0;
  }
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    for (const line of text.split('\n')) if (line.includes('"statement"')) n++;
  }
  return n;
}

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const plan = ctx.quick ? QUICK : FULL;
  const f = await startPgBenchFixture({
    workDir: ctx.workDir,
    log: ctx.log,
    scale: plan.scale,
    largeRows: Math.max(...plan.memoryRows, plan.throughputRows),
    proxies: ['relay', 'frames', 'sidecar', 'pgbouncer'],
    sidecarVariants: VARIANTS,
  });
  try {
    const refusal = await checkSidecarEnforces(f);
    ctx.log(`policy check through the sidecar: ${refusal}`);
    const results: BenchResult[] = [];
    results.push(...(await measurePgbench(f, ctx, plan)));
    for (const v of f.variants.keys()) await f.stopProxy(v);
    await f.stopProxy('frames');
    results.push(...(await measureLargeResult(f, ctx, plan)));
    await f.stopProxy('sidecar');
    results.push({
      name: 'sidecar: statements recorded', value: await recordedStatements(f.recordDir), unit: 'count',
      note: `hash-chained transcripts in ${f.recordDir}; policy check: ${refusal}`,
    });
    return results;
  } finally {
    await f.stop();
  }
}

export const suite: BenchSuite = {
  name: 'postgres',
  description: `PostgreSQL 15 + pgbench + proxies (each a process of its own) on ${cpus().length} shared cores: pgbench -S / TPC-B direct, bare Node relay, framing relay (-S), agentgate sidecar (policy, masking, recording on) and its variants (-S), pgbouncer; a large masked result`,
  run,
};
