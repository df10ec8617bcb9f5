// Measures classification cost: the parser alone, normalize() and the fast
// scanner (the shape key), and SqlClassifier on a cold parse, a shape-cache
// hit (by the fast key and, for comparison, by normalize()) and an exact
// hit, for pgbench -S's statement. Run after a build:
//   node dist/core/sql/classify-bench.js
// Figures are CPU microseconds per call (median of several rounds); they are
// for reports, never for assertions.

import { cpuMicrosPerCall } from '../cpu-time.js';
import { normalizeSync, parseSync, scanSync } from 'libpg-query';
import { classifySql, initSqlParser } from './classify-text.js';
import { fastShapeKey } from './fast-shape-key.js';
import { SqlClassifier } from './sql-classifier.js';

export interface ClassifyBenchResult {
  statement: string;
  microsecondsPerCall: Record<string, number>;
}

function timeIt(rounds: number, n: number, fn: (i: number) => void): number {
  return cpuMicrosPerCall(rounds, n, fn, 2);
}

/** Texts as decoded from protocol messages: fresh flat strings, 4096 distinct ones in turn. */
function decodedTexts(make: (i: number) => string): (i: number) => string {
  const wire = Array.from({ length: 4096 }, (_, i) => Buffer.from(make(i * 31 + 1), 'utf8'));
  return (i) => (wire[i & 4095] ?? Buffer.alloc(0)).toString('utf8');
}

export async function benchClassify(opts: { rounds?: number; perRound?: number } = {}): Promise<ClassifyBenchResult> {
  await initSqlParser();
  const rounds = opts.rounds ?? 7;
  const n = opts.perRound ?? 20_000;
  // pgbench -S: a new random aid every time.
  const stmt = (i: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${(i * 7919) % 100_000 + 1};`;
  // The same as the sidecar sees it: a fresh flat string decoded from the wire
  // (a template literal is a rope, which the JavaScript scanner reads slower).
  const wire = decodedTexts(stmt);
  const tpcb = (i: number): string => `UPDATE pgbench_accounts SET abalance = abalance + ${(i % 10_001) - 5000} WHERE aid = ${(i * 7919) % 100_000 + 1};`;
  const wireTpcb = decodedTexts(tpcb);
  const results: Record<string, number> = {};
  results.parseSync = timeIt(rounds, n, (i) => parseSync(stmt(i)));
  results.scanSync = timeIt(rounds, n, (i) => scanSync(stmt(i)));
  results.normalizeSync = timeIt(rounds, n, (i) => normalizeSync(stmt(i)));
  results.decodeText = timeIt(rounds, n, (i) => wire(i));
  results.fastShapeKey = timeIt(rounds, n, (i) => fastShapeKey(wire(i)));
  results.classifySqlUncached = timeIt(rounds, n, (i) => classifySql(stmt(i)));
  results.classifierColdNoShapeCache = timeIt(rounds, n, (i) => new SqlClassifier({ maxEntries: 0 }).classify(stmt(i)));
  // Distinct texts, one shape: every call after the first is a shape hit.
  const shaped = new SqlClassifier({ maxEntries: 1000 });
  shaped.classify(stmt(0));
  results.classifierShapeHit = timeIt(rounds, n, (i) => shaped.classify(wire(i)));
  results.classifierShapeHitTemplateText = timeIt(rounds, n, (i) => shaped.classify(stmt(i + 1_000_000)));
  // The same through normalize() only (the shape hit before the fast key existed).
  const slow = new SqlClassifier({ maxEntries: 1000, fastShapeKey: false });
  slow.classify(stmt(0));
  results.classifierShapeHitNormalizeKey = timeIt(rounds, n, (i) => slow.classify(wire(i)));
  // pgbench's TPC-B update, deltas of both signs (a negative one is folded into the constant).
  const updates = new SqlClassifier({ maxEntries: 1000 });
  updates.classify(tpcb(7));
  updates.classify(tpcb(5007));
  results.classifierShapeHitTpcbUpdate = timeIt(rounds, n, (i) => updates.classify(wireTpcb(i)));
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
