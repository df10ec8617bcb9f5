import { describe, expect, it } from '@jest/globals';
import { compileMasking } from './masker.js';
import { MASKED_DETAIL, maskErrorFields } from './pg-error-masker.js';

const masking = compileMasking({ columns: [{ table: 'customers', column: 'ssn' }] });

const mask = (fields: Array<[string, string]>, touched: boolean): string[] =>
  maskErrorFields(fields.map(([code, value]) => ({ code, value })), masking, { touchedMaskedColumn: touched }).fields.map((f) => f.value);

describe('maskErrorFields when the statement touched a masked column', () => {
  it('replaces CONTEXT whole: a JSON parse error prints the input there, unquoted', () => {
    const out = mask(
      [
        ['M', 'invalid input syntax for type json'],
        ['D', 'Token "9999888877776666x" is invalid.'],
        ['W', 'JSON data, line 1: 9999888877776666x'],
      ],
      true,
    );
    expect(out).toEqual(['invalid input syntax for type json', MASKED_DETAIL, MASKED_DETAIL]);
  });

  it('redacts byte dumps and numbers in MESSAGE and HINT (an encoding error prints the bytes it read)', () => {
    const out = mask(
      [
        ['M', 'invalid byte sequence for encoding "UTF8": 0xf0 0x39 0x38 0x37'],
        ['H', 'index 57 out of valid range, 0..0'],
        ['C', '22021'],
      ],
      true,
    );
    expect(out).toEqual([
      'invalid byte sequence for encoding "[REDACTED]": [REDACTED] [REDACTED] [REDACTED] [REDACTED]',
      'index [REDACTED] out of valid range, [REDACTED]..[REDACTED]',
      '22021',
    ]);
    expect(out.join(' ')).not.toMatch(/39|57/);
  });

  it('leaves messages alone when no masked column was touched (detectors still run)', () => {
    const fields: Array<[string, string]> = [
      ['M', 'index 57 out of valid range, 0..0'],
      ['W', 'JSON data, line 1: 42x'],
    ];
    expect(mask(fields, false)).toEqual(fields.map(([, v]) => v));
  });
});
