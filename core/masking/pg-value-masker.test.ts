import { describe, expect, it } from '@jest/globals';
import { decodeNumericBinary, encodeNumericBinary, pgTypeClass, PG_OID } from './pg-value-masker.js';

describe('binary numeric', () => {
  it.each(['0', '1', '-1', '12.5', '0.0', '10000', '123456789.000100', '-0.00001234', '4111111111111111', '00012.30', 'NaN', 'Infinity', '-Infinity'])(
    'round-trips %s',
    (text) => {
      const b = encodeNumericBinary(text);
      expect(b).toBeDefined();
      const back = decodeNumericBinary(b ?? Buffer.alloc(0));
      if (/^[-\d]/.test(text) && text !== '-Infinity') expect(Number(back)).toBe(Number(text));
      else expect(back).toBe(text);
      // scale is kept: as many fraction digits as written
      const dot = text.indexOf('.');
      if (dot >= 0) expect(back?.split('.')[1]?.length).toBe(text.length - dot - 1);
    },
  );

  it('matches PostgreSQL\'s encoding of 12.5 and of zero', () => {
    // ndigits 2, weight 0, sign +, dscale 1, digits 12 and 5000
    expect(encodeNumericBinary('12.5')?.toString('hex')).toBe('0002' + '0000' + '0000' + '0001' + '000c' + '1388');
    expect(encodeNumericBinary('0')?.toString('hex')).toBe('0000000000000000');
  });

  it('refuses what is not a decimal', () => {
    for (const bad of ['', '-', '1e5', 'abc', '1.2.3']) expect(encodeNumericBinary(bad)).toBeUndefined();
  });
});

describe('pgTypeClass', () => {
  it.each([
    [PG_OID.text, 'text'],
    [PG_OID.bpchar, 'text'],
    [PG_OID.jsonb, 'jsonb'],
    [PG_OID.int8, 'int'],
    [PG_OID.numeric, 'numeric'],
    [PG_OID.timestamptz, 'scalar'],
    [PG_OID.bytea, 'opaque'],
    [1009, 'opaque'],
    [16500, 'opaque'],
  ])('%i → %s', (oid, cls) => {
    expect(pgTypeClass(oid)).toBe(cls);
  });
});
