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
  const chars = Array.from(value); // code points: never split a surrogate pair
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

/** HMAC-SHA256 of the UTF-8 value under the policy key. */
export function keyedDigest(value: string, key: Buffer): Buffer {
  let h = hashers.get(key);
  if (h === undefined) {
    h = new HmacSha256(key);
    hashers.set(key, h);
  }
  return h.digest(Buffer.from(value, 'utf8'));
}

function hashFor(value: string, shape: ValueShape, key: Buffer): string {
  const digest = keyedDigest(value, key);
  switch (shape.kind) {
    case 'text':
      return `h:${digest.subarray(0, 8).toString('hex')}`;
    case 'integer':
      return (digest.readBigUInt64BE(0) % (shape.max + 1n)).toString();
    case 'decimal': {
      if (shape.maxDigits < 1) return '0'; // e.g. numeric(2,2): no integer digits to hold a pseudonym
      const digits = Math.min(18, shape.maxDigits);
      return (digest.readBigUInt64BE(0) % 10n ** BigInt(digits)).toString();
    }
    case 'uuid': {
      const b = Buffer.from(digest.subarray(0, 16));
      b[6] = ((b[6] ?? 0) & 0x0f) | 0x80; // version 8 (custom)
      b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // RFC 9562 variant
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    }
  }
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
