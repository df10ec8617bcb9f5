// Masking strategies: how one sensitive value is replaced. Every result keeps
// the value valid for the shape it has to fit (free text, an integer column, a
// decimal column, a uuid), so clients and drivers keep parsing what they get.
import { MaskHashKeyError } from './errors.js';
import { HmacSha256 } from './hmac-sha256.js';

export type MaskStrategy = 'redact' | 'partial' | 'hash' | 'null';

export const MASK_STRATEGIES: readonly MaskStrategy[] = ['redact', 'partial', 'hash', 'null'];

/** Higher hides more; when several rules apply to one value the strictest wins. */
export const STRATEGY_STRICTNESS: Readonly<Record<MaskStrategy, number>> = {
  partial: 1,
  hash: 2,
  redact: 3,
  null: 4,
};

export const DEFAULT_KEEP = 4;
export const REDACTED = '[REDACTED]';
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
/** Shortest accepted hash key: a short key would let anyone brute-force pseudonyms of SSNs back. */
export const MIN_HASH_KEY_BYTES = 16;

/** What the masked value has to stay valid as. */
export type ValueShape =
  | { kind: 'text' }
  /** Hash results fall in [0, max]. */
  | { kind: 'integer'; max: bigint }
  /** Hash results have at most maxDigits integer digits (up to 18; below 1 the result is '0'). */
  | { kind: 'decimal'; maxDigits: number }
  | { kind: 'uuid' };

export const TEXT_SHAPE: ValueShape = { kind: 'text' };

export interface MaskOptions {
  /** partial: how many trailing characters (letters/digits) stay visible. Default 4. */
  keep?: number;
  /** hash: the per-policy HMAC key. */
  hashKey?: Buffer;
  /** redact (text shape): the replacement. Default '[REDACTED]'. */
  marker?: string;
  shape?: ValueShape;
}

/**
 * Mask one value. Returns null for the `null` strategy (the caller turns that
 * into SQL NULL / JSON null / an empty field).
 */
export function maskValue(value: string, strategy: MaskStrategy, opts: MaskOptions = {}): string | null {
  const shape = opts.shape ?? TEXT_SHAPE;
  switch (strategy) {
    case 'null':
      return null;
    case 'redact':
      return redactFor(shape, opts.marker ?? REDACTED);
    case 'partial':
      return partialFor(value, shape, opts.keep ?? DEFAULT_KEEP);
    case 'hash':
      if (opts.hashKey === undefined) throw new MaskHashKeyError('no key given');
      return hashFor(value, shape, opts.hashKey);
  }
}

function redactFor(shape: ValueShape, marker: string): string {
  switch (shape.kind) {
    case 'text':
      return marker;
    case 'integer':
    case 'decimal':
      return '0';
    case 'uuid':
      return ZERO_UUID;
  }
}

function partialFor(value: string, shape: ValueShape, keep: number): string {
  switch (shape.kind) {
    case 'text':
      return partialMask(value, keep, '*', isTextMaskable);
    case 'integer':
    case 'decimal':
      return partialMask(value, keep, '0', isDigitCode);
    case 'uuid':
      return partialMask(value, keep, '0', isHexCode);
  }
}

/**
 * Keep the last `keep` maskable characters, replace every other maskable one
 * with `maskChar`, keep separators (anything not maskable) where they are, so
 * '4111-1111-1111-1111' becomes '****-****-****-1111'. A value with no more
 * than `keep` maskable characters is masked entirely: keeping it all would
 * reveal it.
 */
export function partialMask(
  value: string,
  keep: number,
  maskChar: string,
  maskable: (code: number) => boolean,
): string {
  // Without surrogates every UTF-16 unit is a code point: no array of characters needed.
  let total = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return partialMaskCodePoints(value, keep, maskChar, maskable);
    if (maskable(c)) total++;
  }
  // The first `hide` maskable characters are replaced; runs of kept ones are copied as slices.
  const hide = total > keep ? total - keep : total;
  let out = '';
  let from = 0;
  let seen = 0;
  for (let i = 0; i < value.length && seen < hide; i++) {
    if (!maskable(value.charCodeAt(i))) continue;
    seen++;
    out += value.slice(from, i) + maskChar;
    from = i + 1;
  }
  return from === 0 ? value : out + value.slice(from);
}

/** partialMask over code points, for values with surrogate pairs (never split one). */
function partialMaskCodePoints(value: string, keep: number, maskChar: string, maskable: (code: number) => boolean): string {
  const chars = Array.from(value);
  let total = 0;
  for (const ch of chars) if (maskable(ch.codePointAt(0) ?? 0)) total++;
  let visible = total > keep ? keep : 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    const ch = chars[i] ?? '';
    if (!maskable(ch.codePointAt(0) ?? 0)) continue;
    if (visible > 0) {
      visible--;
      continue;
    }
    chars[i] = maskChar;
  }
  return chars.join('');
}

// One precomputed hasher per key object (keys are compiled once per policy).
const hashers = new WeakMap<Buffer, HmacSha256>();

function hasherFor(key: Buffer): HmacSha256 {
  let h = hashers.get(key);
  if (h === undefined) {
    h = new HmacSha256(key);
    hashers.set(key, h);
  }
  return h;
}

/** HMAC-SHA256 of the UTF-8 value under the policy key. */
export function keyedDigest(value: string, key: Buffer): Buffer {
  return hasherFor(key).digest(Buffer.from(value, 'utf8'));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A 32-bit word as 8 lowercase hex digits (big-endian, like Buffer#toString('hex')). */
function hexWord(v: number): string {
  return (HEX[(v >>> 24) & 0xff] as string) + (HEX[(v >>> 16) & 0xff] as string) + (HEX[(v >>> 8) & 0xff] as string) + (HEX[v & 0xff] as string);
}

function hashFor(value: string, shape: ValueShape, key: Buffer): string {
  const words = hasherFor(key).digestUtf8Words(value);
  const w0 = words[0] as number;
  const w1 = words[1] as number;
  switch (shape.kind) {
    case 'text':
      // The digest's first 8 bytes in hex.
      return `h:${hexWord(w0)}${hexWord(w1)}`;
    case 'integer':
      return (firstUint64(w0, w1) % (shape.max + 1n)).toString();
    case 'decimal': {
      if (shape.maxDigits < 1) return '0'; // e.g. numeric(2,2): no integer digits to hold a pseudonym
      const digits = Math.min(18, shape.maxDigits);
      return (firstUint64(w0, w1) % 10n ** BigInt(digits)).toString();
    }
    case 'uuid': {
      const b = Buffer.allocUnsafe(16);
      for (let i = 0; i < 4; i++) b.writeInt32BE(words[i] as number, i * 4);
      b[6] = ((b[6] ?? 0) & 0x0f) | 0x80; // version 8 (custom)
      b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
  }
}

/** The digest's first 8 bytes as an unsigned big-endian integer. */
function firstUint64(w0: number, w1: number): bigint {
  return (BigInt(w0 >>> 0) << 32n) | BigInt(w1 >>> 0);
}

export function isDigitCode(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHexCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** Letters and digits are masked; ASCII punctuation and spaces are separators. Non-ASCII counts as letters. */
function isTextMaskable(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127;
}

export function isMaskStrategy(s: unknown): s is MaskStrategy {
  return typeof s === 'string' && (MASK_STRATEGIES as readonly string[]).includes(s);
}

/** The stricter of two strategies (see STRATEGY_STRICTNESS). */
export function stricter(a: MaskStrategy, b: MaskStrategy): MaskStrategy {
  return STRATEGY_STRICTNESS[b] > STRATEGY_STRICTNESS[a] ? b : a;
}
