// How the decision cache recognises `sql.statements` it has seen: a cheap
// hash to find candidates, then an exact comparison with a snapshot of the
// facts a decision was made from. Every fact of every statement counts
// except its `text` (which must still be a string the activation conversion
// accepts).
//
// The comparison is exact where the activation conversion (activation.ts)
// could tell two inputs apart: same types (1 and 1n differ), same strings
// and numbers (===; NaN never matches, 0 and -0 both become int 0), same
// list lengths, same own keys in the same order (CEL iterates maps in
// insertion order; a key whose value is undefined still counts against
// maxMapEntries), plain objects only. So equal facts convert to the same CEL
// values, and since a snapshot is only taken after a successful conversion,
// so does the new request. Anything unusual (Date, class instances, too deep,
// too large) is simply not cached.
//
// Why not a string key: on pgbench's statements (decide-bench.ts), a tagged
// string encoder cost ~1 µs plus ~0.9 µs for the Map lookup of the fresh
// (rope) string; JSON.stringify ~0.75 µs, but it maps NaN and null alike,
// drops undefined keys, turns a Date into a string and throws on bigint, so
// it would need a validation pass besides. Hash plus comparison: ~0.45 µs.
// Like activation.ts, this assumes facts are plain data (no getters, no proxies).

export interface FactsLimits {
  /** the activation's longest string; a longer statement text is not cached */
  readonly maxStringLength: number;
  /** the activation's deepest nesting */
  readonly maxDepth: number;
  /** the largest snapshot kept (values plus string characters); larger facts are not cached */
  readonly maxSnapshotSize: number;
}

// A snapshot is one flat list of tokens (one allocation, which matters: the
// cache holds thousands and the garbage collector walks them):
//   a string, number, bigint, boolean or null    itself
//   a list                                        LIST, its length, its items
//   a plain object                                MAP, then key and value per own key, then END
//   a key whose value is undefined                the key, then UNDEF
//   a statement's own text                        'text', then TEXT (any string within the limit, not compared)
// The markers are symbols, which no fact can be (a symbol is not storable).
const LIST: unique symbol = Symbol('list');
const MAP: unique symbol = Symbol('map');
const END: unique symbol = Symbol('end');
const UNDEF: unique symbol = Symbol('undefined');
const TEXT: unique symbol = Symbol('text');

type Token = string | number | bigint | boolean | null | typeof LIST | typeof MAP | typeof END | typeof UNDEF | typeof TEXT;

/** The facts a decision was made from, without texts. Opaque outside this file. */
export interface FactsSnapshot {
  readonly tokens: readonly Token[];
  /** tokens plus string characters (what the cache's global bound counts) */
  readonly size: number;
}

const hasOwn = Object.prototype.hasOwnProperty;

function isPlain(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// ---- hash: any deterministic function of what sameFacts() compares -------

let h = 0;
let nodes = 0;
let nodeLimit = 0;
let depthLimit = 0;

function mix(x: number): void {
  h = Math.imul(h ^ x, 0x01000193);
}

// Length and three characters: strings that differ elsewhere collide, and the comparison sorts that out.
function mixString(s: string): void {
  const n = s.length;
  mix(n);
  if (n > 0) {
    mix(s.charCodeAt(0));
    mix(s.charCodeAt(n >> 1));
    mix(s.charCodeAt(n - 1));
  }
}

// false: too deep or too large (such facts are never stored)
function hashValue(v: unknown, depth: number): boolean {
  if (++nodes > nodeLimit) return false;
  switch (typeof v) {
    case 'string':
      nodes += v.length;
      mixString(v);
      return true;
    case 'number':
      mix(v | 0);
      return true;
    case 'boolean':
      mix(v ? 3 : 4);
      return true;
    case 'bigint':
      mix(5);
      mix(Number(BigInt.asIntN(32, v)));
      return true;
    case 'object': {
      if (v === null) {
        mix(6);
        return true;
      }
      if (depth > depthLimit) return false;
      if (Array.isArray(v)) {
        const items: readonly unknown[] = v;
        mix(7);
        mix(items.length);
        for (let i = 0; i < items.length; i++) if (!hashValue(items[i], depth + 1)) return false;
        return true;
      }
      mix(8);
      for (const k in v) {
        if (!hasOwn.call(v, k)) continue;
        mixString(k);
        if (!hashValue((v as Record<string, unknown>)[k], depth + 1)) return false;
      }
      mix(9);
      return true;
    }
    default:
      mix(10);
      return true;
  }
}

/**
 * The hash of a statement list (texts left out), or undefined when it is not
 * a list, or too deep or large to be cached. Depths count as in activation.ts:
 * the list is at depth 1 (under `sql`), a statement at 2.
 */
export function hashStatements(statements: unknown, limits: FactsLimits): number | undefined {
  if (!Array.isArray(statements)) return undefined;
  const list: readonly unknown[] = statements;
  h = 0x811c9dc5 ^ list.length;
  nodes = 0;
  nodeLimit = limits.maxSnapshotSize;
  depthLimit = limits.maxDepth;
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (typeof s !== 'object' || s === null) return undefined;
    if (++nodes > nodeLimit) return undefined;
    mix(11);
    for (const k in s) {
      if (!hasOwn.call(s, k)) continue;
      mixString(k);
      if (k === 'text') continue;
      if (!hashValue((s as Record<string, unknown>)[k], 3)) return undefined;
    }
  }
  return h >>> 0;
}

// ---- snapshot ----------------------------------------------------------

class NotStorable extends Error {}

let tokens: Token[] = [];
let size = 0;

function snap(v: unknown, depth: number): void {
  if (++size > nodeLimit) throw new NotStorable();
  switch (typeof v) {
    case 'string':
      size += v.length;
      tokens.push(v);
      return;
    case 'number':
    case 'bigint':
    case 'boolean':
      tokens.push(v);
      return;
    case 'object': {
      if (v === null) {
        tokens.push(null);
        return;
      }
      if (depth > depthLimit) throw new NotStorable();
      if (Array.isArray(v)) {
        const items: readonly unknown[] = v;
        tokens.push(LIST, items.length);
        for (let i = 0; i < items.length; i++) snap(items[i], depth + 1);
        return;
      }
      if (!isPlain(v)) throw new NotStorable();
      snapMap(v, depth, false);
      return;
    }
    default:
      throw new NotStorable();
  }
}

function snapMap(v: object, depth: number, statement: boolean): void {
  tokens.push(MAP);
  for (const k in v) {
    if (!hasOwn.call(v, k)) continue;
    const x: unknown = (v as Record<string, unknown>)[k];
    size += k.length + 1;
    tokens.push(k);
    if (x === undefined) {
      tokens.push(UNDEF);
    } else if (statement && k === 'text') {
      if (typeof x !== 'string') throw new NotStorable();
      tokens.push(TEXT);
    } else {
      snap(x, depth + 1);
    }
  }
  tokens.push(END);
}

/** A copy of the statements without texts, or undefined when they are not to be cached. */
export function snapshotStatements(statements: unknown, limits: FactsLimits): FactsSnapshot | undefined {
  if (!Array.isArray(statements)) return undefined;
  const list: readonly unknown[] = statements;
  tokens = [list.length];
  size = 1;
  nodeLimit = limits.maxSnapshotSize;
  depthLimit = limits.maxDepth;
  try {
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (typeof s !== 'object' || s === null || Array.isArray(s) || !isPlain(s)) return undefined;
      if (++size > nodeLimit) return undefined;
      snapMap(s, 2, true);
    }
    return { tokens, size };
  } catch (err) {
    if (err instanceof NotStorable) return undefined;
    throw err;
  } finally {
    tokens = [];
  }
}

// ---- comparison --------------------------------------------------------

let want: readonly Token[] = [];
let pos = 0;
let maxText = 0;

function same(v: unknown): boolean {
  const t = want[pos++];
  if (t === LIST) {
    if (!Array.isArray(v) || v.length !== want[pos++]) return false;
    const items: readonly unknown[] = v;
    for (let i = 0; i < items.length; i++) if (!same(items[i])) return false;
    return true;
  }
  if (t === MAP) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !isPlain(v)) return false;
    return sameMap(v, false);
  }
  // a primitive (a marker never equals a fact)
  return t === v;
}

// `pos` is just after MAP.
function sameMap(v: object, statement: boolean): boolean {
  for (const k in v) {
    if (!hasOwn.call(v, k)) continue;
    if (want[pos++] !== k) return false;
    const x: unknown = (v as Record<string, unknown>)[k];
    const t = want[pos];
    if (t === UNDEF) {
      if (x !== undefined) return false;
      pos++;
    } else if (statement && t === TEXT) {
      if (typeof x !== 'string' || x.length > maxText) return false;
      pos++;
    } else if (x === undefined || !same(x)) {
      return false;
    }
  }
  return want[pos++] === END;
}

/** Whether the statements are the snapshot's, texts aside (and their texts within the string limit). */
export function sameStatements(snapshot: FactsSnapshot, statements: readonly unknown[], limits: FactsLimits): boolean {
  want = snapshot.tokens;
  if (want[0] !== statements.length) return false;
  pos = 1;
  maxText = limits.maxStringLength;
  try {
    for (let i = 0; i < statements.length; i++) {
      const s = statements[i];
      if (typeof s !== 'object' || s === null || Array.isArray(s) || !isPlain(s)) return false;
      if (want[pos++] !== MAP || !sameMap(s, true)) return false;
    }
    return pos === want.length;
  } finally {
    want = [];
  }
}
