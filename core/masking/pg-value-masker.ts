// Masking one PostgreSQL column value so that it stays valid for its type and
// format code (text 0 / binary 1). What each type gets:
//   text-like (text, varchar, bpchar, name, unknown): masked string; bpchar(n)
//     is padded/truncated back to n characters. Binary format is the same
//     UTF-8 bytes, so it is masked the same way.
//   json / jsonb: JSON field paths + detectors on leaves (valid JSON out); a
//     column rule turns the whole document into a JSON string (or NULL).
//     jsonb binary is a version byte (1) + JSON text.
//   int2/int4/int8/oid, float4/float8, numeric: redact → 0, partial → digits
//     zeroed except the last N, hash → keyed digits that fit the type (numeric
//     respects its typmod precision/scale). Binary values are decoded to
//     their text form, masked the same way and re-encoded (same width for
//     ints/floats, base-10000 digits for numeric).
//   uuid: redact → nil uuid, partial → hex zeroed except the last N, hash →
//     a keyed version-8 uuid (binary: 16 bytes). Detectors do not run on uuids.
//   scalar types that cannot hold free text (bool, dates, times, intervals,
//     network and geometric types, …): a column rule → NULL; no detectors.
//   everything else (bytea, arrays, records, domains, extension types):
//     a column rule → NULL; text format: detectors replace in place (the
//     replacement markers use no quoting-sensitive characters); binary
//     format: detectors over the bytes read as UTF-8, any hit → NULL.
import type { CompiledMasking } from './masker.js';
import { TEXT_SHAPE, type MaskStrategy, type ValueShape } from './strategies.js';

export const PG_OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

export type PgTypeClass = 'text' | 'json' | 'jsonb' | 'int' | 'float' | 'numeric' | 'uuid' | 'scalar' | 'opaque';

const SCALAR_OIDS = new Set<number>([
  PG_OID.bool,
  PG_OID.char,
  PG_OID.date,
  PG_OID.time,
  PG_OID.timetz,
  PG_OID.timestamp,
  PG_OID.timestamptz,
  PG_OID.interval,
  790, // money
  869, // inet
  650, // cidr
  829, // macaddr
  774, // macaddr8
  600, // point
  601, // lseg
  602, // path
  603, // box
  604, // polygon
  628, // line
  718, // circle
  1560, // bit
  1562, // varbit
  3220, // pg_lsn
  5038, // pg_snapshot
  28, // xid
  5069, // xid8
  29, // cid
  27, // tid
  24, // regproc
  2205, // regclass
  2206, // regtype
]);

export function pgTypeClass(typeOid: number): PgTypeClass {
  switch (typeOid) {
    case PG_OID.text:
    case PG_OID.varchar:
    case PG_OID.bpchar:
    case PG_OID.name:
    case PG_OID.unknown:
      return 'text';
    case PG_OID.json:
      return 'json';
    case PG_OID.jsonb:
      return 'jsonb';
    case PG_OID.int2:
    case PG_OID.int4:
    case PG_OID.int8:
    case PG_OID.oid:
      return 'int';
    case PG_OID.float4:
    case PG_OID.float8:
      return 'float';
    case PG_OID.numeric:
      return 'numeric';
    case PG_OID.uuid:
      return 'uuid';
    default:
      return SCALAR_OIDS.has(typeOid) ? 'scalar' : 'opaque';
  }
}

/** What to do with a column's values: apply a column rule to the whole value, or run detectors/JSON paths. */
export type PgMaskAction = { kind: 'rule'; strategy: MaskStrategy; keep: number } | { kind: 'detect' };

/** Whether `detect` can ever change a value of this class (so the row masker can skip the column). */
export function detectApplies(cls: PgTypeClass, masking: CompiledMasking): boolean {
  if (cls === 'json' || cls === 'jsonb') return masking.hasDetectors || masking.hasJsonRules;
  if (cls === 'uuid' || cls === 'scalar') return false;
  return masking.hasDetectors;
}

/** Most digits the text form of each integer type can have (int4: -2147483648). */
const INT_DIGITS: Readonly<Record<number, number>> = {
  [PG_OID.int2]: 5,
  [PG_OID.int4]: 10,
  [PG_OID.oid]: 10,
  [PG_OID.int8]: 19,
};

/**
 * Whether a `detect` action can change a text-format value of this type. For
 * numbers (int, float, numeric) only detectors that can match a number's
 * text count, and only if the type prints enough digits for them: with the
 * built-in detectors an int4 never changes (a card number needs 13 digits),
 * an int8 or numeric may. Binary values are not covered: their decoding
 * also checks the width (see maskPgBinary).
 */
export function detectCanChangeText(typeOid: number, masking: CompiledMasking): boolean {
  const cls = pgTypeClass(typeOid);
  if (cls === 'int' || cls === 'float' || cls === 'numeric') return masking.detectsInNumbers(INT_DIGITS[typeOid] ?? Infinity);
  return detectApplies(cls, masking);
}

export interface PgValueType {
  typeOid: number;
  /** atttypmod; -1 when unknown. */
  typeMod: number;
}

const INT_MAX: Readonly<Record<number, bigint>> = {
  [PG_OID.int2]: 32767n,
  [PG_OID.int4]: 2147483647n,
  [PG_OID.int8]: 9223372036854775807n,
  [PG_OID.oid]: 4294967295n,
};

const INT_SHAPES: Readonly<Record<number, ValueShape>> = Object.fromEntries(
  Object.entries(INT_MAX).map(([oid, max]) => [oid, { kind: 'integer', max }]),
);
const SMALLINT_SHAPE: ValueShape = { kind: 'integer', max: 32767n };
const FLOAT4_SHAPE: ValueShape = { kind: 'decimal', maxDigits: 6 };
const FLOAT8_SHAPE: ValueShape = { kind: 'decimal', maxDigits: 15 };

function shapeFor(cls: PgTypeClass, type: PgValueType): ValueShape {
  switch (cls) {
    case 'int':
      return INT_SHAPES[type.typeOid] ?? SMALLINT_SHAPE;
    case 'float':
      return type.typeOid === PG_OID.float4 ? FLOAT4_SHAPE : FLOAT8_SHAPE;
    case 'numeric': {
      if (type.typeMod < 4) return { kind: 'decimal', maxDigits: 15 };
      const precision = ((type.typeMod - 4) >> 16) & 0xffff;
      const scale = (type.typeMod - 4) & 0x7ff; // 11-bit scale field (PostgreSQL 15)
      const signedScale = scale > 1000 ? scale - 0x800 : scale;
      return { kind: 'decimal', maxDigits: Math.min(15, precision - signedScale) };
    }
    case 'uuid':
      return { kind: 'uuid' };
    default:
      return TEXT_SHAPE;
  }
}

/** bpchar(n) values are exactly n characters: pad or cut a masked value back to n. */
function fitBpchar(value: string, type: PgValueType): string {
  if (type.typeOid !== PG_OID.bpchar || type.typeMod < 4) return value;
  const n = type.typeMod - 4;
  const chars = Array.from(value);
  if (chars.length === n) return value;
  return chars.length > n ? chars.slice(0, n).join('') : value + ' '.repeat(n - chars.length);
}

/**
 * Mask a text-format value. Returns undefined when unchanged, null for SQL
 * NULL, else the new text.
 */
export function maskPgText(
  text: string,
  type: PgValueType,
  action: PgMaskAction,
  masking: CompiledMasking,
): string | null | undefined {
  const cls = pgTypeClass(type.typeOid);
  let out: string | null;
  if (action.kind === 'rule') {
    switch (cls) {
      case 'text':
        out = masking.apply(text, action.strategy, action.keep);
        if (out !== null) out = fitBpchar(out, type);
        break;
      case 'json':
      case 'jsonb': {
        const s = masking.apply(text, action.strategy, action.keep);
        out = s === null ? null : JSON.stringify(s);
        break;
      }
      case 'int':
      case 'float':
      case 'numeric':
      case 'uuid':
        out = masking.apply(text, action.strategy, action.keep, shapeFor(cls, type));
        break;
      default:
        out = null;
    }
    return out === text ? undefined : out;
  }
  switch (cls) {
    case 'text':
    case 'opaque': {
      const r = masking.maskField(text);
      if (r.masked === 0) return undefined;
      return r.value === null ? null : cls === 'text' ? fitBpchar(r.value, type) : r.value;
    }
    case 'json':
    case 'jsonb': {
      const r = masking.maskJsonText(text);
      if (!r.valid) {
        // Not JSON (should not come from the server): mask it as text rather than pass it through.
        const f = masking.maskField(text);
        return f.masked === 0 ? undefined : f.value;
      }
      return r.masked === 0 ? undefined : r.text;
    }
    case 'int':
    case 'float':
    case 'numeric': {
      const d = masking.numberDetectorHit(text);
      if (d === undefined) return undefined;
      out = masking.apply(text, d.strategy, d.keep, shapeFor(cls, type));
      return out === text ? undefined : out;
    }
    default:
      return undefined;
  }
}

export function decodeNumericBinary(b: Buffer): string | undefined {
  if (b.length < 8) return undefined;
  const ndigits = b.readInt16BE(0);
  const weight = b.readInt16BE(2);
  const sign = b.readUInt16BE(4);
  const dscale = b.readInt16BE(6);
  if (ndigits < 0 || b.length !== 8 + 2 * ndigits) return undefined;
  if (sign === 0xc000) return 'NaN';
  if (sign === 0xd000) return 'Infinity';
  if (sign === 0xf000) return '-Infinity';
  const digit = (k: number): number => (k >= 0 && k < ndigits ? b.readInt16BE(8 + 2 * k) : 0);
  let int = '';
  for (let k = 0; k <= weight; k++) int += k === 0 ? String(digit(k)) : String(digit(k)).padStart(4, '0');
  if (int === '') int = '0';
  let frac = '';
  for (let k = weight + 1; frac.length < dscale; k++) frac += String(digit(k)).padStart(4, '0');
  frac = frac.slice(0, Math.max(0, dscale));
  return (sign === 0x4000 ? '-' : '') + int + (frac.length > 0 ? `.${frac}` : '');
}

/** Encode a decimal string ('-12.340', '0', 'NaN', 'Infinity') as binary numeric; undefined if it is not one. */
export function encodeNumericBinary(text: string): Buffer | undefined {
  const special = { NaN: 0xc000, Infinity: 0xd000, '-Infinity': 0xf000 }[text];
  if (special !== undefined) {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(special, 4);
    return b;
  }
  let body = text;
  let sign = 0;
  if (body.startsWith('-')) {
    sign = 0x4000;
    body = body.slice(1);
  } else if (body.startsWith('+')) {
    body = body.slice(1);
  }
  const dot = body.indexOf('.');
  const intPart = dot < 0 ? body : body.slice(0, dot);
  const fracPart = dot < 0 ? '' : body.slice(dot + 1);
  if (intPart.length + fracPart.length === 0 || !/^\d*$/.test(intPart) || !/^\d*$/.test(fracPart)) return undefined;
  const intDigits = intPart.replace(/^0+/, '');
  const intPadded = intDigits.padStart(Math.ceil(intDigits.length / 4) * 4, '0');
  const fracPadded = fracPart.padEnd(Math.ceil(fracPart.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) groups.push(Number(intPadded.slice(i, i + 4)));
  for (let i = 0; i < fracPadded.length; i += 4) groups.push(Number(fracPadded.slice(i, i + 4)));
  let weight = intPadded.length / 4 - 1;
  let first = 0;
  while (first < groups.length && groups[first] === 0) {
    first++;
    weight--;
  }
  let last = groups.length;
  while (last > first && groups[last - 1] === 0) last--;
  const digits = groups.slice(first, last);
  if (digits.length === 0) {
    weight = 0;
    sign = 0;
  }
  const b = Buffer.alloc(8 + 2 * digits.length);
  b.writeInt16BE(digits.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(sign, 4);
  b.writeInt16BE(fracPart.length, 6);
  digits.forEach((d, i) => b.writeInt16BE(d, 8 + 2 * i));
  return b;
}

function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Binary ints and floats: decode to the text form, mask that, encode back at the same width. */
function decodeFixed(b: Buffer, typeOid: number): string | undefined {
  switch (typeOid) {
    case PG_OID.int2:
      return b.length === 2 ? String(b.readInt16BE(0)) : undefined;
    case PG_OID.int4:
      return b.length === 4 ? String(b.readInt32BE(0)) : undefined;
    case PG_OID.oid:
      return b.length === 4 ? String(b.readUInt32BE(0)) : undefined;
    case PG_OID.int8:
      return b.length === 8 ? b.readBigInt64BE(0).toString() : undefined;
    case PG_OID.float4:
      return b.length === 4 ? String(b.readFloatBE(0)) : undefined;
    case PG_OID.float8:
      return b.length === 8 ? String(b.readDoubleBE(0)) : undefined;
    case PG_OID.uuid:
      return b.length === 16 ? uuidText(b) : undefined;
    default:
      return undefined;
  }
}

function encodeFixed(text: string, typeOid: number): Buffer | null {
  try {
    switch (typeOid) {
      case PG_OID.int2: {
        const b = Buffer.alloc(2);
        b.writeInt16BE(Number(BigInt(text)));
        return b;
      }
      case PG_OID.int4: {
        const b = Buffer.alloc(4);
        b.writeInt32BE(Number(BigInt(text)));
        return b;
      }
      case PG_OID.oid: {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(Number(BigInt(text)));
        return b;
      }
      case PG_OID.int8: {
        const b = Buffer.alloc(8);
        b.writeBigInt64BE(BigInt(text));
        return b;
      }
      case PG_OID.float4: {
        const b = Buffer.alloc(4);
        b.writeFloatBE(Number(text));
        return b;
      }
      case PG_OID.float8: {
        const b = Buffer.alloc(8);
        b.writeDoubleBE(Number(text));
        return b;
      }
      case PG_OID.uuid: {
        const hex = text.replaceAll('-', '');
        return hex.length === 32 ? Buffer.from(hex, 'hex') : null;
      }
      default:
        return null;
    }
  } catch {
    return null; // cannot re-encode: NULL rather than leak
  }
}

/**
 * Mask a binary-format value. Returns undefined when unchanged, null for SQL
 * NULL, else the new bytes.
 */
export function maskPgBinary(
  bytes: Buffer,
  type: PgValueType,
  action: PgMaskAction,
  masking: CompiledMasking,
): Buffer | null | undefined {
  const cls = pgTypeClass(type.typeOid);
  switch (cls) {
    case 'text':
    case 'json': {
      const out = maskPgText(bytes.toString('utf8'), type, action, masking);
      return out === undefined || out === null ? out : Buffer.from(out, 'utf8');
    }
    case 'jsonb': {
      if (bytes[0] !== 1) return action.kind === 'rule' || masking.maskField(bytes.toString('utf8')).masked > 0 ? null : undefined;
      const out = maskPgText(bytes.toString('utf8', 1), type, action, masking);
      return out === undefined || out === null ? out : Buffer.concat([Buffer.of(1), Buffer.from(out, 'utf8')]);
    }
    case 'int':
    case 'float':
    case 'uuid': {
      const text = decodeFixed(bytes, type.typeOid);
      if (text === undefined) return null; // wrong width: not what the type promises
      const out = maskPgText(text, type, action, masking);
      return out === undefined || out === null ? out : encodeFixed(out, type.typeOid);
    }
    case 'numeric': {
      const text = decodeNumericBinary(bytes);
      if (text === undefined) return null;
      const out = maskPgText(text, type, action, masking);
      return out === undefined || out === null ? out : (encodeNumericBinary(out) ?? null);
    }
    case 'scalar':
      return action.kind === 'rule' ? null : undefined;
    case 'opaque':
      if (action.kind === 'rule') return null;
      return masking.hasDetectors && masking.maskField(bytes.toString('utf8')).masked > 0 ? null : undefined;
  }
}
