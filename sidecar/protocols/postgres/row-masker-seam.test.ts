import { beforeAll, describe, expect, it } from '@jest/globals';
import { classifySql, initSqlParser } from '../../../core/sql/classify.js';
import type { SqlStatement } from '../../../core/sql/types.js';
import { frame } from './body-reader.js';
import { createSessionMasking } from './row-masker-seam.js';

beforeAll(async () => {
  await initSqlParser();
});

const one = (sql: string): SqlStatement => {
  const s = classifySql(sql).statements[0];
  if (s === undefined) throw new Error(sql);
  return s;
};

const masking = createSessionMasking({
  columns: [{ table: 'customers', column: 'ssn' }, { table: 'public.customers', column: 'card', strategy: 'partial', keep: 4 }],
  jsonFields: [{ path: '$.secret' }],
  detectors: [{ type: 'pan' }, { type: 'email' }],
});

const notification = (channel: string, payload: string): Buffer =>
  frame(0x41, Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from(`${channel}\0${payload}\0`)]));

describe('createSessionMasking', () => {
  it('masks NotificationResponse payloads: JSON by field paths and detectors, other text by detectors', () => {
    if (masking === null) throw new Error('no masking');
    const json = masking.maskNotification?.(notification('changes', '{"secret":"s3","card":"4111111111111111","id":1}'));
    expect(json?.masked).toBe(2);
    const text = json?.buf.toString('utf8') ?? '';
    expect(text).toContain('changes\0');
    expect(text).not.toContain('4111111111111111');
    expect(text).not.toContain('s3');
    expect(text).toContain('"id":1');
    const plain = masking.maskNotification?.(notification('c', 'mail ada@example.com now'));
    expect(plain?.buf.toString('utf8')).not.toContain('ada@example.com');
    const clean = notification('c', 'nothing here');
    expect(masking.maskNotification?.(clean).buf).toBe(clean);
    expect(() => masking.maskNotification?.(frame(0x41, Buffer.from([0, 0, 0, 1, 0x63])))).toThrow(/malformed/);
  });

  it('names the masked columns of a table for whole-row predicates', () => {
    expect(masking?.maskedColumnsOf?.('customers')).toEqual(['ssn', 'card']);
    expect(masking?.maskedColumnsOf?.('public.customers')).toEqual(['ssn', 'card']);
    expect(masking?.maskedColumnsOf?.('orders')).toEqual([]);
  });

  it('reads the COPY format from the parsed options, not from the text', () => {
    if (masking === null) throw new Error('no masking');
    const copy = { format: 0, columnFormats: [0, 0] };
    const line = (m: ReturnType<typeof masking.forCopy>, text: string): string =>
      m?.maskCopyData(frame(0x64, Buffer.from(text))).buf.subarray(5).toString() ?? text;
    // A column named csv does not make the data CSV: the tab still separates the fields.
    const textual = masking.forCopy(one('COPY (SELECT id, ssn AS csv FROM customers) TO STDOUT'), copy);
    expect(line(textual, '2\t987-65-4321\n')).not.toContain('987-65-4321');
    const csv = masking.forCopy(one("COPY (SELECT id, ssn FROM customers) TO STDOUT (FORMAT 'csv')"), copy);
    expect(line(csv, '2,987-65-4321\n')).not.toContain('987-65-4321');
    for (const sql of [
      "COPY (SELECT id, ssn FROM customers) TO STDOUT (DELIMITER '|')",
      "COPY (SELECT id, ssn FROM customers) TO STDOUT (ENCODING 'SJIS')",
      "COPY (SELECT id, ssn FROM customers) TO STDOUT (FORMAT 'ambiguous')",
    ]) {
      expect(() => masking.forCopy(one(sql), copy)).toThrow(/cannot be masked/);
    }
  });
});
