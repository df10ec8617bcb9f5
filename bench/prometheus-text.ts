// Reads a histogram's _sum and _count (for one label set) from Prometheus
// text exposition, to report a server-side mean next to client timings.

export interface HistogramTotals {
  sum: number;
  count: number;
}

/** Sums `<name>_sum` and `<name>_count` over the series whose labels include every pair in `labels`. */
export function histogramTotals(text: string, name: string, labels: Record<string, string> = {}): HistogramTotals {
  const out = { sum: 0, count: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, metric, labelText = '', value = ''] = m;
    const field = metric === `${name}_sum` ? 'sum' : metric === `${name}_count` ? 'count' : undefined;
    if (!field) continue;
    const have = new Map<string, string>();
    for (const lm of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(lm[1] ?? '', lm[2] ?? '');
    if (!Object.entries(labels).every(([k, v]) => have.get(k) === v)) continue;
    out[field] += Number(value);
  }
  return out;
}

/** Mean in milliseconds of what was observed between two scrapes (seconds-based histogram). */
export function meanMsBetween(before: HistogramTotals, after: HistogramTotals): number {
  const n = after.count - before.count;
  return n > 0 ? ((after.sum - before.sum) / n) * 1000 : Number.NaN;
}
