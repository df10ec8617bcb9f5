// Go-style durations as used in the CRDs ("15m", "1h30m", "500ms", "1.5h").
// Shared by the policy engine, the operator and the sidecar so every part reads
// a duration the same way.
import { DurationError } from './errors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

// A number followed by a unit, repeated; longest units first so "ms" wins over "m".
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Upper bound on any duration we accept (100 years): keeps arithmetic finite. */
export const MAX_DURATION_MS = 100 * 365 * 24 * 3_600_000;

/**
 * Parses a duration into milliseconds. Accepts "0", and one or more
 * number+unit parts (units ns, us, µs, ms, s, m, h), e.g. "1h30m", "500ms".
 * Negative durations and units-less numbers (other than "0") are refused.
 */
export function parseDuration(text: string): number {
  if (typeof text !== 'string') {
    throw new DurationError(String(text), 'a duration must be a string such as "15m"');
  }
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new DurationError(text, 'empty duration');
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (m === null || m.index !== pos) {
      throw new DurationError(text, 'expected parts like "1h", "30m", "500ms" (units ns, us, ms, s, m, h)');
    }
    const value = Number(m[1]);
    const unit = UNIT_MS[m[2] ?? ''];
    if (unit === undefined || !Number.isFinite(value)) {
      throw new DurationError(text, 'invalid number or unit');
    }
    total += value * unit;
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total) || total > MAX_DURATION_MS) {
    throw new DurationError(text, 'duration is too long (at most 100 years)');
  }
  return total;
}

/** Formats milliseconds back into a compact Go-style duration ("1h30m", "500ms"). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new DurationError(String(ms), 'cannot format a negative or infinite duration');
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  if (rest < 1000) return `${rest}ms`;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
