// Masking of COPY TO STDOUT data lines (one CopyData payload = one row) in
// text and CSV formats. Fields are located on the raw bytes (delimiters,
// quotes and backslashes are ASCII, so UTF-8 text cannot fake them); only a
// field that is masked is decoded and re-encoded, everything else is copied
// byte for byte. Binary COPY is not handled: refuse it when masking applies.
import { MaskFrameError } from './errors.js';
import { alignOutputs, ruleForRefs, strictestChoice, type OutputColumnLineage, type RuleChoice } from './lineage-rules.js';
import type { CompiledMasking } from './masker.js';
import { PG_OID, detectApplies, maskPgText, pgTypeClass, type PgMaskAction } from './pg-value-masker.js';

export interface MaskResult {
  buf: Buffer;
  /** Number of values changed. */
  masked: number;
}

/** What is known about one COPY column (position = column order of the COPY). */
export interface CopyColumn {
  /** "schema.table" or "table". */
  table?: string;
  column?: string;
  /** Column type when known (keeps masked values loadable by COPY FROM); default text. */
  typeOid?: number;
  typeMod?: number;
  /** Statement-level lineage (COPY (SELECT …) TO); `star` when the column list is not known. */
  lineage?: OutputColumnLineage;
}

export interface CopyColumnPlan {
  action: PgMaskAction;
  typeOid: number;
  typeMod: number;
}

export interface CopyPlan {
  /** By position; undefined: passed through. */
  columns: (CopyColumnPlan | undefined)[];
  /** For positions beyond `columns` (when the column count was not known). */
  rest: CopyColumnPlan | undefined;
}

export interface CopyFormat {
  format: 'text' | 'csv';
  /** Single ASCII character; default tab (text) or comma (csv). */
  delimiter: string;
  /** Default '\N' (text) or '' (csv). */
  null: string;
  /** csv only; default '"'. */
  quote: string;
  /** csv only; default the quote character. */
  escape: string;
}

export function copyFormat(f: Partial<CopyFormat> = {}): CopyFormat {
  const format = f.format ?? 'text';
  const quote = f.quote ?? '"';
  const out: CopyFormat = {
    format,
    delimiter: f.delimiter ?? (format === 'csv' ? ',' : '\t'),
    null: f.null ?? (format === 'csv' ? '' : '\\N'),
    quote,
    escape: f.escape ?? quote,
  };
  for (const k of ['delimiter', 'quote', 'escape'] as const) {
    if (out[k].length !== 1 || out[k].charCodeAt(0) > 127) throw new MaskFrameError(`COPY ${k} must be one ASCII character`);
  }
  return out;
}

function planFor(choice: RuleChoice | undefined, typeOid: number, typeMod: number, masking: CompiledMasking): CopyColumnPlan | undefined {
  if (choice !== undefined) return { action: { kind: 'rule', strategy: choice.strategy, keep: choice.keep }, typeOid, typeMod };
  return detectApplies(pgTypeClass(typeOid), masking) ? { action: { kind: 'detect' }, typeOid, typeMod } : undefined;
}

/**
 * Plan per-position actions for a COPY TO. `count` is the column count from
 * CopyOutResponse when known. A column with table+column gets that column's
 * rule; statement lineage adds the rules of what it reads; a `star` entry
 * (column list unknown) gives its positions the strictest rule of the tables
 * it covers — pass the table's columns in attnum order to mask precisely.
 * Returns null when nothing can need masking.
 */
export function planCopyColumns(columns: readonly (CopyColumn | undefined)[], masking: CompiledMasking, count?: number): CopyPlan | null {
  if (masking.isEmpty) return null;
  const outputs = columns.map((c): OutputColumnLineage | undefined => {
    if (c?.lineage !== undefined) return c.lineage;
    if (c?.column !== undefined) return { refs: [c.table === undefined ? { column: c.column } : { table: c.table, column: c.column }], direct: true };
    return undefined;
  });
  const hasStar = outputs.some((o) => o?.star === true);
  const slots = alignOutputs(outputs, count ?? (hasStar ? 0 : columns.length));
  const plans = slots.map((slot) => {
    if (slot.kind === 'merged') return planFor(ruleForRefs(slot.refs, false, masking), PG_OID.text, -1, masking);
    const col = columns[slot.index];
    let choice: RuleChoice | undefined = col?.column !== undefined ? masking.columnRule(col.table, col.column) : undefined;
    if (slot.lineage !== undefined) choice = strictestChoice(choice, ruleForRefs(slot.lineage.refs, slot.lineage.direct, masking));
    return planFor(choice, col?.typeOid ?? PG_OID.text, col?.typeMod ?? -1, masking);
  });
  const restRule = hasStar || (count !== undefined && count !== columns.length) ? ruleForRefs(outputs.flatMap((o) => o?.refs ?? []), false, masking) : undefined;
  const rest = planFor(restRule, PG_OID.text, -1, masking);
  if (plans.every((p) => p === undefined) && rest === undefined) return null;
  return { columns: plans, rest };
}

const BACKSLASH = 0x5c;

/** Decode one text-format COPY field (backslash escapes) to its bytes. */
function unescapeCopyText(raw: Buffer): Buffer {
  if (raw.indexOf(BACKSLASH) < 0) return raw;
  const out = Buffer.allocUnsafe(raw.length);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] ?? 0;
    if (b !== BACKSLASH || i + 1 >= raw.length) {
      out[o++] = b;
      continue;
    }
    const e = raw[++i] ?? 0;
    const simple: Record<number, number> = { 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
    const mapped = simple[e];
    if (mapped !== undefined) {
      out[o++] = mapped;
    } else if (e >= 0x30 && e <= 0x37) {
      let v = e - 0x30;
      for (let k = 0; k < 2 && (raw[i + 1] ?? 0) >= 0x30 && (raw[i + 1] ?? 0) <= 0x37; k++) v = v * 8 + ((raw[++i] ?? 0) - 0x30);
      out[o++] = v & 0xff;
    } else if (e === 0x78 && isHexByte(raw[i + 1])) {
      let v = hexVal(raw[++i] ?? 0);
      if (isHexByte(raw[i + 1])) v = v * 16 + hexVal(raw[++i] ?? 0);
      out[o++] = v;
    } else {
      out[o++] = e;
    }
  }
  return out.subarray(0, o);
}

function isHexByte(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}

function hexVal(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10;
}

/** Escape a value for text-format COPY (as PostgreSQL's CopyAttributeOutText does). */
function escapeCopyText(value: string, delimiter: string): string {
  let out = '';
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\v':
        out += '\\v';
        break;
      default:
        out += ch === delimiter ? `\\${ch}` : ch;
    }
  }
  return out;
}

function quoteCsv(value: string, fmt: CopyFormat): string {
  const needs =
    value === fmt.null ||
    value.includes(fmt.delimiter) ||
    value.includes(fmt.quote) ||
    value.includes(fmt.escape) ||
    value.includes('\n') ||
    value.includes('\r');
  if (!needs) return value;
  let out = fmt.quote;
  for (const ch of value) out += ch === fmt.quote || ch === fmt.escape ? fmt.escape + ch : ch;
  return out + fmt.quote;
}

interface CopyField {
  start: number;
  end: number;
  /** Decoded value; null for NULL. */
  value: () => string | null;
}

function splitCopyText(line: Buffer, end: number, fmt: CopyFormat): CopyField[] {
  const delim = fmt.delimiter.charCodeAt(0);
  const nullBytes = Buffer.from(fmt.null, 'utf8');
  const fields: CopyField[] = [];
  let start = 0;
  for (let i = 0; i <= end; i++) {
    const b = i < end ? line[i] : delim;
    if (b === BACKSLASH) {
      i++;
      continue;
    }
    if (b !== delim) continue;
    const s = start;
    const e = i;
    fields.push({
      start: s,
      end: e,
      value: () => {
        const raw = line.subarray(s, e);
        return raw.equals(nullBytes) ? null : unescapeCopyText(raw).toString('utf8');
      },
    });
    start = i + 1;
  }
  // A lone backslash before the end swallowed the last delimiter: malformed, never pass it through.
  if (start !== end + 1) throw new MaskFrameError('text COPY line ends inside an escape');
  return fields;
}

function splitCopyCsv(line: Buffer, end: number, fmt: CopyFormat): CopyField[] {
  const delim = fmt.delimiter.charCodeAt(0);
  const quote = fmt.quote.charCodeAt(0);
  const escape = fmt.escape.charCodeAt(0);
  const fields: CopyField[] = [];
  let i = 0;
  for (;;) {
    const s = i;
    if (line[i] === quote && i < end) {
      const parts: number[] = [];
      i++;
      for (;;) {
        if (i >= end) throw new MaskFrameError('unterminated quoted CSV field');
        const b = line[i] ?? 0;
        if (b === escape && (line[i + 1] === quote || line[i + 1] === escape) && i + 1 < end) {
          if (escape !== quote || line[i + 1] === quote) {
            parts.push(line[i + 1] ?? 0);
            i += 2;
            continue;
          }
        }
        if (b === quote) {
          i++;
          break;
        }
        parts.push(b);
        i++;
      }
      if (i < end && line[i] !== delim) throw new MaskFrameError('CSV quote not followed by a delimiter');
      const bytes = Buffer.from(parts);
      fields.push({ start: s, end: i, value: () => bytes.toString('utf8') });
    } else {
      while (i < end && line[i] !== delim) i++;
      const e = i;
      fields.push({
        start: s,
        end: e,
        value: () => {
          const v = line.toString('utf8', s, e);
          return v === fmt.null ? null : v;
        },
      });
    }
    if (i >= end) break;
    i++; // delimiter
    if (i === end) {
      fields.push({ start: i, end: i, value: () => (fmt.null === '' ? null : '') });
      break;
    }
  }
  return fields;
}

/**
 * Mask one COPY TO STDOUT data line (one CopyData payload: one row, with its
 * trailing newline). Returns the same Buffer when nothing changed. Binary
 * COPY is not handled here: refuse it (fail closed) when masking applies.
 */
export function maskCopyTextLine(
  line: Buffer,
  plan: CopyPlan,
  masking: CompiledMasking,
  format: Partial<CopyFormat> = {},
): MaskResult {
  const fmt = copyFormat(format);
  let end = line.length;
  if (line[end - 1] === 0x0a) end--;
  if (fmt.format === 'csv' && line[end - 1] === 0x0d) end--;
  const fields = fmt.format === 'csv' ? splitCopyCsv(line, end, fmt) : splitCopyText(line, end, fmt);
  const reps: { start: number; end: number; text: string }[] = [];
  fields.forEach((f, idx) => {
    const p = idx < plan.columns.length ? plan.columns[idx] : plan.rest;
    if (p === undefined) return;
    const value = f.value();
    if (value === null) return;
    const out = maskPgText(value, { typeOid: p.typeOid, typeMod: p.typeMod }, p.action, masking);
    if (out === undefined) return;
    let encoded: string;
    if (out === null) encoded = fmt.null;
    else encoded = fmt.format === 'csv' ? quoteCsv(out, fmt) : escapeCopyText(out, fmt.delimiter);
    reps.push({ start: f.start, end: f.end, text: encoded });
  });
  if (reps.length === 0) return { buf: line, masked: 0 };
  const parts: Buffer[] = [];
  let at = 0;
  for (const r of reps) {
    parts.push(line.subarray(at, r.start), Buffer.from(r.text, 'utf8'));
    at = r.end;
  }
  parts.push(line.subarray(at));
  return { buf: Buffer.concat(parts), masked: reps.length };
}

