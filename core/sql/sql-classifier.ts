// A classifier with two bounded caches:
// - exact: keyed by the whole text (drivers and agents repeat statements);
// - shape: keyed by the normalised text (shape-key.ts), for statements that
//   differ only in literal values (pgbench -S sends a new literal each time).
// A shape hit reuses everything but the text, which is always the caller's.
// Only single-statement texts are shared by shape: a statement's span is then
// the shared prefix and suffix of the text, which the literals cannot move.

import { classifyDetailed, deepFreeze } from './classify-text.js';
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
}

export interface SqlClassifierStats {
  hits: number;
  misses: number;
  size: number;
  exactHits: number;
  shapeHits: number;
  shapeSize: number;
}

interface ShapeEntry {
  statement: Omit<SqlStatement, 'text'>;
  /** The statement starts this many characters into the text ... */
  start: number;
  /** ... and ends this many characters before its end. */
  tail: number;
}

export class SqlClassifier {
  private readonly exact: Lru<string, SqlClassification>;
  private readonly shapes: Lru<string, ShapeEntry>;
  private readonly maxCachedTextLength: number;
  private readonly useShapes: boolean;
  private exactHits = 0;
  private shapeHits = 0;
  private misses = 0;

  constructor(opts: SqlClassifierOptions = {}) {
    const max = opts.maxEntries ?? 10_000;
    this.exact = new Lru(max);
    this.shapes = new Lru(max);
    this.maxCachedTextLength = opts.maxCachedTextLength ?? 16 * 1024;
    this.useShapes = opts.shapeCache ?? true;
  }

  classify(text: string): SqlClassification {
    const hit = this.exact.get(text);
    if (hit) {
      this.exactHits++;
      return hit;
    }
    const key = this.useShapes && this.shapes.maxEntries > 0 ? shapeKey(text) : undefined;
    if (key !== undefined) {
      const shape = this.shapes.get(key);
      const end = shape ? text.length - shape.tail : -1;
      if (shape && end >= shape.start) {
        this.shapeHits++;
        const statement: SqlStatement = { ...shape.statement, text: text.slice(shape.start, end) };
        return deepFreeze({ text, statements: [statement] });
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
      this.shapes.set(key, { statement, start: span[0], tail: text.length - span[1] });
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
      shapeSize: this.shapes.size,
    };
  }

  clear(): void {
    this.exact.clear();
    this.shapes.clear();
  }
}
