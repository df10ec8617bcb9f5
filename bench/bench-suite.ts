// The contract between the runner (run.ts) and a benchmark suite. A suite
// module exports `suite: BenchSuite`; the runner calls `run` once and prints
// and saves what it returns. Figures are measured, never asserted.

export interface BenchContext {
  /** A progress line (stderr); the results table is printed by the runner. */
  log(line: string): void;
  /** Smaller counts: a smoke check that the suite still runs, not figures to publish. */
  quick: boolean;
  /** A directory of this suite's own (under .tmp/bench/), emptied before the run: logs, data dirs. */
  workDir: string;
}

export interface BenchResult {
  /** What was measured, e.g. "pod create p99, injected". Unique within the suite. */
  name: string;
  value: number;
  /** "ms", "s", "ops/s", "MB/s", "count", … */
  unit: string;
  /** value / the baseline's value (e.g. 1.08 = 8 % slower than direct). */
  ratio?: number;
  /** What `ratio` compares against, e.g. "direct" or "pod create p99, no webhook". */
  baseline?: string;
  /** A target and whether it was met, the conditions, a caveat. */
  note?: string;
}

export interface BenchSuite {
  name: string;
  /** One line: what the suite measures and against what. */
  description: string;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

/** A suite's outcome as the runner records it. */
export interface SuiteReport {
  suite: string;
  description: string;
  startedAt: string;
  durationS: number;
  results: BenchResult[];
  /** Set when the suite threw; results measured before that are kept. */
  error?: string;
}

export function isBenchSuite(x: unknown): x is BenchSuite {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  return typeof s.name === 'string' && typeof s.run === 'function';
}
