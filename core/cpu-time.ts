// CPU microseconds per call for the micro-benchmarks beside the code
// (core/sql/classify-bench.ts, core/policy/decide-bench.ts): the median of
// `rounds` rounds of `n` calls after a warm-up. CPU time of this process, not
// wall time, so other work on the machine does not count. For reports only.

export function cpuMicrosPerCall(rounds: number, n: number, fn: (i: number) => void, digits = 2): number {
  const samples: number[] = [];
  for (let i = 0; i < Math.min(n, 2000); i++) fn(i); // warm-up
  let i = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    for (let k = 0; k < n; k++) fn(i++);
    const used = process.cpuUsage(t0);
    samples.push((used.user + used.system) / n);
  }
  samples.sort((a, b) => a - b);
  return Number((samples[Math.floor(samples.length / 2)] ?? 0).toFixed(digits));
}
