#!/usr/bin/env node
// `make bench`: runs the benchmark suites one after another (never at once:
// they share this machine's cores), prints a table per suite, and writes the
// results as JSON to .tmp/bench/latest.json (and a dated copy).
//
//   node dist/bench/run.js [--only NAME[,NAME…]] [--quick]
//
// Suites: control-plane (bench/control-plane.ts) and, when it has been built,
// postgres (bench/postgres.ts). A suite module exports `suite: BenchSuite`.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isBenchSuite, type BenchSuite, type SuiteReport } from './bench-suite.js';
import { suite as controlPlane } from './control-plane.js';
import { formatTable } from './report-table.js';

const USAGE = `usage: node dist/bench/run.js [--only NAME[,NAME...]] [--quick]
  --only NAME   run only these suites (comma-separated or repeated)
  --quick       small counts: a smoke check, not figures to publish`;

/** Suites whose module may not exist yet are loaded from beside this file, if built. */
const OPTIONAL_SUITES = ['postgres'];

function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'agentgate') return dir;
    if (dirname(dir) === dir) throw new Error('cannot find the agentgate checkout above this file');
  }
}

async function loadSuites(): Promise<BenchSuite[]> {
  const suites: BenchSuite[] = [controlPlane];
  for (const name of OPTIONAL_SUITES) {
    const url = new URL(`./${name}.js`, import.meta.url);
    if (!existsSync(url)) continue;
    const mod: unknown = await import(url.href);
    const s = (mod as { suite?: unknown }).suite;
    if (!isBenchSuite(s)) throw new Error(`${fileURLToPath(url)} does not export \`suite: BenchSuite\``);
    suites.push(s);
  }
  return suites;
}

function elapsed(since: number): string {
  const s = (performance.now() - since) / 1000;
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

async function main(): Promise<number> {
  let only: string[] = [];
  let quick = false;
  try {
    const { values } = parseArgs({ args: process.argv.slice(2), options: { only: { type: 'string', multiple: true }, quick: { type: 'boolean' }, help: { type: 'boolean' } } });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    only = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
    quick = values.quick ?? false;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }

  const root = repoRoot();
  const all = await loadSuites();
  const known = all.map((s) => s.name);
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown or not built suite(s): ${unknown.join(', ')} (available: ${known.join(', ')})\n`);
    return 2;
  }
  const selected = only.length > 0 ? all.filter((s) => only.includes(s.name)) : all;

  const outDir = join(root, '.tmp', 'bench');
  await mkdir(outDir, { recursive: true });
  const startedAt = new Date();
  const loadBefore = loadavg();
  const reports: SuiteReport[] = [];
  for (const s of selected) {
    const workDir = join(outDir, s.name);
    await rm(workDir, { recursive: true, force: true });
    await mkdir(workDir, { recursive: true });
    const t0 = performance.now();
    const log = (line: string): void => {
      process.stderr.write(`[${s.name} ${elapsed(t0)}] ${line}\n`);
    };
    log(`start${quick ? ' (quick)' : ''}: ${s.description}`);
    const report: SuiteReport = { suite: s.name, description: s.description, startedAt: new Date().toISOString(), durationS: 0, results: [] };
    try {
      report.results = await s.run({ log, quick, workDir });
    } catch (err) {
      report.error = err instanceof Error ? err.message : String(err);
      log(`failed: ${report.error}`);
    }
    report.durationS = Math.round((performance.now() - t0) / 100) / 10;
    reports.push(report);
    process.stdout.write(`\n${formatTable(report)}\n`);
  }

  const cpu = cpus();
  const out = {
    command: `node dist/bench/run.js${only.length > 0 ? ` --only ${only.join(',')}` : ''}${quick ? ' --quick' : ''}`,
    date: startedAt.toISOString(),
    quick,
    machine: {
      cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30),
      kernel: release(), node: process.version, loadAvgBefore: loadBefore.map((l) => Math.round(l * 100) / 100),
      loadAvgAfter: loadavg().map((l) => Math.round(l * 100) / 100),
    },
    // AGENTGATE_<FLAG> variables reach the operator the control-plane suite starts; names only, values may be private.
    environment: Object.keys(process.env).filter((k) => k.startsWith('AGENTGATE_')).sort(),
    suites: reports,
  };
  const json = `${JSON.stringify(out, null, 2)}\n`;
  const latest = join(outDir, 'latest.json');
  await writeFile(latest, json);
  await writeFile(join(outDir, `results-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), json);
  process.stdout.write(`\nresults: ${latest}\n`);
  return reports.some((r) => r.error !== undefined) ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
