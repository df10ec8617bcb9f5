import { describe, expect, it } from '@jest/globals';
import { compileDetectors, findSensitive, type DetectorType } from './detectors.js';
import { InvalidMaskPatternError, InvalidMaskSpecError } from './errors.js';

/** The substrings one detector type finds in text. */
function found(type: DetectorType, text: string, pattern?: string): string[] {
  const detectors = compileDetectors([pattern === undefined ? { type } : { type, pattern }]);
  return findSensitive(text, detectors).map((m) => text.slice(m.start, m.end));
}

const JWT_HEADER = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9'; // {"alg":"HS256","typ":"JWT"}
const JWT = `${JWT_HEADER}.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
const GCP_KEY = `AIza${'SyA1b2C3d4E5f6G7h8I9j0K_L-M1n2O3p4q'}`; // 4 + 35
const GH_PAT = `ghp_${'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'}`; // 4 + 36
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----';

interface Case {
  type: DetectorType;
  text: string;
  want: string[];
  why: string;
}

const cases: Case[] = [
  // payment cards
  { type: 'pan', text: 'card 4111111111111111 ok', want: ['4111111111111111'], why: 'Visa' },
  { type: 'pan', text: '4111 1111 1111 1111', want: ['4111 1111 1111 1111'], why: 'spaced' },
  { type: 'pan', text: 'x 4111-1111-1111-1111.', want: ['4111-1111-1111-1111'], why: 'dashed, sentence end' },
  { type: 'pan', text: 'amex 3782 822463 10005', want: ['3782 822463 10005'], why: 'Amex 4-6-5' },
  { type: 'pan', text: '5500000000000004,6011111111111117', want: ['5500000000000004', '6011111111111117'], why: 'CSV of MC + Discover' },
  { type: 'pan', text: '2221000000000009 3530111333300000', want: ['2221000000000009', '3530111333300000'], why: 'MC 2-series and JCB' },
  { type: 'pan', text: 'diners 30569309025904', want: ['30569309025904'], why: 'Diners 14 digits' },
  { type: 'pan', text: 'qty 12 4111 1111 1111 1111', want: ['4111 1111 1111 1111'], why: 'a short number before a spaced card' },
  { type: 'pan', text: '4111111111111112', want: [], why: 'Luhn-invalid' },
  { type: 'pan', text: '1234567812345670', want: [], why: 'Luhn-valid but no issuer starts with 12' },
  { type: 'pan', text: '378282246310005 is 15', want: ['378282246310005'], why: 'Amex length 15' },
  { type: 'pan', text: '3782822463100050', want: [], why: 'Amex prefix with 16 digits' },
  { type: 'pan', text: 'id 41111111111111111111111', want: [], why: 'a 23-digit id is not a card' },
  { type: 'pan', text: 'ref4111111111111111', want: [], why: 'glued to a word' },
  { type: 'pan', text: 'pi 0.4111111111111111', want: [], why: 'fraction digits' },
  { type: 'pan', text: '4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1', want: [], why: 'single digits separated by spaces' },
  // SSNs
  { type: 'ssn', text: 'ssn 123-45-6789.', want: ['123-45-6789'], why: 'dashed' },
  { type: 'ssn', text: 'id 123 45 6789', want: ['123 45 6789'], why: 'spaced' },
  { type: 'ssn', text: 'SSN: 123456789', want: ['123456789'], why: 'bare, with keyword' },
  { type: 'ssn', text: 'Social Security number 078051120', want: ['078051120'], why: 'bare, with long keyword' },
  { type: 'ssn', text: 'order 123456789', want: [], why: 'bare, no keyword' },
  { type: 'ssn', text: 'classname 123456789', want: [], why: 'keyword inside a word' },
  { type: 'ssn', text: '000-12-3456', want: [], why: 'area 000' },
  { type: 'ssn', text: '666-12-3456', want: [], why: 'area 666' },
  { type: 'ssn', text: '912-12-3456', want: [], why: 'area 9xx' },
  { type: 'ssn', text: '123-00-4567', want: [], why: 'group 00' },
  { type: 'ssn', text: '123-45-0000', want: [], why: 'serial 0000' },
  { type: 'ssn', text: '123-45-67890', want: [], why: 'serial too long' },
  { type: 'ssn', text: '1123-45-6789', want: [], why: 'area too long' },
  { type: 'ssn', text: '123-45 6789', want: [], why: 'mixed separators' },
  { type: 'ssn', text: '2024-123-45-6789', want: [], why: 'tail of a longer dashed number' },
  // email
  { type: 'email', text: 'mail alice@example.com now', want: ['alice@example.com'], why: 'plain' },
  { type: 'email', text: 'Contact: bob.smith+tag@mail.example.co.uk.', want: ['bob.smith+tag@mail.example.co.uk'], why: 'trailing dot' },
  { type: 'email', text: '<a@b.io>,<c_d@e-f.org>', want: ['a@b.io', 'c_d@e-f.org'], why: 'two in brackets' },
  { type: 'email', text: "where email='o.brien+x@ex.io'", want: ['o.brien+x@ex.io'], why: 'quotes and = are not part of it' },
  { type: 'email', text: '{a@ex.io,b@ex.io}', want: ['a@ex.io', 'b@ex.io'], why: 'array literal' },
  { type: 'email', text: 'user@localhost', want: [], why: 'no dot in domain' },
  { type: 'email', text: '@example.com', want: [], why: 'no local part' },
  { type: 'email', text: 'x@1.2.3.4', want: [], why: 'numeric TLD' },
  { type: 'email', text: 'a@b.c', want: [], why: 'one-letter TLD' },
  { type: 'email', text: 'a.@example.com', want: [], why: 'local part ends with a dot' },
  // phones
  { type: 'phone', text: 'call +1 415 555 2671', want: ['+1 415 555 2671'], why: 'E.164 spaced' },
  { type: 'phone', text: 'tel:+14155552671;', want: ['+14155552671'], why: 'E.164 compact' },
  { type: 'phone', text: '+44 (0) 20 7946 0958', want: ['+44 (0) 20 7946 0958'], why: 'UK with trunk zero' },
  { type: 'phone', text: '(415) 555-2671', want: ['(415) 555-2671'], why: 'NANP parens' },
  { type: 'phone', text: 'x 415-555-2671 y', want: ['415-555-2671'], why: 'NANP dashes' },
  { type: 'phone', text: '415.555.2671', want: ['415.555.2671'], why: 'NANP dots' },
  { type: 'phone', text: '1-415-555-2671', want: ['1-415-555-2671'], why: 'NANP with 1' },
  { type: 'phone', text: '4155552671', want: [], why: 'bare 10 digits: no structure' },
  { type: 'phone', text: '123-456-7890', want: [], why: 'area code cannot start with 1' },
  { type: 'phone', text: '415-155-2671', want: [], why: 'exchange cannot start with 1' },
  { type: 'phone', text: '415-555.2671', want: [], why: 'mixed separators' },
  { type: 'phone', text: '2023-10-12', want: [], why: 'a date' },
  { type: 'phone', text: '192.168.100.200', want: [], why: 'an IP address' },
  { type: 'phone', text: '555-1234', want: [], why: 'seven digits' },
  { type: 'phone', text: 'x = +1234567', want: [], why: 'too short for E.164' },
  { type: 'phone', text: '415-555-26712', want: [], why: 'line number too long' },
  { type: 'phone', text: '+12345678901234567', want: [], why: 'more than 15 digits' },
  // IBAN
  { type: 'iban', text: 'IBAN DE89370400440532013000.', want: ['DE89370400440532013000'], why: 'compact' },
  { type: 'iban', text: 'DE89 3704 0044 0532 0130 00 EUR', want: ['DE89 3704 0044 0532 0130 00'], why: 'printed' },
  { type: 'iban', text: 'GB82 WEST 1234 5698 7654 32', want: ['GB82 WEST 1234 5698 7654 32'], why: 'letters in BBAN' },
  { type: 'iban', text: 'FR1420041010050500013M02606', want: ['FR1420041010050500013M02606'], why: 'France 27' },
  { type: 'iban', text: 'DE88370400440532013000', want: [], why: 'wrong check digits' },
  { type: 'iban', text: 'XX89370400440532013000', want: [], why: 'unknown country' },
  { type: 'iban', text: 'DE8937040044053201300', want: [], why: 'one character short' },
  { type: 'iban', text: 'DE893704004405320130001', want: [], why: 'one character long' },
  // JWT
  { type: 'jwt', text: `Authorization: Bearer ${JWT}`, want: [JWT], why: 'signed JWT' },
  { type: 'jwt', text: `${JWT_HEADER}.eyJzdWIiOiJ4In0.`, want: [`${JWT_HEADER}.eyJzdWIiOiJ4In0.`], why: 'unsigned (alg none)' },
  { type: 'jwt', text: 'eyJub3QiOiJqd3QifQ.eyJhIjoxfQ.c2ln', want: [], why: 'header without alg' },
  { type: 'jwt', text: JWT_HEADER, want: [], why: 'header alone' },
  { type: 'jwt', text: 'eyJ!!!.eyJ.x eyJeyJeyJ', want: [], why: 'not base64url JSON' },
  // cloud keys
  { type: 'cloudKey', text: 'key=AKIAIOSFODNN7EXAMPLE', want: ['AKIAIOSFODNN7EXAMPLE'], why: 'AWS' },
  { type: 'cloudKey', text: '"ASIAY34FZKBOKMUTVV7A"', want: ['ASIAY34FZKBOKMUTVV7A'], why: 'AWS STS' },
  { type: 'cloudKey', text: `k ${GCP_KEY} `, want: [GCP_KEY], why: 'GCP API key' },
  { type: 'cloudKey', text: `token ${GH_PAT}`, want: [GH_PAT], why: 'GitHub PAT' },
  { type: 'cloudKey', text: `github_pat_${'A'.repeat(22)}_${'b'.repeat(59)}`, want: [`github_pat_${'A'.repeat(22)}_${'b'.repeat(59)}`], why: 'GitHub fine-grained' },
  { type: 'cloudKey', text: 'xoxb-123456789012-abcdefABCDEF', want: ['xoxb-123456789012-abcdefABCDEF'], why: 'Slack bot token' },
  { type: 'cloudKey', text: 'AKIAIOSFODNN7EXAMPL', want: [], why: 'AWS one short' },
  { type: 'cloudKey', text: 'AKIAIOSFODNN7EXAMPLEX', want: [], why: 'AWS one long' },
  { type: 'cloudKey', text: 'ghp_short', want: [], why: 'GitHub prefix, no token' },
  { type: 'cloudKey', text: 'xoxb-12', want: [], why: 'Slack prefix, no token' },
  // private keys
  { type: 'privateKey', text: `key:\n${PEM}\ndone`, want: [PEM], why: 'RSA PEM block' },
  { type: 'privateKey', text: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n', want: ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n'], why: 'truncated: masked to the end' },
  { type: 'privateKey', text: '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----', want: [], why: 'public key' },
  { type: 'privateKey', text: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', want: [], why: 'certificate' },
];

describe('detectors', () => {
  it.each(cases)('$type: $why', ({ type, text, want }) => {
    expect(found(type, text)).toEqual(want);
  });

  it('finds several types in one text, without overlaps', () => {
    const detectors = compileDetectors([{ type: 'pan' }, { type: 'ssn' }, { type: 'email' }, { type: 'phone' }, { type: 'iban' }]);
    const text = 'alice@example.com paid with 4111 1111 1111 1111 from DE89 3704 0044 0532 0130 00, ssn 123-45-6789, +1 415 555 2671';
    const got = findSensitive(text, detectors).map((m) => [m.type, text.slice(m.start, m.end)]);
    expect(got).toEqual([
      ['email', 'alice@example.com'],
      ['pan', '4111 1111 1111 1111'],
      ['iban', 'DE89 3704 0044 0532 0130 00'],
      ['ssn', '123-45-6789'],
      ['phone', '+1 415 555 2671'],
    ]);
    for (const m of findSensitive(text, detectors)) expect(detectors[m.detector]?.type).toBe(m.type);
  });

  it('reports UTF-16 offsets after non-ASCII text', () => {
    const text = 'Zoë 😀 zoë@bücher.example and 😀 4111111111111111';
    const got = findSensitive(text, compileDetectors([{ type: 'email' }, { type: 'pan' }])).map((m) => text.slice(m.start, m.end));
    expect(got).toEqual(['zoë@bücher.example', '4111111111111111']);
  });
});

describe('custom patterns', () => {
  it('match with RE2 syntax', () => {
    expect(found('custom', 'emp EMP-004211 and EMP-1', 'EMP-[0-9]{6}')).toEqual(['EMP-004211']);
    expect(found('custom', 'Secret: Hunter2', '(?i)secret:\\s*\\S+')).toEqual(['Secret: Hunter2']);
  });

  it.each([
    ['(a', 'syntax error'],
    ['(?=a)b', 'lookahead is not linear-time'],
    ['(a)\\1', 'backreference'],
    ['a*', 'matches the empty string'],
    ['x{0,3}', 'matches the empty string'],
  ])('refuse %s (%s)', (pattern) => {
    expect(() => compileDetectors([{ type: 'custom', pattern }])).toThrow(InvalidMaskPatternError);
  });

  it('refuse a missing pattern and a pattern on a built-in type', () => {
    expect(() => compileDetectors([{ type: 'custom' }])).toThrow(InvalidMaskSpecError);
    expect(() => compileDetectors([{ type: 'pan', pattern: 'x' }])).toThrow(InvalidMaskSpecError);
  });

  it('the error names the field and carries a stable code', () => {
    try {
      compileDetectors([{ type: 'email' }, { type: 'custom', pattern: '(a' }]);
      throw new Error('expected a throw');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidMaskPatternError);
      expect((err as InvalidMaskPatternError).code).toBe('MASK_INVALID_PATTERN');
      expect((err as Error).message).toContain('(a');
    }
  });

  it('refuse unknown types and strategies', () => {
    expect(() => compileDetectors([{ type: 'passport' as DetectorType }])).toThrow(InvalidMaskSpecError);
    expect(() => compileDetectors([{ type: 'pan', strategy: 'shred' as 'redact' }])).toThrow(/unknown strategy/);
    expect(() => compileDetectors([{ type: 'pan', keep: -1 }])).toThrow(/keep/);
  });

  it('(a+)+$ over a long run of a then ! completes (RE2 does not backtrack)', () => {
    const text = `${'a'.repeat(200_000)}!`;
    expect(found('custom', text, '(a+)+$')).toEqual([]);
    expect(found('custom', 'xx aaa', '(a+)+$')).toEqual(['aaa']);
  });

  it('built-in scanners stay linear on adversarial input', () => {
    // Each of these would be quadratic for a naive "retry at every offset" scanner; they must just finish.
    const detectors = compileDetectors([
      { type: 'pan' }, { type: 'ssn' }, { type: 'email' }, { type: 'phone' }, { type: 'iban' },
      { type: 'jwt' }, { type: 'cloudKey' }, { type: 'privateKey' },
    ]);
    const inputs = [
      '4 '.repeat(100_000),
      '1-'.repeat(100_000),
      'a@'.repeat(100_000),
      `${'a'.repeat(100_000)}@`,
      'eyJ'.repeat(100_000),
      `eyJ${'a'.repeat(100_000)}.`,
      'AKIA'.repeat(100_000),
      '-----BEGIN '.repeat(50_000),
      'DE89 '.repeat(100_000),
      '+1 '.repeat(100_000),
      '(415) '.repeat(100_000),
    ];
    for (const text of inputs) expect(Array.isArray(findSensitive(text, detectors))).toBe(true);
  });
});
