import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { MaskHashKeyError } from './errors.js';
import { maskValue, partialMask, stricter, ZERO_UUID, type MaskStrategy, type ValueShape } from './strategies.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210');

describe('maskValue', () => {
  const cases: { value: string; strategy: MaskStrategy; shape?: ValueShape; keep?: number; want: string | null }[] = [
    { value: 'secret', strategy: 'redact', want: '[REDACTED]' },
    { value: '42', strategy: 'redact', shape: { kind: 'integer', max: 32767n }, want: '0' },
    { value: '3.14', strategy: 'redact', shape: { kind: 'decimal', maxDigits: 5 }, want: '0' },
    { value: '6ba7b810-9dad-11d1-80b4-00c04fd430c8', strategy: 'redact', shape: { kind: 'uuid' }, want: ZERO_UUID },
    { value: 'anything', strategy: 'null', want: null },
    { value: '4111-1111-1111-1111', strategy: 'partial', want: '****-****-****-1111' },
    { value: '4111111111111111', strategy: 'partial', keep: 6, want: '**********111111' },
    { value: 'alice@example.com', strategy: 'partial', want: '*****@******e.com' },
    { value: '123', strategy: 'partial', want: '***' },
    { value: 'abcd', strategy: 'partial', want: '****' },
    { value: 'abcde', strategy: 'partial', keep: 0, want: '*****' },
    { value: 'Zoë Ünal', strategy: 'partial', keep: 2, want: '*** **al' },
    { value: '-123456789', strategy: 'partial', shape: { kind: 'integer', max: 2147483647n }, want: '-000006789' },
    { value: '1234.5678', strategy: 'partial', shape: { kind: 'decimal', maxDigits: 15 }, want: '0000.5678' },
    {
      value: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
      strategy: 'partial',
      shape: { kind: 'uuid' },
      want: '00000000-0000-0000-0000-0000000030c8',
    },
  ];
  it.each(cases)('$strategy $value → $want', ({ value, strategy, shape, keep, want }) => {
    expect(maskValue(value, strategy, { shape, keep, hashKey: KEY })).toBe(want);
  });

  it('keeps surrogate pairs whole', () => {
    expect(partialMask('😀😀ab', 1, '*', (c) => c > 127 || c >= 97)).toBe('***b');
  });

  it('masks as it does character by character, for every keep and mix of characters', () => {
    // The definition: mask every maskable code point but the last `keep` (all of them when there are no more than keep).
    const reference = (value: string, keep: number, maskable: (c: number) => boolean): string => {
      const chars = Array.from(value);
      const total = chars.filter((ch) => maskable(ch.codePointAt(0) ?? 0)).length;
      let visible = total > keep ? keep : 0;
      for (let i = chars.length - 1; i >= 0; i--) {
        if (!maskable(chars[i]?.codePointAt(0) ?? 0)) continue;
        if (visible > 0) visible--;
        else chars[i] = '#';
      }
      return chars.join('');
    };
    const alnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127;
    const pieces = ['a', 'Z', '7', '-', ' ', '@', '.', 'é', '😀', '\uD800', ''];
    let seed = 3;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      let value = '';
      for (let k = next(12); k > 0; k--) value += pieces[next(pieces.length)];
      const keep = next(6);
      expect(partialMask(value, keep, '#', alnum)).toBe(reference(value, keep, alnum));
    }
  });

  it('redact uses the given marker for text', () => {
    expect(maskValue('x', 'redact', { marker: '[REDACTED:ssn]' })).toBe('[REDACTED:ssn]');
  });
});

describe('hash', () => {
  it('is a consistent keyed pseudonym', () => {
    const a = maskValue('123-45-6789', 'hash', { hashKey: KEY });
    // Standard HMAC-SHA256, so pseudonyms can be reproduced elsewhere with the same key.
    expect(a).toBe(`h:${createHmac('sha256', KEY).update('123-45-6789').digest().subarray(0, 8).toString('hex')}`);
    expect(maskValue('123-45-6789', 'hash', { hashKey: KEY })).toBe(a);
    expect(maskValue('123-45-6780', 'hash', { hashKey: KEY })).not.toBe(a);
    expect(maskValue('123-45-6789', 'hash', { hashKey: OTHER_KEY })).not.toBe(a);
  });

  it('fits integer, decimal and uuid shapes', () => {
    for (const v of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      const i2 = maskValue(v, 'hash', { hashKey: KEY, shape: { kind: 'integer', max: 32767n } });
      expect(BigInt(i2 ?? 'x')).toBeLessThanOrEqual(32767n);
      expect(BigInt(i2 ?? 'x')).toBeGreaterThanOrEqual(0n);
      const d = maskValue(v, 'hash', { hashKey: KEY, shape: { kind: 'decimal', maxDigits: 3 } });
      expect(d).toMatch(/^\d{1,3}$/);
      const u = maskValue(v, 'hash', { hashKey: KEY, shape: { kind: 'uuid' } });
      expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(maskValue('x', 'hash', { hashKey: KEY, shape: { kind: 'decimal', maxDigits: 0 } })).toBe('0');
  });

  it('the same input gives related pseudonyms across shapes (joins across columns of one shape hold)', () => {
    const t1 = maskValue('alice', 'hash', { hashKey: KEY, shape: { kind: 'integer', max: 9223372036854775807n } });
    const t2 = maskValue('alice', 'hash', { hashKey: KEY, shape: { kind: 'integer', max: 9223372036854775807n } });
    expect(t1).toBe(t2);
  });

  it('refuses to hash without a key', () => {
    expect(() => maskValue('x', 'hash', {})).toThrow(MaskHashKeyError);
  });
});

describe('stricter', () => {
  it('orders null > redact > hash > partial', () => {
    expect(stricter('partial', 'hash')).toBe('hash');
    expect(stricter('redact', 'hash')).toBe('redact');
    expect(stricter('null', 'redact')).toBe('null');
    expect(stricter('partial', 'partial')).toBe('partial');
  });
});
