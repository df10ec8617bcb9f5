// The results as a plain-text table for the terminal (and for pasting into
// docs/benchmarks.md, which uses the same columns).
import type { SuiteReport } from './bench-suite.js';

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 10 ? 3 : Math.abs(v) < 100 ? 2 : 1);
}

export function formatTable(report: SuiteReport): string {
  const rows = report.results.map((r) => [
    r.name,
    fmt(r.value),
    r.unit,
    r.ratio !== undefined ? `${fmt(r.ratio)}×${r.baseline ? ` ${r.baseline}` : ''}` : '',
    r.note ?? '',
  ]);
  const head = ['result', 'value', 'unit', 'ratio (vs)', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 1 ? c.padStart(widths[i] ?? 0) : i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const out = [
    `== ${report.suite} (${fmt(report.durationS)} s) — ${report.description}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  if (report.error) out.push(`!! suite failed: ${report.error}`);
  return out.join('\n');
}
