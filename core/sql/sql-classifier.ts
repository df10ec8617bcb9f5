// A classifier with two bounded caches:
// - exact: keyed by the whole text (drivers and agents repeat statements);
// - shape: keyed by the normalised text (shape-key.ts), for statements that
//   differ only in literal values (pgbench -S sends a new literal each time).
// A shape hit reuses everything but the text, which is always the caller's.
// Only single-statement texts are shared by shape: a statement's span is then
// the shared prefix and suffix of the text, which the literals cannot move.
//
// The shape key is found two ways. fastShapeKey (fast-shape-key.ts) scans
// common statements in JavaScript; normalize() runs PostgreSQL's parser in
// WebAssembly and costs several times more. Both index one map, by the
// normalize() key. An entry answers a fast-key lookup only once some text
// has shown, on a miss or a normalize() hit (where normalize() runs anyway),
// that its fast key equals its normalize() key; the entry then records that
// text's constant classes, and a fast-key lookup must match them. Why that
// is enough is argued in fast-shape-key.ts.

import { classifyDetailed } from './classify-text.js';
import { fastShapeKey } from './fast-shape-key.js';
import { Lru } from './lru.js';
import { shapeKey } from './shape-key.js';
import type { SqlClassification, SqlStatement } from './types.js';

export interface SqlClassifierOptions {
  /** Entries in each cache (default 10000; 0 turns caching off). */
  maxEntries?: number;
  /** Texts longer than this are classified but not cached (default 16 KiB). */
  maxCachedTextLength?: number;
  /** Share classifications between texts that differ only in literals (default true). */
  shapeCache?: boolean;
  /** Find shape keys with the JavaScript scanner before normalize() (default true; off for comparison). */
  fastShapeKey?: boolean;
}

export interface SqlClassifierStats {
  hits: number;
  misses: number;
  size: number;
  exactHits: number;
  /** Shape hits, found by the fast key or by normalize(). */
  shapeHits: number;
  /** Shape hits found by the fast key (no parser call at all). */
  fastShapeHits: number;
  shapeSize: number;
}

interface ShapeEntry {
  /** Frozen (its arrays were frozen with the classification it came from). */
  statement: Omit<SqlStatement, 'text'>;
  /** The statement starts this many characters into the text ... */
  start: number;
  /** ... and ends this many characters before its end. */
  tail: number;
  /**
   * The constant classes (FastShapeKey.classes) of texts whose fast key was
   * checked equal to this entry's key (the last few): a fast-key lookup is
   * answered only for texts with one of them. `x = 5` and `x = -5` have one
   * normalize() key but two classes.
   */
  fastClasses: string[];
}

const MAX_FAST_CLASSES = 4;

export class SqlClassifier {
  private readonly exact: Lru<string, SqlClassification>;
  private readonly shapes: Lru<string, ShapeEntry>;
  private readonly maxCachedTextLength: number;
  private readonly useShapes: boolean;
  private readonly useFastKey: boolean;
  private exactHits = 0;
  private shapeHits = 0;
  private fastShapeHits = 0;
  private misses = 0;

  constructor(opts: SqlClassifierOptions = {}) {
    const max = opts.maxEntries ?? 10_000;
    this.exact = new Lru(max);
    this.shapes = new Lru(max);
    this.maxCachedTextLength = opts.maxCachedTextLength ?? 16 * 1024;
    this.useShapes = opts.shapeCache ?? true;
    this.useFastKey = opts.fastShapeKey ?? true;
  }

  classify(text: string): SqlClassification {
    const hit = this.exact.get(text);
    if (hit) {
      this.exactHits++;
      return hit;
    }
    const shapes = this.useShapes && this.shapes.maxEntries > 0;
    const fast = shapes && this.useFastKey ? fastShapeKey(text) : undefined;
    if (fast !== undefined) {
      const shape = this.shapes.get(fast.key);
      if (shape !== undefined && shape.fastClasses.includes(fast.classes)) {
        const shared = shareShape(shape, text);
        if (shared) {
          this.shapeHits++;
          this.fastShapeHits++;
          return shared;
        }
      }
    }
    const key = shapes ? shapeKey(text) : undefined;
    // This text's fast key is checked equal to its normalize() key.
    const verified = fast !== undefined && fast.key === key;
    if (key !== undefined) {
      const shape = this.shapes.get(key);
      const shared = shape ? shareShape(shape, text) : undefined;
      if (shape && shared) {
        if (verified) addFastClasses(shape, fast.classes);
        this.shapeHits++;
        return shared;
      }
    }
    this.misses++;
    const d = classifyDetailed(text);
    const c = d.classification;
    if (c.error?.code === 'SQL_PARSER_NOT_READY') return c;
    if (text.length <= this.maxCachedTextLength) this.exact.set(text, c);
    const only = c.statements[0];
    const span = d.spans[0];
    if (key !== undefined && !c.error && !d.literalSensitive && c.statements.length === 1 && only && span) {
      const { text: _own, ...statement } = only;
      Object.freeze(statement);
      this.shapes.set(key, { statement, start: span[0], tail: text.length - span[1], fastClasses: verified ? [fast.classes] : [] });
    }
    return c;
  }

  stats(): SqlClassifierStats {
    return {
      hits: this.exactHits + this.shapeHits,
      misses: this.misses,
      size: this.exact.size,
      exactHits: this.exactHits,
      shapeHits: this.shapeHits,
      fastShapeHits: this.fastShapeHits,
      shapeSize: this.shapes.size,
    };
  }

  clear(): void {
    this.exact.clear();
    this.shapes.clear();
  }
}

function addFastClasses(shape: ShapeEntry, classes: string): void {
  if (shape.fastClasses.includes(classes)) return;
  shape.fastClasses.push(classes);
  if (shape.fastClasses.length > MAX_FAST_CLASSES) shape.fastClasses.shift();
}

/**
 * `text`'s classification from a shape entry, or undefined when the entry's
 * span does not fit the text. Built fresh and frozen: nothing mutable is
 * shared, and the nested arrays are the entry's, frozen once.
 */
function shareShape(shape: ShapeEntry, text: string): SqlClassification | undefined {
  const end = text.length - shape.tail;
  if (end < shape.start) return undefined;
  const statement: SqlStatement = Object.freeze({ ...shape.statement, text: text.slice(shape.start, end) });
  const statements: SqlStatement[] = Object.freeze([statement]) as SqlStatement[];
  return Object.freeze({ text, statements });
}
