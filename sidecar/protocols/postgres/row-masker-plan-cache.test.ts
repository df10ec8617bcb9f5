// The session's cache of row masking plans: a RowDescription parsed once per
// distinct body, a plan reused only for the same layout, lineage (by
// identity) and statement lineage, and a warm plan masking exactly as a
// fresh one.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { compileMasking, type MaskingSpecLike } from '../../../core/masking/masker.js';
import { PG_OID } from '../../../core/masking/pg-value-masker.js';
import { classifySql, initSqlParser } from '../../../core/sql/classify.js';
import type { OutputColumn, SqlStatement } from '../../../core/sql/types.js';
import { EMPTY_LINEAGE, type ColumnOrigin, type Lineage } from './catalog-lineage.js';
import type { DataRowMasker, SessionMasking } from './masking-seam.js';
import { outputsKey, RowPlanCache } from './row-masker-plan-cache.js';
import { createSessionMasking } from './row-masker-seam.js';
import type { RowMasker } from './row-masker.js';

beforeAll(async () => {
  await initSqlParser();
});

const CUSTOMERS = 16401;

interface Col {
  name: string;
  tableOid?: number;
  attnum?: number;
  typeOid?: number;
  format?: number;
}

/** A RowDescription body (no type byte or length). */
function rowDescription(cols: readonly Col[]): Buffer {
  const parts: Buffer[] = [Buffer.from([cols.length >> 8, cols.length & 0xff])];
  for (const c of cols) {
    const f = Buffer.alloc(18);
    f.writeUInt32BE(c.tableOid ?? 0, 0);
    f.writeInt16BE(c.attnum ?? 0, 4);
    f.writeUInt32BE(c.typeOid ?? PG_OID.text, 6);
    f.writeInt16BE(-1, 10);
    f.writeInt32BE(-1, 12);
    f.writeInt16BE(c.format ?? 0, 16);
    parts.push(Buffer.from(`${c.name}\0`), f);
  }
  return Buffer.concat(parts);
}

function dataRow(values: readonly (string | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(v === null ? -1 : Buffer.byteLength(v));
    parts.push(len);
    if (v !== null) parts.push(Buffer.from(v));
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head[0] = 0x44;
  head.writeInt32BE(6 + body.length, 1);
  head.writeInt16BE(values.length, 5);
  return Buffer.concat([head, body]);
}

function texts(buf: Buffer): (string | null)[] {
  const out: (string | null)[] = [];
  let pos = 7;
  for (let i = buf.readInt16BE(5); i > 0; i--) {
    const len = buf.readInt32BE(pos);
    pos += 4;
    out.push(len < 0 ? null : buf.toString('utf8', pos, pos + len));
    pos += Math.max(len, 0);
  }
  return out;
}

const lineageOf = (entries: Record<number, string>): Lineage =>
  new Map(Object.entries(entries).map(([attnum, column]): [string, ColumnOrigin] => [`${CUSTOMERS}:${attnum}`, { table: 'public.customers', column }]));

const SPEC: MaskingSpecLike = {
  columns: [{ table: 'customers', column: 'ssn', strategy: 'partial', keep: 4 }],
  detectors: [{ type: 'email' }, { type: 'pan' }],
};

function session(): SessionMasking {
  const m = createSessionMasking(SPEC);
  if (m === null) throw new Error('no masking');
  return m;
}

function mask(m: DataRowMasker | null, values: (string | null)[]): (string | null)[] {
  if (m === null) return values;
  return texts(m.maskDataRow(dataRow(values)).buf);
}

const one = (sql: string): SqlStatement => {
  const s = classifySql(sql).statements[0];
  if (s === undefined) throw new Error(sql);
  return s;
};

describe('RowPlanCache layouts', () => {
  it('parses each distinct RowDescription once: the same bytes give the same layout', () => {
    const s = session();
    const body = rowDescription([{ name: 'id', tableOid: CUSTOMERS, attnum: 1, typeOid: PG_OID.int4 }, { name: 'x', tableOid: CUSTOMERS, attnum: 3 }, { name: 'y', tableOid: 77, attnum: 1 }, { name: 'c' }]);
    const a = s.rowLayout(body);
    expect(s.rowLayout(Buffer.from(body))).toBe(a);
    expect(a.tableOids).toEqual([CUSTOMERS, 77]);
    expect(a.fields.map((f) => [f.name, f.tableOid, f.columnAttr, f.typeOid])).toEqual([
      ['id', CUSTOMERS, 1, PG_OID.int4],
      ['x', CUSTOMERS, 3, PG_OID.text],
      ['y', 77, 1, PG_OID.text],
      ['c', 0, 0, PG_OID.text],
    ]);
    expect(s.rowLayout(rowDescription([{ name: 'x', tableOid: CUSTOMERS, attnum: 3 }]))).not.toBe(a);
    // The bytes are its own: a frame buffer reused for later input changes nothing.
    const reused = Buffer.from(body);
    expect(s.rowLayout(reused)).toBe(a);
    reused.writeUInt32BE(PG_OID.int8, reused.indexOf('x\0') + 2 + 6); // column x becomes an int8
    const changed = s.rowLayout(reused);
    expect(changed).not.toBe(a);
    expect(changed.fields[1]?.typeOid).toBe(PG_OID.int8);
    expect(s.rowLayout(body)).toBe(a);
    // Malformed: the count promises a field the body does not hold.
    expect(() => s.rowLayout(body.subarray(0, body.length - 3))).toThrow();
  });

  it('starts over beyond its limits, and still masks what it plans', () => {
    const cache = new RowPlanCache(compileMasking(SPEC), { maxLayouts: 2, maxPlansPerLayout: 1 });
    const lineage = lineageOf({ 3: 'ssn' });
    const bodies = [3, 4, 5].map((n) => rowDescription([{ name: `c${n}`, tableOid: CUSTOMERS, attnum: 3 }]));
    const first = cache.layout(bodies[0] as Buffer);
    cache.layout(bodies[1] as Buffer);
    cache.layout(bodies[2] as Buffer); // the third: the cache starts over
    expect(cache.layout(bodies[0] as Buffer)).not.toBe(first);
    const layout = cache.layout(bodies[0] as Buffer);
    for (const statement of [undefined, one('SELECT ssn FROM customers'), undefined]) {
      const plan = cache.plan(layout, lineage, statement);
      expect(plan?.actions).toEqual([{ kind: 'rule', strategy: 'partial', keep: 4 }]);
    }
  });
});

describe('RowPlanCache plans', () => {
  const layoutCols: Col[] = [{ name: 'id', tableOid: CUSTOMERS, attnum: 1, typeOid: PG_OID.int4 }, { name: 'x', tableOid: CUSTOMERS, attnum: 3 }];

  it('a warm plan masks as the first one did, and is the same plan', () => {
    const s = session();
    const lineage = lineageOf({ 1: 'id', 3: 'ssn' });
    const layout = s.rowLayout(rowDescription(layoutCols));
    const first = s.forRows(layout, lineage, undefined);
    expect(mask(first, ['1', '123-45-6789'])).toEqual(['1', '***-**-6789']);
    for (let i = 0; i < 3; i++) {
      const warm = s.forRows(s.rowLayout(rowDescription(layoutCols)), lineage, undefined);
      expect(mask(warm, [String(i), '987-65-4321'])).toEqual([String(i), '***-**-4321']);
      expect((warm as RowMasker).actions).toBe((first as RowMasker).actions);
      // Each result counts its own masked values.
      expect(warm?.maskedColumns?.()).toEqual(['public.customers.ssn']);
    }
    expect(s.forRows(layout, lineage, undefined)?.maskedColumns?.()).toEqual([]);
  });

  it('a changed RowDescription gets its own plan', () => {
    const s = session();
    const lineage = lineageOf({ 1: 'id', 2: 'name', 3: 'ssn' });
    const ssn = s.rowLayout(rowDescription(layoutCols));
    // The same output name, another column: no rule, only detectors.
    const name = s.rowLayout(rowDescription([layoutCols[0] as Col, { name: 'x', tableOid: CUSTOMERS, attnum: 2 }]));
    expect(mask(s.forRows(ssn, lineage, undefined), ['1', '123-45-6789'])).toEqual(['1', '***-**-6789']);
    expect(mask(s.forRows(name, lineage, undefined), ['1', '123-45-6789'])).toEqual(['1', '123-45-6789']);
    expect(mask(s.forRows(name, lineage, undefined), ['1', 'a@example.com'])).toEqual(['1', '[REDACTED:email]']);
    expect(mask(s.forRows(ssn, lineage, undefined), ['2', '123-45-6789'])).toEqual(['2', '***-**-6789']);
    // The same column as int8 (a card fits): detectors run on it; as int4 (it cannot) they do not.
    const big = s.rowLayout(rowDescription([{ name: 'n', typeOid: PG_OID.int8 }]));
    const small = s.rowLayout(rowDescription([{ name: 'n', typeOid: PG_OID.int4 }]));
    expect(mask(s.forRows(big, lineage, undefined), ['4111111111111111'])).toEqual(['0']);
    expect(s.forRows(small, lineage, undefined)).toBeNull();
  });

  it('a new lineage map (a table renamed, or refetched) is planned anew', () => {
    const s = session();
    const layout = s.rowLayout(rowDescription(layoutCols));
    expect(mask(s.forRows(layout, lineageOf({ 3: 'ssn' }), undefined), ['1', '123-45-6789'])).toEqual(['1', '***-**-6789']);
    expect(mask(s.forRows(layout, lineageOf({ 3: 'note' }), undefined), ['1', '123-45-6789'])).toEqual(['1', '123-45-6789']);
    expect(mask(s.forRows(layout, lineageOf({ 3: 'ssn' }), undefined), ['1', '123-45-6789'])).toEqual(['1', '***-**-6789']);
    // Two empty maps stand for the same (no) lineage.
    const computed = s.rowLayout(rowDescription([{ name: 'upper' }]));
    const a = s.forRows(computed, new Map(), undefined);
    expect((s.forRows(computed, EMPTY_LINEAGE, undefined) as RowMasker).actions).toBe((a as RowMasker).actions);
  });

  it('the statement lineage is part of the key', () => {
    const s = session();
    const layout = s.rowLayout(rowDescription([{ name: 'reverse' }])); // computed: table OID 0
    const readsSsn = one('SELECT reverse(ssn) FROM customers');
    const readsName = one('SELECT reverse(name) FROM customers');
    expect(mask(s.forRows(layout, EMPTY_LINEAGE, readsSsn), ['9876-54-321'])).toEqual(['[REDACTED]']);
    expect(mask(s.forRows(layout, EMPTY_LINEAGE, readsName), ['9876-54-321'])).toEqual(['9876-54-321']);
    expect(mask(s.forRows(layout, EMPTY_LINEAGE, undefined), ['9876-54-321'])).toEqual(['9876-54-321']);
    expect(mask(s.forRows(layout, EMPTY_LINEAGE, one('SELECT reverse(ssn) FROM customers')), ['9876-54-321'])).toEqual(['[REDACTED]']);
    // An output list that is not frozen may change: its key is not remembered.
    const cols: OutputColumn[] = [{ name: 'reverse', refs: [{ table: 'customers', column: 'name' }], direct: false }];
    const mutable = { ...readsName, outputColumns: cols };
    expect(mask(s.forRows(layout, EMPTY_LINEAGE, mutable), ['9876-54-321'])).toEqual(['9876-54-321']);
    cols[0] = { name: 'reverse', refs: [{ table: 'customers', column: 'ssn' }], direct: false };
    expect(mask(s.forRows(layout, EMPTY_LINEAGE, mutable), ['9876-54-321'])).toEqual(['[REDACTED]']);
  });

  it('statement lineage keys cannot be forged by names holding separators or quotes', () => {
    const stmt = (refs: OutputColumn['refs'], direct = false): SqlStatement => ({ ...one('SELECT 1'), outputColumns: [{ name: 'c', refs, direct }] });
    const keys = [
      outputsKey(stmt([{ table: 'a","b', column: 'c' }])),
      outputsKey(stmt([{ table: 'a', column: 'b","c' }])),
      outputsKey(stmt([{ table: 'a', column: 'b' }, { table: 'c', column: 'd' }])),
      outputsKey(stmt([{ table: 'a', column: 'b' }], true)),
      outputsKey(stmt([{ column: 'b' }])),
      outputsKey(stmt([{ table: '', column: 'b' }])),
      outputsKey({ ...one('SELECT 1'), outputColumns: [] }),
      outputsKey(undefined),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});
