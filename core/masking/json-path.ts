// JSON field paths for masking ("$.user.ssn", "$.items[*].card", "$..email")
// and a small automaton that follows them while a document is walked, so a
// document is visited once whatever the number of rules.
import { InvalidMaskSpecError } from './errors.js';
import { STRATEGY_STRICTNESS, type MaskStrategy } from './strategies.js';

export type PathSegment =
  | { kind: 'key'; key: string }
  | { kind: 'index'; index: number }
  /** `.*` or `[*]`: any member or element. */
  | { kind: 'any' }
  /** `..`: the next segment may match at any depth below. */
  | { kind: 'descend' };

export interface JsonPathRule {
  path: string;
  segments: PathSegment[];
  strategy: MaskStrategy;
  keep: number;
}

const MAX_SEGMENTS = 64;
const STATE_SHIFT = 7; // 2^7 > MAX_SEGMENTS + 1

/**
 * Parse the subset of JSONPath that masking needs: `$` root, `.name`,
 * `['name']` / `["name"]`, `[n]`, `.*` / `[*]`, and `..` (any depth).
 * Filters, slices and unions are refused (they cannot be matched in one pass
 * without look-ahead).
 */
export function parseJsonPath(path: string, field = 'path'): PathSegment[] {
  const fail = (why: string): never => {
    throw new InvalidMaskSpecError(field, `invalid JSON path ${JSON.stringify(path)}: ${why}`);
  };
  if (!path.startsWith('$')) fail("must start with '$'");
  const segs: PathSegment[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      if (path[i + 1] === '.') {
        if (segs[segs.length - 1]?.kind === 'descend') fail("'...' is not a path");
        segs.push({ kind: 'descend' });
        i += 2;
        if (path[i] === '[') continue;
      } else {
        i += 1;
      }
      if (path[i] === '*') {
        segs.push({ kind: 'any' });
        i += 1;
        continue;
      }
      let j = i;
      while (j < path.length && !'.[]\'" \t'.includes(path[j] ?? '')) j++;
      if (j === i) fail(`expected a member name at offset ${i}`);
      segs.push({ kind: 'key', key: path.slice(i, j) });
      i = j;
    } else if (c === '[') {
      const q = path[i + 1];
      if (q === '*' && path[i + 2] === ']') {
        segs.push({ kind: 'any' });
        i += 3;
      } else if (q === "'" || q === '"') {
        let j = i + 2;
        let key = '';
        while (j < path.length && path[j] !== q) {
          if (path[j] === '\\' && j + 1 < path.length) j++;
          key += path[j];
          j++;
        }
        if (path[j] !== q || path[j + 1] !== ']') fail(`unterminated quoted name at offset ${i}`);
        segs.push({ kind: 'key', key });
        i = j + 2;
      } else {
        let j = i + 1;
        while (j < path.length && (path[j] ?? '') >= '0' && (path[j] ?? '') <= '9') j++;
        if (j === i + 1 || path[j] !== ']' || j - i > 10) fail(`expected [n], [*] or ['name'] at offset ${i}`);
        segs.push({ kind: 'index', index: Number(path.slice(i + 1, j)) });
        i = j + 1;
      }
    } else {
      fail(`unexpected ${JSON.stringify(c)} at offset ${i}`);
    }
    if (segs.length > MAX_SEGMENTS) fail(`more than ${MAX_SEGMENTS} segments`);
  }
  if (segs[segs.length - 1]?.kind === 'descend') fail("'..' must be followed by a name, [n] or *");
  return segs;
}

/** A set of automaton states: rule r at segment p, encoded r << STATE_SHIFT | p. */
export type PathStates = readonly number[];

function segMatches(seg: PathSegment | undefined, key: string | number): boolean {
  if (seg === undefined) return false;
  switch (seg.kind) {
    case 'any':
      return true;
    case 'key':
      return typeof key === 'string' && seg.key === key;
    case 'index':
      return typeof key === 'number' && seg.index === key;
    case 'descend':
      return false;
  }
}

export class JsonPathMatcher {
  private readonly rootStates: PathStates;

  constructor(readonly rules: readonly JsonPathRule[]) {
    this.rootStates = rules.map((_, r) => r << STATE_SHIFT);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  root(): PathStates {
    return this.rootStates;
  }

  /** States after descending into member `key` (string) or element `key` (number). Empty: nothing can match below. */
  step(states: PathStates, key: string | number): PathStates {
    const next: number[] = [];
    const add = (s: number): void => {
      if (!next.includes(s)) next.push(s);
    };
    for (const s of states) {
      const r = s >> STATE_SHIFT;
      const p = s & ((1 << STATE_SHIFT) - 1);
      const segs = this.rules[r]?.segments;
      if (segs === undefined) continue;
      const seg = segs[p];
      if (seg === undefined) continue; // already complete: the whole value was masked
      if (seg.kind === 'descend') {
        add(s);
        if (segMatches(segs[p + 1], key)) add((r << STATE_SHIFT) | (p + 2));
      } else if (segMatches(seg, key)) {
        add((r << STATE_SHIFT) | (p + 1));
      }
    }
    return next;
  }

  /** The strictest rule whose path ends at this value, if any. */
  hit(states: PathStates): JsonPathRule | undefined {
    let best: JsonPathRule | undefined;
    for (const s of states) {
      const rule = this.rules[s >> STATE_SHIFT];
      if (rule === undefined || (s & ((1 << STATE_SHIFT) - 1)) !== rule.segments.length) continue;
      if (best === undefined || STRATEGY_STRICTNESS[rule.strategy] > STRATEGY_STRICTNESS[best.strategy]) best = rule;
    }
    return best;
  }
}
