// Masking of ErrorResponse / NoticeResponse fields: they echo values (a
// unique violation's DETAIL carries the key, a failed cast quotes its input).
import type { ColumnRef } from './lineage-rules.js';
import type { CompiledMasking } from './masker.js';

export interface ErrorField {
  /** One-byte field type: 'S', 'C', 'M', 'D', … */
  code: string;
  value: string;
}

/** Field types that never carry data values (severity, SQLSTATE, positions, source location). */
const STRUCTURAL_FIELDS = new Set(['S', 'V', 'C', 'P', 'p', 'F', 'L', 'R']);
export const MASKED_DETAIL = '[REDACTED: the statement references a masked column]';

export interface ErrorMaskOptions {
  /** The statement read or wrote a masked column (see touchesMaskedColumn). */
  touchedMaskedColumn?: boolean;
}

/** True when any reference names a column that has a masking rule. */
export function touchesMaskedColumn(refs: Iterable<ColumnRef>, masking: CompiledMasking): boolean {
  if (!masking.hasColumnRules) return false;
  for (const ref of refs) if (masking.columnRule(ref.table, ref.column) !== undefined) return true;
  return false;
}

/** Replace the contents of every "double-quoted" segment: values echoed by the server. */
function redactQuoted(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const open = text.indexOf('"', at);
    if (open < 0) break;
    const close = text.indexOf('"', open + 1);
    if (close < 0) break;
    out += `${text.slice(at, open + 1)}[REDACTED]"`;
    at = close + 1;
  }
  return out + text.slice(at);
}

/**
 * Values a message prints without quotes: byte dumps ('invalid byte sequence
 * for encoding "UTF8": 0xf0 0x39 0x38 0x37') and numbers ('index 57 out of
 * valid range', 'date field value out of range: 2020-57-01'), which an
 * expression over a masked column can make out of its characters.
 */
const UNQUOTED_VALUES = /0x[0-9a-f]+|[0-9]+/gi;

/**
 * Mask ErrorResponse / NoticeResponse fields. Every field except the
 * structural ones (S V C P p F L R) goes through the detectors. Detectors
 * cannot recognise every masked column's values (a salary, a diagnosis), so
 * when the statement touched a masked column: DETAIL (D), internal query (q)
 * and CONTEXT (W) are replaced whole (a unique violation's DETAIL echoes the
 * key value, a check violation's echoes the row, a JSON parse error's CONTEXT
 * the text up to the error, unquoted), and in message (M) and hint (H) every
 * double-quoted segment ('invalid input syntax for type integer:
 * "123-45-6789"'), identifiers included, every byte dump and every number is
 * redacted. Returns a new array.
 */
export function maskErrorFields(
  fields: readonly ErrorField[],
  masking: CompiledMasking,
  opts: ErrorMaskOptions = {},
): { fields: ErrorField[]; masked: number } {
  let masked = 0;
  const out = fields.map((f) => {
    if (STRUCTURAL_FIELDS.has(f.code)) return f;
    let value = f.value;
    if (opts.touchedMaskedColumn === true) {
      if (f.code === 'D' || f.code === 'q' || f.code === 'W') value = value.length > 0 ? MASKED_DETAIL : value;
      else if (f.code === 'M' || f.code === 'H') value = redactQuoted(value).replace(UNQUOTED_VALUES, '[REDACTED]');
    }
    value = masking.maskText(value).text;
    if (value === f.value) return f;
    masked++;
    return { code: f.code, value };
  });
  return { fields: out, masked };
}

