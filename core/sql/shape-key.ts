// The key under which statements that differ only in literal values share a
// classification. It is PostgreSQL's own normalisation (libpg-query's
// normalize(), pg_stat_statements' algorithm): the parser finds the constants,
// the core scanner measures each one, and each is replaced by `$n`. Everything
// else (keywords, identifiers, operators, comments, whitespace) stays as
// written, so two texts with the same key have the same tokens outside the
// constants and therefore the same statements, relations, functions and
// columns. Guards against keys the parser would read differently:
// - no `$` in the text: no `$1` parameters to confuse with a replaced
//   literal, no dollar quoting;
// - no `U&` / `u&`: a UESCAPE string changes how a Unicode-escaped
//   identifier reads;
// - no NUL and no lone surrogate: classification refuses such text
//   (SQL_INVALID_TEXT), while normalize() would read a lone surrogate as
//   U+FFFD and give the key of a valid text;
// - the key must line up with the text (normalize() returns some error
//   messages as if they were a result);
// - a classification that read a literal's value (EXPLAIN (ANALYZE 'off'),
//   ORDER BY 2) is never stored under a shape (the cache checks that).
// fast-shape-key.ts finds the same key without the parser for common
// statements; SqlClassifier decides when it may stand in for this one.

import { normalizeSync } from 'libpg-query';

export const MAX_SHAPE_TEXT_LENGTH = 64 * 1024;

const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function shapeEligible(text: string): boolean {
  return (
    text.length > 0 &&
    text.length <= MAX_SHAPE_TEXT_LENGTH &&
    !text.includes('$') &&
    !/u&/i.test(text) &&
    !text.includes('\u0000') &&
    !(SURROGATE.test(text) && LONE_SURROGATE.test(text))
  );
}

const PLACEHOLDER = /\$[0-9]+/;

/** Whether `normalized` is `text` with some non-empty spans replaced by `$n`, in order. */
export function matchesShape(text: string, normalized: string): boolean {
  const segments = normalized.split(PLACEHOLDER);
  if (segments.length === 1) return normalized === text;
  const first = segments[0] ?? '';
  const last = segments[segments.length - 1] ?? '';
  if (!text.startsWith(first)) return false;
  let pos = first.length;
  for (let i = 1; i < segments.length - 1; i++) {
    const seg = segments[i] ?? '';
    const at = text.indexOf(seg, pos + 1); // a replaced constant is at least one character
    if (at < 0) return false;
    pos = at + seg.length;
  }
  return text.length - last.length >= pos + 1 && text.endsWith(last);
}

/** The shape key of `text`, or undefined when it must not share a classification. */
export function shapeKey(text: string): string | undefined {
  if (!shapeEligible(text)) return undefined;
  let normalized: string;
  try {
    normalized = normalizeSync(text);
  } catch {
    return undefined;
  }
  return matchesShape(text, normalized) ? normalized : undefined;
}
