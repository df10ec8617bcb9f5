// Parse with PostgreSQL's own parser (libpg-query, compiled to
// WebAssembly) and classify every statement. Never throws: anything the
// parser refuses, or this module cannot follow, becomes one UNPARSEABLE
// statement that writes (so default-deny policies refuse it).

import { loadModule, parseSync } from 'libpg-query';
import { classifyStatement } from './classify-statement.js';
import { SqlTreeTooDeepError, asArr, asObj } from './parse-tree.js';
import type { SqlClassification, SqlErrorCode, SqlStatement } from './types.js';

/** Longer statements are refused rather than parsed (a parse tree is ~10x its text). */
export const MAX_SQL_LENGTH = 1 << 20;

let ready = false;
let loading: Promise<void> | undefined;

/** Load the parser's WebAssembly module; call (and await) once before classifying. */
export async function initSqlParser(): Promise<void> {
  loading ??= loadModule().then(() => {
    ready = true;
  });
  await loading;
}

export function sqlParserReady(): boolean {
  return ready;
}

/** Recursively freeze: cached classifications are shared between sessions. */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  Object.freeze(v);
  if (Array.isArray(v)) {
    for (const x of v) deepFreeze(x);
  } else {
    const o = v as Record<string, unknown>;
    for (const k in o) deepFreeze(o[k]);
  }
  return v;
}

/** The parser reports UTF-8 byte offsets; JavaScript strings index UTF-16 code units. */
export class ByteOffsets {
  private readonly buf: Buffer | undefined;
  readonly byteLength: number;

  constructor(
    private readonly text: string,
    ascii = !/[^\x00-\x7f]/.test(text),
  ) {
    this.buf = ascii ? undefined : Buffer.from(text, 'utf8');
    this.byteLength = this.buf ? this.buf.length : text.length;
  }

  toIndex(byte: number): number {
    const b = Math.max(0, Math.min(byte, this.byteLength));
    return this.buf ? this.buf.subarray(0, b).toString('utf8').length : b;
  }

  /** Error cursors are counted in characters (code points), not bytes. */
  codePointToIndex(cp: number): number {
    const n = Math.max(0, cp);
    if (!/[\uD800-\uDFFF]/.test(this.text)) return Math.min(n, this.text.length);
    let index = 0;
    for (let i = 0; i < n && index < this.text.length; i++) {
      const c = this.text.codePointAt(index) ?? 0;
      index += c > 0xffff ? 2 : 1;
    }
    return index;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function unparseable(text: string, message: string, cursorPosition: number, code: SqlErrorCode): SqlClassification {
  const statement: SqlStatement = {
    kind: 'UNPARSEABLE',
    text,
    tables: [],
    functions: [],
    hasWhere: false,
    writes: true,
    innerKinds: [],
    program: false,
    predicateColumns: [],
    locking: false,
  };
  return deepFreeze({ text, statements: [statement], error: { message, cursorPosition, code } });
}

export interface DetailedClassification {
  classification: SqlClassification;
  /** Some statement's classification read a literal's value. */
  literalSensitive: boolean;
  /** Each statement's [start, end) in `text` (string indexes). */
  spans: [number, number][];
}

function sqlErrorDetails(e: unknown): { message: string; cursorPosition: number } {
  const err = e instanceof Error ? e : new Error(String(e));
  const details = asObj((err as Error & { sqlDetails?: unknown }).sqlDetails);
  const pos = details && typeof details.cursorPosition === 'number' ? details.cursorPosition : 0;
  return { message: err.message, cursorPosition: pos };
}

/** Classification plus what the cache needs to know about it. */
export function classifyDetailed(input: string): DetailedClassification {
  const text: string = typeof input === 'string' ? input : String(input);
  const fail = (message: string, cursor: number, code: SqlErrorCode): DetailedClassification => ({
    classification: unparseable(text, message, cursor, code),
    literalSensitive: false,
    spans: [],
  });
  if (text.length > MAX_SQL_LENGTH) return fail(`statement text longer than ${MAX_SQL_LENGTH} characters`, 0, 'SQL_TOO_LONG');
  // The parser reads a C string: text after a NUL would go unseen.
  const nul = text.indexOf('\u0000');
  if (nul >= 0) return fail('statement text contains a NUL character', nul, 'SQL_INVALID_TEXT');
  const ascii = !/[^\x00-\x7f]/.test(text);
  const lone = ascii ? null : LONE_SURROGATE.exec(text);
  if (lone) return fail('statement text is not valid Unicode (lone surrogate)', lone.index, 'SQL_INVALID_TEXT');
  if (!ready) return fail('SQL parser is not initialised (initSqlParser() not awaited)', 0, 'SQL_PARSER_NOT_READY');
  if (text === '') return { classification: deepFreeze({ text, statements: [] }), literalSensitive: false, spans: [] };

  const offsets = new ByteOffsets(text, ascii);
  let tree: unknown;
  try {
    tree = parseSync(text);
  } catch (e) {
    const { message, cursorPosition } = sqlErrorDetails(e);
    return fail(message, offsets.codePointToIndex(cursorPosition), 'SQL_SYNTAX');
  }
  try {
    const statements: SqlStatement[] = [];
    const spans: [number, number][] = [];
    let literalSensitive = false;
    for (const raw of asArr(asObj(tree)?.stmts)) {
      const r = asObj(raw) ?? {};
      const loc = typeof r.stmt_location === 'number' ? r.stmt_location : 0;
      // A length of 0 (omitted) means "to the end of the text".
      const len = typeof r.stmt_len === 'number' && r.stmt_len > 0 ? r.stmt_len : offsets.byteLength - loc;
      const start = offsets.toIndex(loc);
      const end = offsets.toIndex(loc + len);
      const c = classifyStatement(r.stmt);
      literalSensitive ||= c.literalSensitive;
      statements.push({ ...c.facts, text: text.slice(start, end) });
      spans.push([start, end]);
    }
    return { classification: deepFreeze({ text, statements }), literalSensitive, spans };
  } catch (e) {
    if (e instanceof SqlTreeTooDeepError) return fail(e.message, 0, 'SQL_TOO_DEEP');
    // The call stack ran out on a deep tree, or the tree had a shape this module does not know.
    return fail(`statement could not be classified: ${e instanceof Error ? e.message : String(e)}`, 0, 'SQL_CLASSIFY_FAILED');
  }
}

/** Classify SQL text (any number of statements). Never throws. */
export function classifySql(text: string): SqlClassification {
  return classifyDetailed(text).classification;
}
