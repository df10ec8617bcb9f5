// JSON masking by field path and by detectors on leaves. Two forms over the
// same rules: maskJsonValue walks parsed values (copy-on-write: unchanged
// subtrees keep their identity), maskJsonText rewrites JSON text in place
// (one linear pass, explicit stack, untouched bytes are kept verbatim so big
// numbers and formatting survive). Object keys are not scanned.
import type { JsonPathMatcher, JsonPathRule, PathStates } from './json-path.js';
import { REDACTED, type MaskStrategy, type ValueShape } from './strategies.js';

export interface JsonMaskDeps {
  /** Path rules; null when there are none. */
  paths: JsonPathMatcher | null;
  hasDetectors: boolean;
  /** Detector hits inside a string leaf replaced; value null means a null-strategy detector hit. */
  maskString(s: string): { value: string | null; masked: number };
  /** The detector strategy that flags this number's digits (a card stored as a number), if any. */
  numberHit(raw: string): { strategy: MaskStrategy; keep: number } | undefined;
  apply(value: string, strategy: MaskStrategy, keep: number, shape: ValueShape): string | null;
}

/** Numbers keep being numbers; a hash pseudonym of up to 15 digits is exact in a double. */
const NUMBER_SHAPE: ValueShape = { kind: 'decimal', maxDigits: 15 };
/** Nested deeper than this is replaced by null rather than walked (fail closed, bounded stack). */
export const MAX_JSON_DEPTH = 1000;

/** '-000123.40' → '-123.40': partial masking turns digits into zeros, JSON forbids leading zeros. */
function normalizeNumber(s: string): string {
  let sign = '';
  let body = s;
  if (body.startsWith('-')) {
    sign = '-';
    body = body.slice(1);
  }
  let k = 0;
  while (k < body.length - 1 && body[k] === '0' && body[k + 1] !== '.' && body[k + 1] !== 'e' && body[k + 1] !== 'E') k++;
  body = body.slice(k);
  return /^\d/.test(body) ? sign + body : '0';
}

function maskNumberRaw(raw: string, strategy: MaskStrategy, keep: number, deps: JsonMaskDeps): string {
  const out = deps.apply(raw, strategy, keep, NUMBER_SHAPE);
  return out === null ? 'null' : normalizeNumber(out);
}

// ---------------------------------------------------------------- parsed values

export function maskJsonValue(value: unknown, deps: JsonMaskDeps): { value: unknown; masked: number } {
  const paths = deps.paths !== null && !deps.paths.empty ? deps.paths : null;
  if (paths === null && !deps.hasDetectors) return { value, masked: 0 };
  const counter = { masked: 0 };
  const out = walk(value, paths?.root() ?? null, 0, paths, deps, counter);
  return { value: out, masked: counter.masked };
}

function walk(
  v: unknown,
  states: PathStates | null,
  depth: number,
  paths: JsonPathMatcher | null,
  deps: JsonMaskDeps,
  counter: { masked: number },
): unknown {
  const rule = states !== null && paths !== null ? paths.hit(states) : undefined;
  if (rule !== undefined) {
    const out = maskWholeValue(v, rule, deps);
    if (out !== v) counter.masked++;
    return out;
  }
  if (typeof v === 'string') {
    if (!deps.hasDetectors) return v;
    const r = deps.maskString(v);
    if (r.masked === 0) return v;
    counter.masked++;
    return r.value;
  }
  if (typeof v === 'number') {
    if (!deps.hasDetectors || !Number.isFinite(v)) return v;
    const raw = String(v);
    const hit = deps.numberHit(raw);
    if (hit === undefined) return v;
    counter.masked++;
    return JSON.parse(maskNumberRaw(raw, hit.strategy, hit.keep, deps)) as unknown;
  }
  if (typeof v !== 'object' || v === null) return v;
  const live = states !== null && states.length > 0 ? states : null;
  if (live === null && !deps.hasDetectors) return v;
  if (depth >= MAX_JSON_DEPTH) {
    counter.masked++;
    return null;
  }
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const el: unknown = v[i];
      const out = walk(el, live !== null && paths !== null ? paths.step(live, i) : null, depth + 1, paths, deps, counter);
      if (out !== el) {
        copy ??= v.slice();
        copy[i] = out;
      }
    }
    return copy ?? v;
  }
  let copy: Record<string, unknown> | undefined;
  const obj = v as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const el = obj[key];
    const out = walk(el, live !== null && paths !== null ? paths.step(live, key) : null, depth + 1, paths, deps, counter);
    if (out !== el) {
      copy ??= { ...obj };
      copy[key] = out;
    }
  }
  return copy ?? v;
}

function maskWholeValue(v: unknown, rule: JsonPathRule, deps: JsonMaskDeps): unknown {
  if (rule.strategy === 'null') return null;
  if (typeof v === 'string') return deps.apply(v, rule.strategy, rule.keep, { kind: 'text' });
  if (typeof v === 'number' && Number.isFinite(v)) {
    return JSON.parse(maskNumberRaw(String(v), rule.strategy, rule.keep, deps)) as unknown;
  }
  if (rule.strategy === 'hash') return deps.apply(JSON.stringify(v) ?? 'null', 'hash', rule.keep, { kind: 'text' });
  return REDACTED;
}

// ---------------------------------------------------------------- JSON text

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return i;
    i++;
  }
}

/** End (exclusive) of the string literal starting at text[i] === '"', or -1. */
function scanString(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return -1;
    let b = q - 1;
    while (text.charCodeAt(b) === 92) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

function decodeString(raw: string): string {
  return raw.indexOf('\\') < 0 ? raw.slice(1, -1) : (JSON.parse(raw) as string);
}

function isNumberChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;
}

/** End of the value starting at i (any kind), or -1. */
function skipValue(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 34) return scanString(text, i);
  if (c === 123 || c === 91) {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const d = text.charCodeAt(j);
      if (d === 34) {
        j = scanString(text, j);
        if (j < 0) return -1;
        continue;
      }
      if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return -1;
  }
  let j = i;
  while (j < text.length && (isNumberChar(text.charCodeAt(j)) || (text.charCodeAt(j) >= 97 && text.charCodeAt(j) <= 122))) j++;
  return j > i ? j : -1;
}

function maskWholeRaw(raw: string, rule: JsonPathRule, deps: JsonMaskDeps): string {
  if (rule.strategy === 'null') return 'null';
  const c = raw.charCodeAt(0);
  if (c === 34) {
    const out = deps.apply(decodeString(raw), rule.strategy, rule.keep, { kind: 'text' });
    return out === null ? 'null' : JSON.stringify(out);
  }
  if (c === 45 || (c >= 48 && c <= 57)) return maskNumberRaw(raw, rule.strategy, rule.keep, deps);
  if (rule.strategy === 'hash') return JSON.stringify(deps.apply(raw, 'hash', rule.keep, { kind: 'text' }));
  return JSON.stringify(REDACTED);
}

interface Frame {
  array: boolean;
  states: PathStates | null;
  index: number;
}

export interface JsonTextResult {
  text: string;
  masked: number;
  /** False when the text is not JSON; text is then returned unchanged and the caller decides. */
  valid: boolean;
}

export function maskJsonText(text: string, deps: JsonMaskDeps): JsonTextResult {
  const paths = deps.paths !== null && !deps.paths.empty ? deps.paths : null;
  if (paths === null && !deps.hasDetectors) return { text, masked: 0, valid: true };
  const invalid: JsonTextResult = { text, masked: 0, valid: false };
  const reps: { start: number; end: number; text: string }[] = [];
  const stack: Frame[] = [];
  const childStates = (states: PathStates | null, key: string | number): PathStates | null => {
    if (states === null || paths === null) return null;
    const next = paths.step(states, key);
    return next.length > 0 ? next : null;
  };
  /** Parses `"key" :` at i; returns the position after ':' and the key, or -1. */
  const readKey = (i: number, frame: Frame): [number, PathStates | null] => {
    if (text.charCodeAt(i) !== 34) return [-1, null];
    const end = scanString(text, i);
    if (end < 0) return [-1, null];
    const states = frame.states !== null ? childStates(frame.states, decodeString(text.slice(i, end))) : null;
    const colon = skipWs(text, end);
    if (text.charCodeAt(colon) !== 58) return [-1, null];
    return [skipWs(text, colon + 1), states];
  };

  let masked = 0;
  let i = skipWs(text, 0);
  let states: PathStates | null = paths?.root() ?? null;
  main: for (;;) {
    // One value at i, under `states`.
    if (i >= text.length) return invalid;
    const rule = states !== null && paths !== null ? paths.hit(states) : undefined;
    const c = text.charCodeAt(i);
    if (rule !== undefined) {
      const end = skipValue(text, i);
      if (end < 0) return invalid;
      const raw = text.slice(i, end);
      const out = maskWholeRaw(raw, rule, deps);
      if (out !== raw) {
        reps.push({ start: i, end, text: out });
        masked++;
      }
      i = end;
    } else if ((c === 123 || c === 91) && states === null && !deps.hasDetectors) {
      // Nothing below can match: skip the container without walking it.
      const end = skipValue(text, i);
      if (end < 0) return invalid;
      i = end;
    } else if (c === 123 || c === 91) {
      const frame: Frame = { array: c === 91, states, index: 0 };
      i = skipWs(text, i + 1);
      if (text.charCodeAt(i) === (frame.array ? 93 : 125)) {
        i++;
      } else {
        stack.push(frame);
        if (frame.array) {
          states = childStates(frame.states, 0);
        } else {
          const [next, st] = readKey(i, frame);
          if (next < 0) return invalid;
          i = next;
          states = st;
        }
        continue main;
      }
    } else if (c === 34) {
      const end = scanString(text, i);
      if (end < 0) return invalid;
      if (deps.hasDetectors) {
        const r = deps.maskString(decodeString(text.slice(i, end)));
        if (r.masked > 0) {
          reps.push({ start: i, end, text: r.value === null ? 'null' : JSON.stringify(r.value) });
          masked++;
        }
      }
      i = end;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let end = i;
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
      if (deps.hasDetectors) {
        const raw = text.slice(i, end);
        const hit = deps.numberHit(raw);
        if (hit !== undefined) {
          reps.push({ start: i, end, text: maskNumberRaw(raw, hit.strategy, hit.keep, deps) });
          masked++;
        }
      }
      i = end;
    } else if (text.startsWith('true', i)) {
      i += 4;
    } else if (text.startsWith('false', i)) {
      i += 5;
    } else if (text.startsWith('null', i)) {
      i += 4;
    } else {
      return invalid;
    }
    // After a value: close finished containers, or move to the next member/element.
    for (;;) {
      i = skipWs(text, i);
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (i !== text.length) return invalid;
        break main;
      }
      const d = text.charCodeAt(i);
      if (d === 44) {
        i = skipWs(text, i + 1);
        top.index++;
        if (top.array) {
          states = childStates(top.states, top.index);
        } else {
          const [next, st] = readKey(i, top);
          if (next < 0) return invalid;
          i = next;
          states = st;
        }
        continue main;
      }
      if (d === (top.array ? 93 : 125)) {
        stack.pop();
        i++;
        continue;
      }
      return invalid;
    }
  }
  if (reps.length === 0) return { text, masked: 0, valid: true };
  let out = '';
  let at = 0;
  for (const r of reps) {
    out += text.slice(at, r.start) + r.text;
    at = r.end;
  }
  return { text: out + text.slice(at), masked, valid: true };
}
