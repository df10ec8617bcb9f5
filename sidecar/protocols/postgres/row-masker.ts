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
import { detectApplies, maskPgBinary, maskPgText, pgTypeClass, type PgMaskAction } from '../../../core/masking/pg-value-masker.js';

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

/** A DataRow masker for one RowDescription, or null when no value can need masking (fast path). */
export function createRowMasker(opts: RowMaskerOptions): RowMasker | null {
  if (opts.masking.isEmpty) return null;
  const actions = planRowMasking(opts);
  if (actions.every((a) => a === undefined)) return null;
  const types = opts.fields.map((f) => ({ typeOid: f.typeOid, typeMod: typeModOf(f), binary: f.format === 1 }));
  const { masking } = opts;
  const hits = new MaskHits(actions.length, masking);
  return {
    actions,
    maskDataRow: (msg) => maskDataRow(msg, types, actions, masking, hits),
    maskedColumns: () => hits.names(opts, actions),
  };
}

/** Detector hits sampled per column (the detector that fired is looked up again only for these few values). */
const DETECTOR_SAMPLES = 4;

/**
 * Which columns a row masker changed: a counter per column (no allocation per
 * row), and for detected content the detector of the first few masked values.
 */
class MaskHits {
  readonly counts: Uint32Array;
  private readonly sampled: Uint8Array;
  private detectors: Set<string>[] | undefined;

  constructor(
    columns: number,
    private readonly masking: CompiledMasking,
  ) {
    this.counts = new Uint32Array(columns);
    this.sampled = new Uint8Array(columns);
  }

  /** A detect-action value of column `c` was masked; `text` is its original text when at hand. */
  detected(c: number, text: string | undefined): void {
    if (text === undefined || (this.sampled[c] ?? DETECTOR_SAMPLES) >= DETECTOR_SAMPLES) return;
    this.sampled[c] = (this.sampled[c] ?? 0) + 1;
    const d = this.masking.detectorHit(text);
    if (d === undefined) return;
    this.detectors ??= [];
    (this.detectors[c] ??= new Set()).add(`detector:${d.type}`);
  }

  names(opts: RowMaskerOptions, actions: readonly (PgMaskAction | undefined)[]): string[] {
    const out = new Set<string>();
    let slots: ReturnType<typeof alignOutputs> | undefined;
    for (let c = 0; c < this.counts.length; c++) {
      if (this.counts[c] === 0) continue;
      const field = opts.fields[c];
      if (field === undefined) continue;
      const plain = field.tableOid !== 0 ? opts.lineage.get(lineageKey(field.tableOid, attnumOf(field))) : undefined;
      const own = plain !== undefined ? `${plain.table}.${plain.column}` : `output column ${c + 1}`;
      if (actions[c]?.kind === 'rule') {
        if (plain !== undefined && this.masking.columnRule(plain.table, plain.column) !== undefined) {
          out.add(own);
          continue;
        }
        // Computed (or unresolved): name the masked columns its expression reads.
        slots ??= opts.outputColumns === undefined ? [] : alignOutputs(opts.outputColumns, opts.fields.length);
        const slot = slots[c];
        const refs = slot === undefined ? [] : slot.kind === 'exact' ? (slot.lineage?.refs ?? []) : slot.refs;
        let named = false;
        for (const ref of refs) {
          for (const rule of this.masking.columnRules(ref.table, ref.column)) {
            out.add(`${rule.schema !== undefined ? `${rule.schema}.` : ''}${rule.table}.${rule.column}`);
            named = true;
          }
        }
        if (!named) out.add(own);
        continue;
      }
      const found = this.detectors?.[c];
      if (found !== undefined && found.size > 0) for (const n of found) out.add(n);
      else out.add(own); // JSON field paths, or binary values not sampled
    }
    return [...out];
  }
}

interface Change {
  lenAt: number;
  end: number;
  value: Buffer | null;
}

function maskDataRow(
  msg: Buffer,
  types: readonly { typeOid: number; typeMod: number; binary: boolean }[],
  actions: readonly (PgMaskAction | undefined)[],
  masking: CompiledMasking,
  hits?: MaskHits,
): MaskResult {
  if (msg.length < 7 || msg[0] !== 0x44) throw new MaskFrameError('not a DataRow message');
  if (msg.readInt32BE(1) + 1 !== msg.length) throw new MaskFrameError('DataRow length does not match its buffer');
  const count = msg.readInt16BE(5);
  if (count !== types.length) throw new MaskFrameError(`DataRow has ${count} values, RowDescription ${types.length}`);
  let changes: Change[] | undefined;
  let pos = 7;
  for (let c = 0; c < count; c++) {
    if (pos + 4 > msg.length) throw new MaskFrameError('DataRow truncated');
    const len = msg.readInt32BE(pos);
    pos += 4;
    if (len === -1) continue;
    if (len < 0 || pos + len > msg.length) throw new MaskFrameError('DataRow value length out of range');
    const action = actions[c];
    const type = types[c];
    if (action !== undefined && type !== undefined) {
      let out: Buffer | null | undefined;
      let original: string | undefined;
      if (type.binary) {
        out = maskPgBinary(msg.subarray(pos, pos + len), type, action, masking);
      } else {
        original = msg.toString('utf8', pos, pos + len);
        const text = maskPgText(original, type, action, masking);
        out = text === undefined || text === null ? text : Buffer.from(text, 'utf8');
      }
      if (out !== undefined) {
        (changes ??= []).push({ lenAt: pos - 4, end: pos + len, value: out });
        if (hits !== undefined) {
          hits.counts[c] = (hits.counts[c] ?? 0) + 1;
          if (action.kind === 'detect') hits.detected(c, original);
        }
      }
    }
    pos += len;
  }
  if (pos !== msg.length) throw new MaskFrameError('DataRow has trailing bytes');
  if (changes === undefined) return { buf: msg, masked: 0 };
  return { buf: splice(msg, changes), masked: changes.length };
}

/** Rebuild a frame replacing each change's value (its int32 length prefix rewritten, -1 for NULL). */
function splice(msg: Buffer, changes: readonly Change[]): Buffer {
  let size = msg.length;
  for (const ch of changes) size += (ch.value?.length ?? 0) - (ch.end - ch.lenAt - 4);
  const out = Buffer.allocUnsafe(size);
  let from = 0;
  let to = 0;
  for (const ch of changes) {
    to += msg.copy(out, to, from, ch.lenAt);
    out.writeInt32BE(ch.value === null ? -1 : ch.value.length, to);
    to += 4;
    if (ch.value !== null) to += ch.value.copy(out, to);
    from = ch.end;
  }
  msg.copy(out, to, from);
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
