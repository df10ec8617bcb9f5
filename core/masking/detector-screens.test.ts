// The cheap checks that let masking skip detectors must never skip a match:
// Detector.inNumberText (numeric columns), Detector.needs and mayFindInUtf8
// (values screened from their bytes), and the grouped cloud-key search.
// Inputs come from a seeded generator, so every run checks the same cases.
import { describe, expect, it } from '@jest/globals';
import { seededRandom } from '../../testkit/seeded-random.js';
import { compileDetectors, findSensitive, mayFindInUtf8, type DetectorType, type Match } from './detectors.js';
import { MIN_CLOUD_KEY_LENGTH, scanCloudKey } from './detectors-secrets.js';
import { compileMasking } from './masker.js';
import { detectCanChangeText, PG_OID } from './pg-value-masker.js';

const BUILT_IN: DetectorType[] = ['pan', 'ssn', 'email', 'phone', 'iban', 'jwt', 'cloudKey', 'privateKey'];


function digits(r: () => number, n: number): string {
  let s = String(1 + Math.floor(r() * 9));
  while (s.length < n) s += String(Math.floor(r() * 10));
  return s;
}

/** Texts as PostgreSQL prints numbers (and as the proxy decodes binary ones): ints, floats, numerics. */
function numberTexts(): string[] {
  const r = seededRandom(7);
  const out = ['0', '-0', 'NaN', 'Infinity', '-Infinity', '32767', '-32768', '2147483647', '-2147483648', '4294967295'];
  out.push('9223372036854775807', '-9223372036854775808', '4111111111111111', '-4111111111111111', '4111111111111111.00');
  out.push('4.111111111111111e+15', '1e+21', '-1.5e-7', '1.5e-07', '123456789', '078051120', '2125551234', '212.5551234');
  for (let i = 0; i < 3000; i++) {
    const sign = r() < 0.3 ? '-' : '';
    const n = 1 + Math.floor(r() * 25);
    switch (i % 4) {
      case 0:
        out.push(sign + digits(r, n));
        break;
      case 1: {
        const frac = 1 + Math.floor(r() * 20);
        out.push(`${sign}${digits(r, n)}.${digits(r, frac)}`);
        break;
      }
      case 2: {
        const x = (r() - 0.5) * 10 ** Math.floor(r() * 60 - 30);
        out.push(String(x), x.toExponential(), x.toPrecision(1 + Math.floor(r() * 17)));
        break;
      }
      default: {
        const exp = Math.floor(r() * 40);
        out.push(`${sign}${digits(r, 1)}.${digits(r, n)}e${r() < 0.5 ? '+' : '-'}${String(exp).padStart(2, '0')}`);
      }
    }
  }
  return out;
}

describe('detectors that cannot match a number', () => {
  const numbers = numberTexts();

  it.each(BUILT_IN)('%s finds something in a number only if it says it can (inNumberText)', (type) => {
    const [d] = compileDetectors([{ type }]);
    if (d === undefined) throw new Error(type);
    const hits = numbers.filter((t) => findSensitive(t, [d]).length > 0);
    if (!d.inNumberText) expect(hits).toEqual([]);
    if (type === 'pan') expect(hits).toContain('4111111111111111');
  });

  it('numberDetectorHit answers as detectorHit does on number texts', () => {
    const m = compileMasking({ detectors: BUILT_IN.map((type) => ({ type })) });
    for (const t of numbers) expect(m.numberDetectorHit(t)).toBe(m.detectorHit(t));
    expect(m.numberDetectorHit('4111111111111111')?.type).toBe('pan');
  });

  it('skips detection on a text-format column only when its type cannot print a match', () => {
    const builtIns = compileMasking({ detectors: BUILT_IN.map((type) => ({ type })) });
    for (const t of [PG_OID.int2, PG_OID.int4, PG_OID.oid]) expect(detectCanChangeText(t, builtIns)).toBe(false);
    // A card number fits in a bigint, a numeric or a float.
    for (const t of [PG_OID.int8, PG_OID.numeric, PG_OID.float8, PG_OID.float4]) expect(detectCanChangeText(t, builtIns)).toBe(true);
    for (const t of [PG_OID.text, PG_OID.varchar, PG_OID.json, 1009]) expect(detectCanChangeText(t, builtIns)).toBe(true);
    const noCards = compileMasking({ detectors: [{ type: 'ssn' }, { type: 'email' }, { type: 'phone' }] });
    expect(detectCanChangeText(PG_OID.int8, noCards)).toBe(false);
    expect(detectCanChangeText(PG_OID.numeric, noCards)).toBe(false);
    // A custom pattern may match any digits.
    const custom = compileMasking({ detectors: [{ type: 'custom', pattern: '\\d{3}' }] });
    expect(detectCanChangeText(PG_OID.int2, custom)).toBe(true);
    expect(custom.numberDetectorHit('12345')?.type).toBe('custom');
  });
});

/** Texts with and without sensitive values, ASCII and not, plus raw bytes that are not valid UTF-8. */
function screenSamples(): Buffer[] {
  const r = seededRandom(11);
  const parts = [
    'alice@example.com', 'a@b', '@', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'eyJ', '.', 'AKIAABCDEFGHIJKLMNOP', 'AKIA',
    'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8', 'xoxb-1234567890-abcdef', 'xapp-1-ABC-123-xyz', '-----BEGIN PRIVATE KEY-----',
    '-----END PRIVATE KEY-----', 'DE89370400440532013000', 'GB82 WEST 1234 5698 7654 32', '4111111111111111', '123-45-6789',
    'SSN 078051120', '+1 415 555 2671', '(212) 555-1234', 'Customer number ', 'Zoë Ünal', '😀', ' ', '-', '_', 'g', 'x', 'J',
    'A', 'renewal due next quarter', '0', '42',
  ];
  const invalid = [Buffer.from([0xc3]), Buffer.from([0xe2, 0x82]), Buffer.from([0xff]), Buffer.from([0xf0, 0x9f, 0x98])];
  const out: Buffer[] = [];
  for (let i = 0; i < 4000; i++) {
    const chunks: Buffer[] = [];
    const n = 1 + Math.floor(r() * 5);
    for (let k = 0; k < n; k++) {
      chunks.push(r() < 0.1 ? (invalid[Math.floor(r() * invalid.length)] as Buffer) : Buffer.from(parts[Math.floor(r() * parts.length)] as string));
    }
    out.push(Buffer.concat(chunks));
  }
  return out;
}

describe('screening a value from its bytes (mayFindInUtf8)', () => {
  const samples = screenSamples();

  it.each([...BUILT_IN, 'custom'] as DetectorType[])('never rules out a value the %s scanner finds something in', (type) => {
    const detectors = compileDetectors([type === 'custom' ? { type, pattern: 'secret|[0-9]{4}' } : { type }]);
    let found = 0;
    let screened = 0;
    const [d] = detectors;
    if (d === undefined) throw new Error(type);
    for (const b of samples) {
      // The scanner itself behind the older length and digit checks, not findSensitive (which skips by the same needs).
      const text = b.toString('utf8');
      const raw: Match[] = [];
      if (text.length >= d.minLength && (text.match(/[0-9]/g) ?? []).length >= d.minDigits) d.scan(text, raw, 0);
      const hit = raw.length > 0;
      const may = mayFindInUtf8(b, 0, b.length, detectors);
      if (hit) {
        found++;
        expect({ text: b.toString('utf8'), may }).toEqual({ text: b.toString('utf8'), may: true });
      }
      if (!may) screened++;
    }
    // The samples exercise both sides: values it finds, and values it rules out.
    expect(found).toBeGreaterThan(0);
    if (type !== 'custom') expect(screened).toBeGreaterThan(0);
  });

  it('reads a value inside a larger buffer, and rules out plain text for the built-in detectors', () => {
    const all = compileDetectors(BUILT_IN.map((type) => ({ type })));
    const frame = Buffer.from('xxmail bob@example.com nowyy');
    expect(mayFindInUtf8(frame, 2, frame.length - 2, all)).toBe(true);
    expect(mayFindInUtf8(frame, 0, 6, all)).toBe(false);
    const plain = Buffer.from('Preferred contact by mail; renewal due next quarter.');
    const bench = compileDetectors(['pan', 'ssn', 'email', 'jwt', 'cloudKey', 'privateKey'].map((type) => ({ type: type as DetectorType })));
    expect(mayFindInUtf8(plain, 0, plain.length, bench)).toBe(false);
    expect(mayFindInUtf8(Buffer.alloc(0), 0, 0, all)).toBe(false);
  });
});

/** scanCloudKey as it was written before the prefixes were grouped: one search per shape. */
function referenceCloudKeys(text: string): Match[] {
  const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  const codeAt = (i: number): number => (i >= 0 && i < text.length ? text.charCodeAt(i) : -1);
  const upperOrDigit = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
  const b64 = (c: number): boolean => isAlnum(c) || c === 45 || c === 95;
  const word = (c: number): boolean => isAlnum(c) || c === 95;
  const alnumDash = (c: number): boolean => isAlnum(c) || c === 45;
  const shapes: [string, (c: number) => boolean, number, number][] = [
    ['AKIA', upperOrDigit, 16, 16], ['ASIA', upperOrDigit, 16, 16], ['AIza', b64, 35, 35],
    ['ghp_', isAlnum, 36, 36], ['gho_', isAlnum, 36, 36], ['ghu_', isAlnum, 36, 36], ['ghs_', isAlnum, 36, 36], ['ghr_', isAlnum, 36, 36],
    ['github_pat_', word, 40, 255],
    ...['xoxb-', 'xoxp-', 'xoxa-', 'xoxo-', 'xoxr-', 'xoxs-', 'xoxe-', 'xapp-'].map((p): [string, (c: number) => boolean, number, number] => [p, alnumDash, 10, 255]),
  ];
  const out: Match[] = [];
  for (const [prefix, body, min, max] of shapes) {
    let at = text.indexOf(prefix);
    while (at >= 0) {
      let next = at + 1;
      if (!isAlnum(codeAt(at - 1))) {
        const start = at + prefix.length;
        let k = start;
        while (k < text.length && k - start <= max && body(text.charCodeAt(k))) k++;
        const len = k - start;
        if (len >= min && len <= max && !body(codeAt(k)) && !isAlnum(codeAt(k))) out.push({ start: at, end: k, type: 'cloudKey', detector: 0 });
        next = Math.max(next, k);
      }
      at = text.indexOf(prefix, next);
    }
  }
  return out;
}

describe('scanCloudKey (prefixes searched by group)', () => {
  it('finds exactly what one search per prefix finds, overlapping tokens included', () => {
    const r = seededRandom(5);
    const pieces = ['AKIA', 'ASIA', 'AIza', 'ghp_', 'gho_', 'github_pat_', 'xoxb-', 'xoxp-', 'xapp-', 'A', 'g', 'x', '-', '_', ' ', 'Z', '7', 'ab'];
    const body = 'ABCDEFGHIJKLMNOP0123456789abcdefghij-_';
    for (let i = 0; i < 3000; i++) {
      let text = '';
      const n = 1 + Math.floor(r() * 8);
      for (let k = 0; k < n; k++) {
        text += pieces[Math.floor(r() * pieces.length)] as string;
        const run = Math.floor(r() * 45);
        for (let j = 0; j < run; j++) text += body[Math.floor(r() * body.length)] as string;
      }
      if (text.length < MIN_CLOUD_KEY_LENGTH) continue;
      const got: Match[] = [];
      scanCloudKey(text, got, 0);
      const key = (m: Match): string => `${m.start}:${m.end}`;
      expect(got.map(key).sort()).toEqual(referenceCloudKeys(text).map(key).sort());
    }
    const nested = 'xoxb-abc-xoxp-1234567890';
    const got: Match[] = [];
    scanCloudKey(nested, got, 0);
    expect(got.map((m) => nested.slice(m.start, m.end)).sort()).toEqual(['xoxb-abc-xoxp-1234567890', 'xoxp-1234567890']);
  });
});
