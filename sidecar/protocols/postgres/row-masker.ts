// Masking of PostgreSQL result data on its way to the agent: DataRow frames,
// CopyData frames of COPY TO STDOUT (text and CSV), ErrorResponse and
// NoticeResponse frames. Columns are matched by lineage (RowDescription's
// table OID + attribute number, resolved through the catalog to
// schema.table.column) and by the statement's own lineage (an output column
// computed from a masked column is masked whole); everything else goes through
// content detectors. Frames are rebuilt with correct lengths only when a value
// changed; an unchanged frame is returned as the same Buffer. Values stay
// valid for their type and format code (core/masking/pg-value-masker.ts).
// Text is read as UTF-8: the proxy should pin client_encoding to UTF8.
import { MaskFrameError, MaskUnsupportedError } from '../../../core/masking/errors.js';
import {
  alignOutputs,
  ruleForRefs,
  strictestChoice,
  type OutputColumnLineage,
  type RuleChoice,
} from '../../../core/masking/lineage-rules.js';
import type { CompiledMasking } from '../../../core/masking/masker.js';
import {
  maskCopyTextLine,
  planCopyColumns,
  type CopyColumn,
  type CopyFormat,
  type CopyPlan,
  type MaskResult,
} from '../../../core/masking/pg-copy-masker.js';
import { maskErrorFields, type ErrorField, type ErrorMaskOptions } from '../../../core/masking/pg-error-masker.js';
import {
  detectApplies,
  detectCanChangeText,
  maskPgBinary,
  maskPgText,
  pgTypeClass,
  type PgMaskAction,
} from '../../../core/masking/pg-value-masker.js';

export type { ColumnRef, OutputColumnLineage } from '../../../core/masking/lineage-rules.js';
export { maskCopyTextLine, planCopyColumns, copyFormat } from '../../../core/masking/pg-copy-masker.js';
export type { CopyColumn, CopyColumnPlan, CopyFormat, CopyPlan, MaskResult } from '../../../core/masking/pg-copy-masker.js';
export { maskErrorFields, touchesMaskedColumn, MASKED_DETAIL } from '../../../core/masking/pg-error-masker.js';
export type { ErrorField, ErrorMaskOptions } from '../../../core/masking/pg-error-masker.js';
export type { PgMaskAction } from '../../../core/masking/pg-value-masker.js';

/** One RowDescription field (names as in the brief). */
export interface RowField {
  name: string;
  /** 0 when the column is not a plain column of a table (computed). */
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  /** 0 text, 1 binary. */
  format: number;
}

/** The proxy's RowDescription field shape (backend-messages.ts), accepted as is. */
export interface WireRowField {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

export type RowFieldLike = RowField | WireRowField;

function attnumOf(f: RowFieldLike): number {
  return 'attnum' in f ? f.attnum : f.columnAttr;
}

function typeModOf(f: RowFieldLike): number {
  return 'typeMod' in f ? f.typeMod : f.typeModifier;
}

/** A table column resolved from the catalog: table is "schema.table". */
export interface ColumnLineage {
  table: string;
  column: string;
}

/** Keyed by lineageKey(tableOid, attnum). */
export type LineageMap = ReadonlyMap<string, ColumnLineage>;

export function lineageKey(tableOid: number, attnum: number): string {
  return `${tableOid}:${attnum}`;
}

export interface RowMaskerOptions {
  fields: readonly RowFieldLike[];
  lineage: LineageMap;
  /** From the SQL classifier (SqlStatement.outputColumns), by output position; optional. */
  outputColumns?: readonly (OutputColumnLineage | undefined)[];
  masking: CompiledMasking;
}

export interface RowMasker {
  /** Per output column: what happens to its values (undefined: passed through untouched). */
  readonly actions: readonly (PgMaskAction | undefined)[];
  /** Mask one whole DataRow message ('D', int32 length, int16 count, values). */
  maskDataRow(msg: Buffer): MaskResult;
  /**
   * What this masker has changed so far, by name, never by value: the
   * column ("public.customers.ssn") for a column rule, the detector
   * ("detector:pan") for content detection. Meant to be called once, when the
   * result ends.
   */
  maskedColumns(): string[];
}

/** Table OIDs in `fields` that `lineage` does not resolve: resolve them (catalog) before createRowMasker. */
export function unresolvedTableOids(fields: readonly RowFieldLike[], lineage: LineageMap): number[] {
  const out = new Set<number>();
  for (const f of fields) {
    if (f.tableOid !== 0 && !lineage.has(lineageKey(f.tableOid, attnumOf(f)))) out.add(f.tableOid);
  }
  return [...out];
}

/**
 * Decide what happens to each output column:
 * 1. catalog lineage (table OID + attnum) → that column's rule;
 * 2. statement lineage lined up with the column (core/masking/lineage-rules.ts
 *    alignOutputs) → the strictest rule among the columns its expression
 *    reads, partial becoming redact for computed expressions; positions that
 *    cannot be lined up (inside an expanded `*`, or a column count that
 *    differs) take the strictest rule of every reference they might come
 *    from when they are computed (table OID 0); plain columns keep their
 *    catalog lineage, which is exact;
 * 3. otherwise detectors (and JSON field paths for json/jsonb), when they
 *    can apply to the column's type.
 * A table OID that the lineage map does not resolve gets detectors only:
 * resolve unresolvedTableOids() first.
 */
export function planRowMasking(opts: RowMaskerOptions): (PgMaskAction | undefined)[] {
  const { fields, lineage, outputColumns, masking } = opts;
  const slots = outputColumns === undefined ? undefined : alignOutputs(outputColumns, fields.length);
  return fields.map((f, i) => {
    let choice: RuleChoice | undefined;
    if (f.tableOid !== 0) {
      const lin = lineage.get(lineageKey(f.tableOid, attnumOf(f)));
      if (lin !== undefined) choice = masking.columnRule(lin.table, lin.column);
    }
    const slot = slots?.[i];
    if (slot?.kind === 'exact' && slot.lineage !== undefined) {
      choice = strictestChoice(choice, ruleForRefs(slot.lineage.refs, slot.lineage.direct && f.tableOid !== 0, masking));
    } else if (slot?.kind === 'merged' && f.tableOid === 0) {
      choice = strictestChoice(choice, ruleForRefs(slot.refs, false, masking));
    }
    if (choice !== undefined) return { kind: 'rule', strategy: choice.strategy, keep: choice.keep };
    return detectApplies(pgTypeClass(f.typeOid), masking) ? { kind: 'detect' } : undefined;
  });
}

/** How a column's values are read: its type, type modifier and format code. */
interface ColumnType {
  typeOid: number;
  typeMod: number;
  binary: boolean;
}

/**
 * What happens to the rows of one RowDescription, given its lineage and
 * statement: planned once, immutable, and reusable for every result with the
 * same layout, lineage and statement lineage (row-masker-plan-cache.ts keeps it).
 */
export interface RowMaskPlan {
  /** As planRowMasking: per output column, the rule or detection that applies. */
  readonly actions: readonly (PgMaskAction | undefined)[];
  /**
   * Per column, what the masker runs: `actions`, except detection on a
   * text-format column whose type cannot print anything a detector matches
   * (an int4 holds no card number: detectCanChangeText), which would never
   * change a value.
   */
  readonly run: readonly (PgMaskAction | undefined)[];
  readonly types: readonly ColumnType[];
  /**
   * Per column, for detection on text-format values that the detectors read
   * as they are (text and opaque types; numbers with the detectors that can
   * match a number): SCREEN_ALL or SCREEN_NUMBER, and the value's bytes are
   * screened (CompiledMasking.mayDetect) before it is decoded. JSON is not
   * screened: an escape (\u0040) stands for a character its bytes lack.
   */
  readonly screen: Uint8Array;
  readonly masking: CompiledMasking;
  /** For naming what was masked (maskedColumns). */
  readonly opts: RowMaskerOptions;
}

/** A plan for `opts`, or null when no value can need masking (fast path). */
export function planRowMasker(opts: RowMaskerOptions): RowMaskPlan | null {
  const { masking } = opts;
  if (masking.isEmpty) return null;
  const actions = planRowMasking(opts);
  const run = actions.map((a, i) => {
    const f = opts.fields[i];
    if (a?.kind !== 'detect' || f === undefined || f.format === 1) return a;
    return detectCanChangeText(f.typeOid, masking) ? a : undefined;
  });
  if (run.every((a) => a === undefined)) return null;
  const types = opts.fields.map((f) => ({ typeOid: f.typeOid, typeMod: typeModOf(f), binary: f.format === 1 }));
  const screen = new Uint8Array(run.length);
  run.forEach((a, i) => {
    const t = types[i];
    if (a?.kind === 'detect' && t !== undefined && !t.binary) screen[i] = screenFor(pgTypeClass(t.typeOid));
  });
  return { actions, run, types, screen, masking, opts };
}

const SCREEN_NONE = 0;
const SCREEN_ALL = 1;
const SCREEN_NUMBER = 2;

/** How detection on a text-format value of this class may be screened (see RowMaskPlan.screen). */
function screenFor(cls: ReturnType<typeof pgTypeClass>): number {
  switch (cls) {
    case 'text':
    case 'opaque':
      return SCREEN_ALL; // maskField over the text as it is
    case 'int':
    case 'float':
    case 'numeric':
      return SCREEN_NUMBER; // numberDetectorHit over the text as it is
    default:
      return SCREEN_NONE;
  }
}

/** A DataRow masker for one result, from a plan (cheap: the plan holds everything but the counts). */
export function rowMaskerFor(plan: RowMaskPlan): RowMasker {
  return new PlannedRowMasker(plan);
}

/** A DataRow masker for one RowDescription, or null when no value can need masking (fast path). */
export function createRowMasker(opts: RowMaskerOptions): RowMasker | null {
  const plan = planRowMasker(opts);
  return plan === null ? null : rowMaskerFor(plan);
}

/** Detector hits sampled per column (the detector that fired is looked up again only for these few values). */
const DETECTOR_SAMPLES = 4;

/**
 * One result's masker: a counter per column (allocated on the first masked
 * value, none per row), and for detected content the detector of the first
 * few masked values.
 */
class PlannedRowMasker implements RowMasker {
  counts: Uint32Array | undefined;
  private sampled: Uint8Array | undefined;
  private detectors: Set<string>[] | undefined;

  constructor(readonly plan: RowMaskPlan) {}

  get actions(): readonly (PgMaskAction | undefined)[] {
    return this.plan.actions;
  }

  maskDataRow(msg: Buffer): MaskResult {
    return maskDataRow(msg, this.plan, this);
  }

  /** A value of column `c` was masked; `text` is its original text when at hand. */
  hit(c: number, text: string | undefined): void {
    const counts = (this.counts ??= new Uint32Array(this.plan.types.length));
    counts[c] = (counts[c] ?? 0) + 1;
    if (this.plan.run[c]?.kind !== 'detect' || text === undefined) return;
    const sampled = (this.sampled ??= new Uint8Array(this.plan.types.length));
    if ((sampled[c] ?? DETECTOR_SAMPLES) >= DETECTOR_SAMPLES) return;
    sampled[c] = (sampled[c] ?? 0) + 1;
    const d = this.plan.masking.detectorHit(text);
    if (d === undefined) return;
    this.detectors ??= [];
    (this.detectors[c] ??= new Set()).add(`detector:${d.type}`);
  }

  maskedColumns(): string[] {
    const counts = this.counts;
    if (counts === undefined) return [];
    const out = new Set<string>();
    for (let c = 0; c < counts.length; c++) {
      if (counts[c] === 0) continue;
      if (this.plan.actions[c]?.kind === 'rule') {
        for (const n of ruleNamesOf(this.plan, c)) out.add(n);
        continue;
      }
      const found = this.detectors?.[c];
      if (found !== undefined && found.size > 0) for (const n of found) out.add(n);
      else out.add(ownName(this.plan, c)); // JSON field paths, or binary values not sampled
    }
    return [...out];
  }
}

/** A column by its catalog lineage ("public.customers.ssn"), else by position. */
function ownName(plan: RowMaskPlan, c: number): string {
  const field = plan.opts.fields[c];
  const plain = field !== undefined && field.tableOid !== 0 ? plan.opts.lineage.get(lineageKey(field.tableOid, attnumOf(field))) : undefined;
  return plain !== undefined ? `${plain.table}.${plain.column}` : `output column ${c + 1}`;
}

/** Names of a rule column, by plan (they depend on nothing else): worked out once, on the first masked value. */
const ruleNames = new WeakMap<RowMaskPlan, (readonly string[] | undefined)[]>();

function ruleNamesOf(plan: RowMaskPlan, c: number): readonly string[] {
  let byColumn = ruleNames.get(plan);
  if (byColumn === undefined) ruleNames.set(plan, (byColumn = []));
  return (byColumn[c] ??= namesOfRuleColumn(plan, c));
}

function namesOfRuleColumn(plan: RowMaskPlan, c: number): string[] {
  const { opts, masking } = plan;
  const field = opts.fields[c];
  const plain = field !== undefined && field.tableOid !== 0 ? opts.lineage.get(lineageKey(field.tableOid, attnumOf(field))) : undefined;
  if (plain !== undefined && masking.columnRule(plain.table, plain.column) !== undefined) return [`${plain.table}.${plain.column}`];
  // Computed (or unresolved): name the masked columns its expression reads.
  const slot = opts.outputColumns === undefined ? undefined : alignOutputs(opts.outputColumns, opts.fields.length)[c];
  const refs = slot === undefined ? [] : slot.kind === 'exact' ? (slot.lineage?.refs ?? []) : slot.refs;
  const out = new Set<string>();
  for (const ref of refs) {
    for (const rule of masking.columnRules(ref.table, ref.column)) out.add(`${rule.schema !== undefined ? `${rule.schema}.` : ''}${rule.table}.${rule.column}`);
  }
  return out.size > 0 ? [...out] : [ownName(plan, c)];
}

// The changes of the row being rebuilt: maskDataRow runs to completion
// synchronously and never re-enters, so one set of arrays serves every row.
const changeLenAt: number[] = [];
const changeEnd: number[] = [];
/** The new value: text (written as UTF-8), bytes, or null for SQL NULL. */
const changeValue: (string | Buffer | null)[] = [];

function maskDataRow(msg: Buffer, plan: RowMaskPlan, hits?: PlannedRowMasker): MaskResult {
  try {
    return maskValues(msg, plan, hits);
  } finally {
    changeValue.fill(null); // hold no masked value past this row, even when it was malformed
  }
}

function maskValues(msg: Buffer, plan: RowMaskPlan, hits: PlannedRowMasker | undefined): MaskResult {
  const { run, types, screen, masking } = plan;
  if (msg.length < 7 || msg[0] !== 0x44) throw new MaskFrameError('not a DataRow message');
  if (msg.readInt32BE(1) + 1 !== msg.length) throw new MaskFrameError('DataRow length does not match its buffer');
  const count = msg.readInt16BE(5);
  if (count !== types.length) throw new MaskFrameError(`DataRow has ${count} values, RowDescription ${types.length}`);
  let changes = 0;
  let pos = 7;
  for (let c = 0; c < count; c++) {
    if (pos + 4 > msg.length) throw new MaskFrameError('DataRow truncated');
    const len = msg.readInt32BE(pos);
    pos += 4;
    if (len === -1) continue;
    if (len < 0 || pos + len > msg.length) throw new MaskFrameError('DataRow value length out of range');
    const action = run[c];
    const type = types[c];
    const screened = screen[c] ?? SCREEN_NONE;
    // Screened out: no detector can find anything in these bytes, so the value stays as it is.
    if (action !== undefined && type !== undefined && (screened === SCREEN_NONE || masking.mayDetect(msg, pos, pos + len, screened === SCREEN_NUMBER))) {
      let out: string | Buffer | null | undefined;
      let original: string | undefined;
      if (type.binary) {
        out = maskPgBinary(msg.subarray(pos, pos + len), type, action, masking);
      } else {
        original = msg.toString('utf8', pos, pos + len);
        out = maskPgText(original, type, action, masking);
      }
      if (out !== undefined) {
        changeLenAt[changes] = pos - 4;
        changeEnd[changes] = pos + len;
        changeValue[changes] = out;
        changes++;
        hits?.hit(c, original);
      }
    }
    pos += len;
  }
  if (pos !== msg.length) throw new MaskFrameError('DataRow has trailing bytes');
  if (changes === 0) return { buf: msg, masked: 0 };
  return { buf: splice(msg, changes), masked: changes };
}

/** Strings up to this long are checked for ASCII and copied by hand (cheaper than the native UTF-8 calls). */
const SHORT_TEXT = 64;
/** Per change: the new value's UTF-8 length, -1 for NULL. */
const changeBytes: number[] = [];
/** Per change: the new value is a short ASCII string. */
const changeAscii: boolean[] = [];

function isShortAscii(s: string): boolean {
  if (s.length > SHORT_TEXT) return false;
  for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) > 0x7f) return false;
  return true;
}

/** Rebuild a frame replacing each change's value (its int32 length prefix rewritten, -1 for NULL). */
function splice(msg: Buffer, changes: number): Buffer {
  let size = msg.length;
  for (let i = 0; i < changes; i++) {
    const value = changeValue[i] ?? null;
    const ascii = typeof value === 'string' && isShortAscii(value);
    const n = value === null ? -1 : ascii || typeof value !== 'string' ? value.length : Buffer.byteLength(value, 'utf8');
    changeBytes[i] = n;
    changeAscii[i] = ascii;
    size += Math.max(n, 0) - ((changeEnd[i] ?? 0) - (changeLenAt[i] ?? 0) - 4);
  }
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let to = 0;
  for (let i = 0; i < changes; i++) {
    const value = changeValue[i] ?? null;
    const n = changeBytes[i] ?? -1;
    const lenAt = changeLenAt[i] ?? 0;
    if (lenAt > from) to += msg.copy(out, to, from, lenAt);
    out.writeInt32BE(n, to);
    to += 4;
    if (typeof value === 'string') {
      if (changeAscii[i] === true) for (let k = 0; k < n; k++) out[to + k] = value.charCodeAt(k);
      else out.write(value, to, n, 'utf8');
    } else if (value !== null) {
      value.copy(out, to);
    }
    to += Math.max(n, 0);
    from = changeEnd[i] ?? 0;
  }
  if (from < msg.length) msg.copy(out, to, from);
  out.writeInt32BE(size - 1, 1);
  return out;
}

// ---------------------------------------------------------------- COPY TO STDOUT frames

export interface CopyMaskerOptions {
  /** Per position (the COPY's column order); see planCopyColumns. */
  columns: readonly (CopyColumn | undefined)[];
  masking: CompiledMasking;
  /** CopyOutResponse's overall format: 0 text/csv, 1 binary. */
  overallFormat: number;
  /** The COPY's options (FORMAT text|csv, DELIMITER, NULL, QUOTE, ESCAPE). */
  format?: Partial<CopyFormat>;
  /** CopyOutResponse's column count. */
  count?: number;
  /** CSV HEADER: the first line holds column names and is passed through. */
  header?: boolean;
}

export interface CopyMasker {
  readonly plan: CopyPlan;
  /** Mask one whole CopyData message ('d', int32 length, one row). */
  maskCopyData(frame: Buffer): MaskResult;
}

/**
 * A CopyData masker for one COPY TO STDOUT, or null when nothing can need
 * masking. Throws MaskUnsupportedError for binary COPY when masking applies:
 * refuse the statement.
 */
export function createCopyMasker(opts: CopyMaskerOptions): CopyMasker | null {
  const plan = planCopyColumns(opts.columns, opts.masking, opts.count);
  if (plan === null) return null;
  if (opts.overallFormat !== 0) throw new MaskUnsupportedError('binary COPY TO');
  const { masking } = opts;
  const format = opts.format ?? {};
  let skipHeader = opts.header === true;
  return {
    plan,
    maskCopyData(frame) {
      if (frame.length < 5 || frame[0] !== 0x64) throw new MaskFrameError('not a CopyData message');
      if (frame.readInt32BE(1) + 1 !== frame.length) throw new MaskFrameError('CopyData length does not match its buffer');
      if (skipHeader) {
        skipHeader = false;
        return { buf: frame, masked: 0 };
      }
      const line = frame.subarray(5);
      const r = maskCopyTextLine(line, plan, masking, format);
      if (r.buf === line) return { buf: frame, masked: 0 };
      const out = Buffer.allocUnsafe(5 + r.buf.length);
      out[0] = 0x64;
      out.writeInt32BE(4 + r.buf.length, 1);
      r.buf.copy(out, 5);
      return { buf: out, masked: r.masked };
    },
  };
}

// ---------------------------------------------------------------- ErrorResponse / NoticeResponse frames

/** Parse, mask (maskErrorFields) and rebuild a whole 'E' or 'N' message; the same Buffer when nothing changed. */
export function maskErrorFrame(msg: Buffer, masking: CompiledMasking, opts: ErrorMaskOptions = {}): MaskResult {
  if (msg.length < 6 || (msg[0] !== 0x45 && msg[0] !== 0x4e)) throw new MaskFrameError('not an ErrorResponse/NoticeResponse');
  if (msg.readInt32BE(1) + 1 !== msg.length) throw new MaskFrameError('message length does not match its buffer');
  const fields: ErrorField[] = [];
  let pos = 5;
  while (pos < msg.length && msg[pos] !== 0) {
    const code = String.fromCharCode(msg[pos] ?? 0);
    const zero = msg.indexOf(0, pos + 1);
    if (zero < 0) throw new MaskFrameError('unterminated error field');
    fields.push({ code, value: msg.toString('utf8', pos + 1, zero) });
    pos = zero + 1;
  }
  if (pos !== msg.length - 1) throw new MaskFrameError('error fields not terminated');
  const r = maskErrorFields(fields, masking, opts);
  if (r.masked === 0) return { buf: msg, masked: 0 };
  const body = Buffer.concat(
    r.fields.map((f) => Buffer.concat([Buffer.from(f.code, 'latin1'), Buffer.from(f.value, 'utf8'), Buffer.of(0)])),
  );
  const out = Buffer.allocUnsafe(5 + body.length + 1);
  out[0] = msg[0] ?? 0x45;
  out.writeInt32BE(4 + body.length + 1, 1);
  body.copy(out, 5);
  out[out.length - 1] = 0;
  return { buf: out, masked: r.masked };
}
