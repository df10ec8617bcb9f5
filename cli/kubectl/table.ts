// Plain-text tables as kubectl prints them (upper-case headers, columns padded
// with three spaces), and kubectl-style relative times ("5m", "in 3m").

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function span(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** "5m" for the past (an age), "in 3m" for the future; "<unknown>" when unparseable. */
export function relative(ts: string | undefined, now: number): string {
  const t = Date.parse(ts ?? '');
  if (!Number.isFinite(t)) return '<unknown>';
  return t > now ? `in ${span(t - now)}` : span(now - t);
}

/** One line, at most `max` characters, for an operation in a table. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
