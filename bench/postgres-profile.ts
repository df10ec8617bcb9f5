// Profiles the sidecar under pgbench: the sidecar child runs with
// `node --cpu-prof`, pgbench drives it, then the profile is summarised (self
// and total time per function, self time per area). Not part of `make bench`:
//   node dist/bench/postgres-profile.js [--script select|tpcb] [--clients N] [--seconds S] [--top N] [--out DIR] [--no-masking] [--no-recording]
//   node dist/bench/postgres-profile.js --summarize FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DB, BENCH_USER, startPgBenchFixture } from './postgres-fixture.js';
import { summarizeCpuProfile, type CpuProfile, type ProfileRow } from './postgres-cpuprofile.js';
import { runPgbench } from './postgres-pgbench.js';

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function row(r: ProfileRow): string {
  return `${pad(`${r.selfPct.toFixed(1)} %`, 8)}${pad(`${r.totalPct.toFixed(1)} %`, 9)}${r.name}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      script: { type: 'string', default: 'select' },
      clients: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '20' },
      top: { type: 'string', default: '30' },
      out: { type: 'string', default: '.tmp/bench/postgres-profile' },
      summarize: { type: 'string' },
      'no-masking': { type: 'boolean' },
      'no-recording': { type: 'boolean' },
    },
  });
  const top = Number(values.top);
  if (values.summarize !== undefined) {
    printSummary(values.summarize, top, '');
    return;
  }
  const script = values.script === 'tpcb' ? 'tpcb' : 'select';
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const out = resolve(values.out);
  await rm(out, { recursive: true, force: true });
  const profDir = join(out, 'cpuprofile');
  await mkdir(profDir, { recursive: true });
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  const f = await startPgBenchFixture({
    workDir: out,
    log,
    scale: 5,
    largeRows: 0,
    proxies: ['sidecar'],
    sidecarNodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir],
    sidecarFeatures: { masking: values['no-masking'] !== true, recording: values['no-recording'] !== true },
  });
  let tps = 0;
  try {
    const t = f.targets.sidecar;
    const opts = { port: t.port, user: BENCH_USER, database: BENCH_DB, password: t.password };
    await runPgbench({ script, clients }, { ...opts, seconds: 2 });
    log(`pgbench ${script} -c ${clients} -T ${seconds} through the sidecar (profiling)`);
    const r = await runPgbench({ script, clients }, { ...opts, seconds });
    tps = r.tps;
    await f.stopProxy('sidecar');
  } finally {
    await f.stop();
  }
  const files = (await readdir(profDir)).filter((n) => n.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no profile written in ${profDir}`);
  printSummary(join(profDir, files[0] as string), top, `pgbench ${script === 'select' ? '-S' : 'TPC-B'}, ${clients} clients, ${seconds} s: ${tps.toFixed(0)} tps through the sidecar (slowed by the profiler)`);
}

function printSummary(file: string, top: number, what: string): void {
  const s = summarizeCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const lines = [
    `profile: ${file}`,
    ...(what !== '' ? [what] : []),
    `sidecar busy ${(s.busyUs / 1e6).toFixed(2)} s, idle ${(s.idleUs / 1e6).toFixed(2)} s`,
    '',
    'self time by area',
    ...s.areas.slice(0, 20).map((a) => `${pad(`${a.selfPct.toFixed(1)} %`, 8)}${a.area}`),
    '',
    `top ${top} functions by self time (self, total)`,
    ...s.functions.slice(0, top).map(row),
    '',
    `top ${top} of our functions by total time (self, total)`,
    ...s.functions.filter((r) => /^(core|sidecar)\//.test(r.area)).sort((a, b) => b.totalUs - a.totalUs).slice(0, top).map(row),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`postgres-profile: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
