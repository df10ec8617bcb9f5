// Measures classification cost: the parser alone, normalize() (the shape
// key), and SqlClassifier on a cold parse, a shape-cache hit and an exact
// hit, for pgbench -S's statement. Run after a build:
//   node dist/core/sql/classify-bench.js
// Figures are CPU microseconds per call (median of several rounds); they are
// for reports, never for assertions.

import { normalizeSync, parseSync, scanSync } from 'libpg-query';
import { classifySql, initSqlParser } from './classify-text.js';
import { SqlClassifier } from './sql-classifier.js';

export interface ClassifyBenchResult {
  statement: string;
  microsecondsPerCall: Record<string, number>;
}

function timeIt(rounds: number, n: number, fn: (i: number) => void): number {
  const samples: number[] = [];
  for (let i = 0; i < Math.min(n, 2000); i++) fn(i); // warm-up
  let i = 0;
  // CPU time of this process, not wall time: other work on the machine does not count.
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    for (let k = 0; k < n; k++) fn(i++);
    const used = process.cpuUsage(t0);
    samples.push((used.user + used.system) / n);
  }
  samples.sort((a, b) => a - b);
  return Number((samples[Math.floor(samples.length / 2)] ?? 0).toFixed(2));
}

export async function benchClassify(opts: { rounds?: number; perRound?: number } = {}): Promise<ClassifyBenchResult> {
  await initSqlParser();
  const rounds = opts.rounds ?? 7;
  const n = opts.perRound ?? 20_000;
  // pgbench -S: a new random aid every time.
  const stmt = (i: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${(i * 7919) % 100_000 + 1};`;
  const results: Record<string, number> = {};
  results.parseSync = timeIt(rounds, n, (i) => parseSync(stmt(i)));
  results.scanSync = timeIt(rounds, n, (i) => scanSync(stmt(i)));
  results.normalizeSync = timeIt(rounds, n, (i) => normalizeSync(stmt(i)));
  results.classifySqlUncached = timeIt(rounds, n, (i) => classifySql(stmt(i)));
  results.classifierColdNoShapeCache = timeIt(rounds, n, (i) => new SqlClassifier({ maxEntries: 0 }).classify(stmt(i)));
  const shaped = new SqlClassifier({ maxEntries: 1000 });
  shaped.classify(stmt(0));
  // Distinct texts, one shape: every call after the first is a shape hit.
  results.classifierShapeHit = timeIt(rounds, n, (i) => shaped.classify(stmt(i + 1_000_000)));
  // Every text a new shape (another table): a miss that also computes the shape key.
  const misses = new SqlClassifier({ maxEntries: 1000 });
  results.classifierColdWithShapeKey = timeIt(rounds, n, (i) => misses.classify(`SELECT abalance FROM pgbench_accounts_${i} WHERE aid = 1;`));
  const exact = new SqlClassifier({ maxEntries: 1000 });
  const fixed = stmt(42);
  exact.classify(fixed);
  results.classifierExactHit = timeIt(rounds, n, () => exact.classify(fixed));
  return { statement: stmt(0), microsecondsPerCall: results };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  benchClassify().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
