import { describe, expect, it } from '@jest/globals';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DataRowMessage, NoticeMessage } from 'pg-protocol/dist/messages.js';
import { MaskFrameError, MaskUnsupportedError } from '../../../core/masking/errors.js';
import { compileMasking, type MaskingSpecLike } from '../../../core/masking/masker.js';
import { PG_OID, decodeNumericBinary } from '../../../core/masking/pg-value-masker.js';
import {
  createCopyMasker,
  createRowMasker,
  lineageKey,
  maskCopyTextLine,
  maskErrorFields,
  maskErrorFrame,
  MASKED_DETAIL,
  planCopyColumns,
  planRowMasking,
  touchesMaskedColumn,
  unresolvedTableOids,
  type ColumnLineage,
  type RowField,
} from './row-masker.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const CUSTOMERS = 16401;
const CARDS = 16420;

// ---------------------------------------------------------------- helpers

function field(name: string, typeOid: number, opts: Partial<RowField> = {}): RowField {
  return { name, tableOid: 0, attnum: 0, typeOid, typeSize: -1, typeMod: -1, format: 0, ...opts };
}

type Value = string | Buffer | null;

function dataRow(values: readonly Value[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    const len = Buffer.alloc(4);
    if (v === null) {
      len.writeInt32BE(-1);
      parts.push(len);
    } else {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      len.writeInt32BE(b.length);
      parts.push(len, b);
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head[0] = 0x44;
  head.writeInt32BE(4 + 2 + body.length, 1);
  head.writeInt16BE(values.length, 5);
  return Buffer.concat([head, body]);
}

/** Independent re-parse with our own reader: checks every length and that the frame is fully consumed. */
function values(buf: Buffer): (Buffer | null)[] {
  expect(buf[0]).toBe(0x44);
  expect(buf.readInt32BE(1)).toBe(buf.length - 1);
  const n = buf.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let pos = 7;
  for (let i = 0; i < n; i++) {
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len === -1) {
      out.push(null);
      continue;
    }
    out.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  expect(pos).toBe(buf.length);
  return out;
}

/** Re-parse with pg-protocol (node-postgres's own parser). */
function pgParse(buf: Buffer): BackendMessage[] {
  const msgs: BackendMessage[] = [];
  new Parser().parse(buf, (m) => msgs.push(m));
  return msgs;
}

function texts(buf: Buffer): (string | null)[] {
  const [msg] = pgParse(buf);
  expect(msg?.name).toBe('dataRow');
  return (msg as DataRowMessage).fields as (string | null)[];
}

const lineage = new Map<string, ColumnLineage>([
  [lineageKey(CUSTOMERS, 1), { table: 'public.customers', column: 'id' }],
  [lineageKey(CUSTOMERS, 2), { table: 'public.customers', column: 'name' }],
  [lineageKey(CUSTOMERS, 3), { table: 'public.customers', column: 'ssn' }],
  [lineageKey(CUSTOMERS, 4), { table: 'public.customers', column: 'email' }],
  [lineageKey(CUSTOMERS, 5), { table: 'public.customers', column: 'profile' }],
  [lineageKey(CARDS, 1), { table: 'billing.cards', column: 'pan' }],
  [lineageKey(CARDS, 2), { table: 'billing.cards', column: 'holder_id' }],
  [lineageKey(CARDS, 3), { table: 'billing.cards', column: 'code' }],
]);

const POLICY: MaskingSpecLike = {
  columns: [
    { table: 'customers', column: 'ssn', strategy: 'partial', keep: 4 },
    { table: 'customers', column: 'email', strategy: 'hash' },
    { table: 'billing.cards', column: 'pan', strategy: 'redact' },
    { table: 'billing.cards', column: 'holder_id', strategy: 'hash' },
    { table: 'billing.cards', column: 'code', strategy: 'partial', keep: 2 },
  ],
  detectors: [{ type: 'ssn' }, { type: 'pan' }, { type: 'email' }],
};
const masking = compileMasking(POLICY, { hashKey: KEY });

const idF = field('id', PG_OID.int4, { tableOid: CUSTOMERS, attnum: 1, typeSize: 4 });
const nameF = field('name', PG_OID.text, { tableOid: CUSTOMERS, attnum: 2 });
const ssnF = field('x', PG_OID.text, { tableOid: CUSTOMERS, attnum: 3 }); // SELECT ssn AS x
const emailF = field('email', PG_OID.varchar, { tableOid: CUSTOMERS, attnum: 4, typeMod: 104 });

// ---------------------------------------------------------------- DataRow

describe('createRowMasker', () => {
  it('returns null when nothing can need masking', () => {
    expect(createRowMasker({ fields: [idF, nameF], lineage, masking: compileMasking({}) })).toBeNull();
    const rulesOnly = compileMasking({ columns: [{ table: 'customers', column: 'ssn' }] });
    expect(createRowMasker({ fields: [idF, nameF], lineage, masking: rulesOnly })).toBeNull();
    // detectors configured, but no column type can carry free text
    const types = [PG_OID.date, PG_OID.bool, PG_OID.uuid, PG_OID.timestamptz].map((t, i) => field(`c${i}`, t));
    expect(createRowMasker({ fields: types, lineage, masking })).toBeNull();
  });

  it('masks by lineage whatever the output name, leaving other values byte-identical', () => {
    const rm = createRowMasker({ fields: [idF, nameF, ssnF, emailF], lineage, masking });
    expect(rm).not.toBeNull();
    const row = dataRow(['42', 'Zoë Ünal', '123-45-6789', 'zoe@example.com']);
    const { buf, masked } = rm?.maskDataRow(row) ?? { buf: row, masked: -1 };
    expect(masked).toBe(2);
    const got = texts(buf);
    expect(got[0]).toBe('42');
    expect(got[1]).toBe('Zoë Ünal');
    expect(got[2]).toBe('***-**-6789');
    expect(got[3]).toMatch(/^h:[0-9a-f]{16}$/);
    const before = values(row);
    const after = values(buf);
    expect(after[0]?.equals(before[0] ?? Buffer.alloc(0))).toBe(true);
    expect(after[1]?.equals(before[1] ?? Buffer.alloc(0))).toBe(true);
  });

  it('names what it masked (columns by lineage or rule, content by detector), never values', () => {
    const upper = field('upper', PG_OID.text); // upper(name): no rule, detectors run
    const rev = field('reverse', PG_OID.text); // reverse(ssn): the rule, through statement lineage
    const outputColumns = [
      { refs: [{ table: 'customers', column: 'id' }], direct: true },
      { refs: [{ table: 'customers', column: 'ssn' }], direct: true },
      { refs: [{ table: 'customers', column: 'email' }], direct: true },
      { refs: [{ table: 'customers', column: 'name' }], direct: false },
      { refs: [{ table: 'customers', column: 'ssn' }], direct: false },
    ];
    const rm = createRowMasker({ fields: [idF, ssnF, emailF, upper, rev], lineage, outputColumns, masking });
    expect(rm?.maskedColumns()).toEqual([]);
    rm?.maskDataRow(dataRow(['1', null, 'a@example.com', 'CARD 4111111111111111', '9876-54-321']));
    expect(rm?.maskedColumns()).toEqual(['public.customers.email', 'detector:pan', 'customers.ssn']);
    rm?.maskDataRow(dataRow(['2', '123-45-6789', null, 'NO SENSITIVE DATA', null]));
    const names = rm?.maskedColumns() ?? [];
    expect([...names].sort()).toEqual(['customers.ssn', 'detector:pan', 'public.customers.email', 'public.customers.ssn']);
    expect(JSON.stringify(names)).not.toMatch(/4111|6789|example\.com/);
  });

  it('returns the very same Buffer for a row that needs no change', () => {
    const rm = createRowMasker({ fields: [idF, nameF, ssnF], lineage, masking });
    const row = dataRow(['1', 'Alice', null]);
    const r = rm?.maskDataRow(row);
    expect(r?.buf).toBe(row);
    expect(r?.masked).toBe(0);
  });

  it('hash pseudonyms are consistent across rows and columns (joins still work)', () => {
    const rm = createRowMasker({ fields: [emailF, emailF], lineage, masking });
    const a = texts(rm?.maskDataRow(dataRow(['a@example.com', 'a@example.com'])).buf ?? Buffer.alloc(0));
    const b = texts(rm?.maskDataRow(dataRow(['a@example.com', 'b@example.com'])).buf ?? Buffer.alloc(0));
    expect(a[0]).toBe(a[1]);
    expect(b[0]).toBe(a[0]);
    expect(b[1]).not.toBe(a[0]);
  });

  it('runs detectors on computed values (table OID 0)', () => {
    const upper = field('upper', PG_OID.text);
    const rm = createRowMasker({ fields: [upper], lineage, masking });
    expect(texts(rm?.maskDataRow(dataRow(['SSN 123-45-6789 OK'])).buf ?? Buffer.alloc(0))).toEqual(['SSN [REDACTED:ssn] OK']);
  });

  it('masks a computed column whole when the statement says it reads a masked column', () => {
    // SELECT reverse(ssn) FROM customers: the detectors cannot recognise '9876-54-321'.
    const rev = field('reverse', PG_OID.text);
    const outputColumns = [{ refs: [{ table: 'customers', column: 'ssn' }], direct: false }];
    const rm = createRowMasker({ fields: [rev], lineage, outputColumns, masking });
    // partial (keep last 4) would reveal the first digits of the original: computed columns get redact.
    expect(texts(rm?.maskDataRow(dataRow(['9876-54-321'])).buf ?? Buffer.alloc(0))).toEqual(['[REDACTED]']);
  });

  it('when the classifier column count differs, computed columns take the strictest referenced rule', () => {
    const f = [idF, field('enc', PG_OID.text), nameF];
    const outputColumns = [{ refs: [{ column: 'holder_id' }], direct: false }]; // unqualified, misaligned
    const rm = createRowMasker({ fields: f, lineage, outputColumns, masking });
    const got = texts(rm?.maskDataRow(dataRow(['1', '0x3132', 'Al'])).buf ?? Buffer.alloc(0));
    expect(got[0]).toBe('1');
    expect(got[1]).toMatch(/^h:[0-9a-f]{16}$/);
    expect(got[2]).toBe('Al');
  });

  it('whole-row references (row_to_json(c)) take the table\'s strictest rule', () => {
    const j = field('row_to_json', PG_OID.json);
    const outputColumns = [{ refs: [{ table: 'customers', column: '*' }], direct: false }];
    const rm = createRowMasker({ fields: [j], lineage, outputColumns, masking });
    const got = texts(rm?.maskDataRow(dataRow(['{"id":1,"ssn":"078-05-1120x","note":"n"}'])).buf ?? Buffer.alloc(0));
    // customers.ssn's partial becomes redact through an expression, stricter than customers.email's hash
    expect(JSON.parse(got[0] ?? 'x')).toBe('[REDACTED]');
  });

  it('SELECT id, *, upper(ssn): star columns keep catalog lineage, the computed suffix is lined up', () => {
    const outputColumns = [
      { refs: [{ table: 'customers', column: 'id' }], direct: true },
      { refs: [{ table: 'customers', column: '*' }], direct: true, star: true },
      { refs: [{ table: 'customers', column: 'ssn' }], direct: false },
    ];
    const f = [idF, idF, nameF, ssnF, field('upper', PG_OID.text)];
    const rm = createRowMasker({ fields: f, lineage, outputColumns, masking });
    expect(rm?.actions).toEqual([
      { kind: 'detect' },
      { kind: 'detect' },
      { kind: 'detect' },
      { kind: 'rule', strategy: 'partial', keep: 4 },
      { kind: 'rule', strategy: 'redact', keep: 4 },
    ]);
  });

  it('accepts the proxy\'s RowDescription field shape (columnAttr, typeModifier)', () => {
    const wire = { name: 'x', tableOid: CUSTOMERS, columnAttr: 3, typeOid: PG_OID.text, typeSize: -1, typeModifier: -1, format: 0 };
    const rm = createRowMasker({ fields: [wire], lineage, masking });
    expect(texts(rm?.maskDataRow(dataRow(['123-45-6789'])).buf ?? Buffer.alloc(0))).toEqual(['***-**-6789']);
    expect(unresolvedTableOids([{ ...wire, tableOid: 5 }], lineage)).toEqual([5]);
  });

  it('keeps NULL as NULL and rejects malformed frames', () => {
    const rm = createRowMasker({ fields: [ssnF], lineage, masking });
    const row = dataRow([null]);
    expect(rm?.maskDataRow(row).buf).toBe(row);
    const good = dataRow(['123-45-6789']);
    const badType = Buffer.from(good);
    badType[0] = 0x54;
    const badLen = Buffer.from(good);
    badLen.writeInt32BE(999, 1);
    const truncated = good.subarray(0, good.length - 2);
    const fixedTrunc = Buffer.from(truncated);
    fixedTrunc.writeInt32BE(fixedTrunc.length - 1, 1);
    for (const bad of [badType, badLen, fixedTrunc, dataRow(['a', 'b'])]) {
      expect(() => rm?.maskDataRow(bad)).toThrow(MaskFrameError);
    }
  });

  it('reports table OIDs the lineage map does not resolve', () => {
    expect(unresolvedTableOids([idF, field('x', PG_OID.text, { tableOid: 99, attnum: 1 }), field('y', 25)], lineage)).toEqual([99]);
  });
});

describe('text-format values stay valid for their type', () => {
  const typed = compileMasking(
    {
      columns: [
        { table: 't', column: 'i2', strategy: 'hash' },
        { table: 't', column: 'i8', strategy: 'hash' },
        { table: 't', column: 'n', strategy: 'hash' },
        { table: 't', column: 'n0', strategy: 'hash' },
        { table: 't', column: 'f', strategy: 'partial', keep: 2 },
        { table: 't', column: 'u', strategy: 'hash' },
        { table: 't', column: 'd', strategy: 'redact' },
        { table: 't', column: 'b', strategy: 'partial', keep: 2 },
        { table: 't', column: 'j', strategy: 'redact' },
        { table: 't', column: 'arr', strategy: 'redact' },
        { table: 't', column: 'i4', strategy: 'redact' },
      ],
      jsonFields: [{ path: '$.card' }],
      detectors: [{ type: 'email' }, { type: 'pan' }],
    },
    { hashKey: KEY },
  );
  const T = 17000;
  const cols: [string, number, number][] = [
    ['i2', PG_OID.int2, -1],
    ['i8', PG_OID.int8, -1],
    ['n', PG_OID.numeric, ((5 << 16) | 2) + 4], // numeric(5,2)
    ['n0', PG_OID.numeric, ((2 << 16) | 2) + 4], // numeric(2,2): no integer digits
    ['f', PG_OID.float8, -1],
    ['u', PG_OID.uuid, -1],
    ['d', PG_OID.date, -1],
    ['b', PG_OID.bpchar, 8 + 4], // char(8)
    ['j', PG_OID.jsonb, -1],
    ['arr', 1009, -1], // text[]
    ['i4', PG_OID.int4, -1],
    ['doc', PG_OID.json, -1], // no rule: JSON paths + detectors
    ['big', PG_OID.int8, -1], // no rule: a card stored as a number
  ];
  const lin = new Map(cols.map(([c], i) => [lineageKey(T, i + 1), { table: 'public.t', column: c }]));
  const fields = cols.map(([c, oid, mod], i) => field(c, oid, { tableOid: T, attnum: i + 1, typeMod: mod }));

  it('masks each type into a value of that type', () => {
    const rm = createRowMasker({ fields, lineage: lin, masking: typed });
    const row = dataRow([
      '12345',
      '-9000000000000000000',
      '123.45',
      '0.42',
      '1234.5678',
      '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
      '2024-01-31',
      'AB12CD34',
      '{"a": 1}',
      '{alice,bob}',
      '7',
      '{"card": "4111111111111111", "note": "mail bob@example.com", "n": 12}',
      '4111111111111111',
    ]);
    const got = texts(rm?.maskDataRow(row).buf ?? Buffer.alloc(0));
    const [i2, i8, n, n0, f, u, d, b, j, arr, i4, doc, big] = got;
    expect(Number(i2)).toBeGreaterThanOrEqual(0);
    expect(Number(i2)).toBeLessThanOrEqual(32767);
    expect(i8).toMatch(/^\d+$/);
    expect(BigInt(i8 ?? 'x')).toBeLessThanOrEqual(9223372036854775807n);
    expect(n).toMatch(/^\d{1,3}$/); // fits numeric(5,2)
    expect(n0).toBe('0');
    expect(f).toBe('0000.0078');
    expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(d).toBeNull();
    expect(b).toBe('******34');
    expect(JSON.parse(j ?? 'x')).toBe('[REDACTED]');
    expect(arr).toBeNull();
    expect(i4).toBe('0');
    expect(JSON.parse(doc ?? 'x')).toEqual({ card: '[REDACTED]', note: 'mail [REDACTED:email]', n: 12 });
    expect(big).toBe('0');
  });

  it('pads a masked bpchar back to its declared length', () => {
    const m = compileMasking({ columns: [{ table: 't', column: 'b', strategy: 'redact' }] });
    const bf = field('b', PG_OID.bpchar, { tableOid: T, attnum: 1, typeMod: 16 + 4 });
    const rm = createRowMasker({ fields: [bf], lineage: new Map([[lineageKey(T, 1), { table: 'public.t', column: 'b' }]]), masking: m });
    expect(texts(rm?.maskDataRow(dataRow(['x'.repeat(16)])).buf ?? Buffer.alloc(0))).toEqual(['[REDACTED]      ']);
  });

  it('detectors replace in place inside arrays and records (no quoting-sensitive characters)', () => {
    const arrF = field('emails', 1009);
    const rm = createRowMasker({ fields: [arrF], lineage, masking });
    expect(texts(rm?.maskDataRow(dataRow(['{alice@example.com,"b c"}'])).buf ?? Buffer.alloc(0))).toEqual(['{[REDACTED:email],"b c"}']);
  });
});

describe('binary format', () => {
  const T = 18000;
  const m = compileMasking(
    {
      columns: [
        { table: 't', column: 'txt', strategy: 'partial', keep: 3 },
        { table: 't', column: 'i4', strategy: 'hash' },
        { table: 't', column: 'ts', strategy: 'redact' },
        { table: 't', column: 'u', strategy: 'hash' },
        { table: 't', column: 'num', strategy: 'partial' },
        { table: 't', column: 'i2', strategy: 'redact' },
      ],
      detectors: [{ type: 'pan' }, { type: 'email' }],
    },
    { hashKey: KEY },
  );
  const cols: [string, number][] = [
    ['txt', PG_OID.text],
    ['i4', PG_OID.int4],
    ['ts', PG_OID.timestamptz],
    ['u', PG_OID.uuid],
    ['num', PG_OID.numeric],
    ['i2', PG_OID.int2],
    ['big', PG_OID.int8],
    ['jb', PG_OID.jsonb],
    ['name', PG_OID.name],
    ['bytes', PG_OID.bytea],
    ['num2', PG_OID.numeric],
    ['f8', PG_OID.float8],
  ];
  const lin = new Map(cols.map(([c], i) => [lineageKey(T, i + 1), { table: 'public.t', column: c }]));
  const fields = cols.map(([c, oid], i) => field(c, oid, { tableOid: T, attnum: i + 1, format: 1 }));

  const i4 = Buffer.alloc(4);
  i4.writeInt32BE(123456);
  const ts = Buffer.alloc(8);
  ts.writeBigInt64BE(789000000000n);
  const i2 = Buffer.alloc(2);
  i2.writeInt16BE(-77);
  const big = Buffer.alloc(8);
  big.writeBigInt64BE(4111111111111111n);
  // numeric 4111111111111111: base-10000 digits 4111 1111 1111 1111, weight 3
  const numCard = Buffer.from([0, 4, 0, 3, 0, 0, 0, 0, 0x10, 0x0f, 0x04, 0x57, 0x04, 0x57, 0x04, 0x57]);
  // numeric 12.5: digits 12, 5000; weight 0; dscale 1
  const numSmall = Buffer.from([0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88]);
  const f8 = Buffer.alloc(8);
  f8.writeDoubleBE(2.5);

  it('masks each binary value validly, untouched ones byte-for-byte', () => {
    const rm = createRowMasker({ fields, lineage: lin, masking: m });
    const row = dataRow([
      Buffer.from('secret-value', 'utf8'),
      i4,
      ts,
      Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex'),
      numSmall,
      i2,
      big,
      Buffer.concat([Buffer.of(1), Buffer.from('{"m": "a@example.com"}')]),
      Buffer.from('bob@example.com'),
      Buffer.from([0, 1, 2, 0xff, 0xfe]),
      numCard,
      f8,
    ]);
    const r = rm?.maskDataRow(row);
    const out = values(r?.buf ?? Buffer.alloc(0));
    expect(out[0]?.toString('utf8')).toBe('******-**lue');
    expect(out[1]?.length).toBe(4);
    expect(out[1]?.readInt32BE(0)).toBeGreaterThanOrEqual(0);
    expect(out[1]?.equals(i4)).toBe(false);
    expect(out[2]).toBeNull(); // a timestamp cannot hold a marker: NULL
    expect(out[3]?.length).toBe(16);
    expect(((out[3]?.[6] ?? 0) >> 4) & 0xf).toBe(8);
    expect(decodeNumericBinary(out[4] ?? Buffer.alloc(0))).toBe('0.0'); // partial: 3 digits ≤ keep 4, all zeroed
    expect(out[5]?.length).toBe(2);
    expect(out[5]?.readInt16BE(0)).toBe(0);
    expect(out[6]?.length).toBe(8);
    expect(out[6]?.readBigInt64BE(0)).toBe(0n); // the pan detector saw the card inside a bigint
    expect(out[7]?.[0]).toBe(1);
    expect(JSON.parse(out[7]?.subarray(1).toString('utf8') ?? 'x')).toEqual({ m: '[REDACTED:email]' });
    expect(out[8]?.toString('utf8')).toBe('[REDACTED:email]');
    expect(out[9]?.equals(Buffer.from([0, 1, 2, 0xff, 0xfe]))).toBe(true);
    expect(decodeNumericBinary(out[10] ?? Buffer.alloc(0))).toBe('0'); // the card inside a binary numeric, redacted
    expect(out[11]?.equals(f8)).toBe(true);
    expect(r?.masked).toBe(10);
  });

  it('an unchanged binary row is the same Buffer', () => {
    const rm = createRowMasker({
      fields: [field('f8', PG_OID.float8, { format: 1 }), field('n', PG_OID.numeric, { format: 1 }), field('b', PG_OID.bytea, { format: 1 })],
      lineage,
      masking: m,
    });
    const row = dataRow([f8, numSmall, Buffer.from('plain bytes')]);
    expect(rm?.maskDataRow(row).buf).toBe(row);
  });

  it('opaque binary values carrying a detector hit become NULL', () => {
    const rm = createRowMasker({ fields: [field('b', PG_OID.bytea, { format: 1 })], lineage, masking: m });
    expect(values(rm?.maskDataRow(dataRow([Buffer.from('\x00\x01 4111111111111111')])).buf ?? Buffer.alloc(0))).toEqual([null]);
  });
});

describe('detection by column type', () => {
  const detectOnly = compileMasking({ detectors: [{ type: 'pan' }, { type: 'ssn' }, { type: 'email' }, { type: 'phone' }] });
  const ints = [PG_OID.int2, PG_OID.int4, PG_OID.oid].map((t, i) => field(`i${i}`, t));

  it('no masker for text-format columns whose type cannot print a match, though detection applies to them', () => {
    expect(planRowMasking({ fields: ints, lineage, masking: detectOnly })).toEqual([{ kind: 'detect' }, { kind: 'detect' }, { kind: 'detect' }]);
    expect(createRowMasker({ fields: ints, lineage, masking: detectOnly })).toBeNull();
    // In binary format the value is checked against its width (a wrong one becomes NULL): not skipped.
    const bin = createRowMasker({ fields: [field('b', PG_OID.int4, { format: 1 })], lineage, masking: detectOnly });
    expect(values(bin?.maskDataRow(dataRow([Buffer.from([1, 2, 3])])).buf ?? Buffer.alloc(0))).toEqual([null]);
  });

  it('still finds a card number in a bigint, a numeric or a float, beside a skipped int4', () => {
    const f = [field('i', PG_OID.int4), field('b', PG_OID.int8), field('n', PG_OID.numeric), field('d', PG_OID.float8), field('t', PG_OID.text)];
    const rm = createRowMasker({ fields: f, lineage, masking: detectOnly });
    expect(rm?.actions).toEqual(f.map(() => ({ kind: 'detect' })));
    const got = texts(rm?.maskDataRow(dataRow(['2147483647', '4111111111111111', '4111111111111111', '4111111111111111', 'card 4111111111111111'])).buf ?? Buffer.alloc(0));
    expect(got).toEqual(['2147483647', '0', '0', '0', 'card [REDACTED:pan]']);
    const row = dataRow(['-2147483648', '9223372036854775807', '12.5', '1e+300', 'nothing to see']);
    expect(rm?.maskDataRow(row).buf).toBe(row);
    expect(rm?.maskedColumns()).toEqual(['detector:pan']);
  });

  it('a custom pattern runs on every number type (a hit masks the number whole)', () => {
    const custom = compileMasking({ detectors: [{ type: 'custom', pattern: '^-?42$' }] });
    const rm = createRowMasker({ fields: ints, lineage, masking: custom });
    expect(texts(rm?.maskDataRow(dataRow(['42', '-42', '7'])).buf ?? Buffer.alloc(0))).toEqual(['0', '0', '7']);
  });

  it('screens text values from their bytes, and masks what the screen lets through', () => {
    const rm = createRowMasker({ fields: [field('t', PG_OID.text), field('a', 1009)], lineage, masking: detectOnly });
    const clean = dataRow(['Preferred contact by mail; renewal due next quarter.', '{Zoë,"Ünal"}']);
    expect(rm?.maskDataRow(clean).buf).toBe(clean);
    const dirty = dataRow(['Zoë Ünal <zoe@example.com>', '{"call +1 415 555 2671",x}']);
    expect(texts(rm?.maskDataRow(dirty).buf ?? Buffer.alloc(0))).toEqual(['Zoë Ünal <[REDACTED:email]>', '{"call [REDACTED:phone]",x}']);
  });
});

// ---------------------------------------------------------------- COPY

describe('COPY TO STDOUT lines', () => {
  const cols = [
    { table: 'public.customers', column: 'id', typeOid: PG_OID.int4 },
    { table: 'public.customers', column: 'name' },
    { table: 'public.customers', column: 'ssn' },
    { table: 'public.customers', column: 'email' },
    { table: 'billing.cards', column: 'code' },
  ];
  const plan = planCopyColumns(cols, masking);

  it('masks text-format fields, decoding and re-encoding escapes', () => {
    expect(plan).not.toBeNull();
    if (plan === null) return;
    const line = Buffer.from('7\tAl\\tice \\101\t123-45-6789\t\\N\tab\\tcdef\n');
    const r = maskCopyTextLine(line, plan, masking);
    expect(r.masked).toBe(2);
    expect(r.buf.toString('utf8')).toBe('7\tAl\\tice \\101\t***-**-6789\t\\N\t**\\t**ef\n');
  });

  it('runs detectors on columns without a rule, including ones past the described columns', () => {
    if (plan === null) throw new Error('plan');
    const line = Buffer.from('7\tmail bob@example.com\t\\N\t\\N\t\\N\textra 4111111111111111\n');
    expect(maskCopyTextLine(line, plan, masking).buf.toString()).toBe('7\tmail [REDACTED:email]\t\\N\t\\N\t\\N\textra [REDACTED:pan]\n');
  });

  it('returns the same Buffer for an unchanged line, and refuses a dangling escape', () => {
    if (plan === null) throw new Error('plan');
    const line = Buffer.from('1\tAlice\t\\N\t\\N\t\\N\n');
    expect(maskCopyTextLine(line, plan, masking).buf).toBe(line);
    expect(() => maskCopyTextLine(Buffer.from('1\tAlice\\'), plan, masking)).toThrow(MaskFrameError);
  });

  it('NULL strategy writes the NULL marker', () => {
    const m = compileMasking({ columns: [{ table: 'customers', column: 'ssn', strategy: 'null' }] });
    const p = planCopyColumns([undefined, { table: 'customers', column: 'ssn' }], m);
    if (p === null) throw new Error('plan');
    expect(maskCopyTextLine(Buffer.from('1|123-45-6789\n'), p, m, { delimiter: '|' }).buf.toString()).toBe('1|\\N\n');
  });

  it('CSV: quoted fields, doubled quotes, empty unquoted NULL', () => {
    if (plan === null) throw new Error('plan');
    const line = Buffer.from('7,"Smith, ""Al""",123-45-6789,"x@example.com",\n');
    const r = maskCopyTextLine(line, plan, masking, { format: 'csv' });
    const [id, name, ssn, email, code] = r.buf.toString().replace(/\n$/, '').split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
    expect([id, name, ssn, code]).toEqual(['7', '"Smith, ""Al"""', '***-**-6789', '']);
    expect(email).toMatch(/^h:[0-9a-f]{16}$/);
    expect(r.masked).toBe(2);
  });

  it('CSV: a masked value that needs quoting gets quoted', () => {
    const m = compileMasking({ columns: [{ table: 't', column: 'c', strategy: 'partial', keep: 1 }] });
    const p = planCopyColumns([{ table: 't', column: 'c' }], m);
    if (p === null) throw new Error('plan');
    expect(maskCopyTextLine(Buffer.from('"a,b"\n'), p, m, { format: 'csv' }).buf.toString()).toBe('"*,b"\n');
  });

  it('a star COPY (column list unknown) masks every column with the table\'s strictest rule', () => {
    const p = planCopyColumns([{ lineage: { refs: [{ table: 'customers', column: '*' }], direct: true, star: true } }], masking, 3);
    if (p === null) throw new Error('plan');
    const r = maskCopyTextLine(Buffer.from('1\tAlice\t123-45-6789\n'), p, masking);
    expect(r.buf.toString()).toBe('[REDACTED]\t[REDACTED]\t[REDACTED]\n');
  });

  it('CopyData frames: rebuilt with the right length, the same Buffer when unchanged', () => {
    const cm = createCopyMasker({ columns: cols, masking, overallFormat: 0 });
    const frame = (s: string): Buffer => {
      const body = Buffer.from(s);
      const out = Buffer.alloc(5 + body.length);
      out[0] = 0x64;
      out.writeInt32BE(4 + body.length, 1);
      body.copy(out, 5);
      return out;
    };
    const clean = frame('1\tAlice\t\\N\t\\N\t\\N\n');
    expect(cm?.maskCopyData(clean).buf).toBe(clean);
    const r = cm?.maskCopyData(frame('1\tAlice\t123-45-6789\t\\N\t\\N\n'));
    expect(r?.buf.readInt32BE(1)).toBe((r?.buf.length ?? 0) - 1);
    expect(r?.buf.subarray(5).toString()).toBe('1\tAlice\t***-**-6789\t\\N\t\\N\n');
    expect(() => cm?.maskCopyData(clean.subarray(0, 6))).toThrow(MaskFrameError);
  });

  it('CSV HEADER: the first line (column names) passes through, data lines are masked', () => {
    const cm = createCopyMasker({ columns: cols, masking, overallFormat: 0, format: { format: 'csv' }, header: true });
    const frame = (s: string): Buffer => Buffer.concat([Buffer.from([0x64, 0, 0, 0, 0]), Buffer.from(s)]).fill(0, 1, 5);
    const fix = (b: Buffer): Buffer => {
      b.writeInt32BE(b.length - 1, 1);
      return b;
    };
    const head = fix(frame('id,name,ssn,email,code\n'));
    expect(cm?.maskCopyData(head).buf).toBe(head);
    expect(cm?.maskCopyData(fix(frame('1,Al,123-45-6789,,\n'))).buf.subarray(5).toString()).toBe('1,Al,***-**-6789,,\n');
  });

  it('binary COPY is refused when masking applies, allowed when it does not', () => {
    expect(() => createCopyMasker({ columns: cols, masking, overallFormat: 1 })).toThrow(MaskUnsupportedError);
    expect(createCopyMasker({ columns: cols, masking: compileMasking({}), overallFormat: 1 })).toBeNull();
  });

  it('plans nothing when masking is empty', () => {
    expect(planCopyColumns(cols, compileMasking({}))).toBeNull();
  });
});

// ---------------------------------------------------------------- errors and notices

function errorFrame(fields: [string, string][], type = 0x45): Buffer {
  const body = Buffer.concat(fields.map(([c, v]) => Buffer.concat([Buffer.from(c), Buffer.from(v, 'utf8'), Buffer.of(0)])));
  const out = Buffer.alloc(5 + body.length + 1);
  out[0] = type;
  out.writeInt32BE(4 + body.length + 1, 1);
  body.copy(out, 5);
  return out;
}

describe('ErrorResponse / NoticeResponse', () => {
  const unique: [string, string][] = [
    ['S', 'ERROR'],
    ['V', 'ERROR'],
    ['C', '23505'],
    ['M', 'duplicate key value violates unique constraint "customers_email_key"'],
    ['D', 'Key (email)=(alice@example.com) already exists.'],
    ['s', 'public'],
    ['t', 'customers'],
    ['n', 'customers_email_key'],
    ['F', 'nbtinsert.c'],
    ['L', '666'],
    ['R', '_bt_check_unique'],
  ];

  it('detectors catch values echoed in DETAIL', () => {
    const r = maskErrorFields(unique.map(([code, value]) => ({ code, value })), masking);
    expect(r.masked).toBe(1);
    expect(r.fields.find((f) => f.code === 'D')?.value).toBe('Key (email)=([REDACTED:email]) already exists.');
    expect(r.fields.find((f) => f.code === 'L')?.value).toBe('666');
  });

  it('when the statement touched a masked column, DETAIL and CONTEXT go and quoted values in MESSAGE are redacted', () => {
    const fields = [
      { code: 'S', value: 'ERROR' },
      { code: 'C', value: '22P02' },
      { code: 'M', value: 'invalid input syntax for type integer: "Salary 91000"' },
      { code: 'D', value: 'Failing row contains (1, Alice, 91000).' },
      { code: 'W', value: 'SQL statement "SELECT 91000"' },
    ];
    const r = maskErrorFields(fields, masking, { touchedMaskedColumn: true });
    expect(r.fields.map((f) => f.value)).toEqual([
      'ERROR',
      '22P02',
      'invalid input syntax for type integer: "[REDACTED]"',
      MASKED_DETAIL,
      MASKED_DETAIL,
    ]);
    expect(r.masked).toBe(3);
  });

  it('rebuilds the frame (parsed back by pg-protocol) or returns the same Buffer', () => {
    const frame = errorFrame(unique);
    const r = maskErrorFrame(frame, masking);
    const [msg] = pgParse(r.buf);
    expect(msg?.name).toBe('error');
    expect((msg as NoticeMessage).detail).toBe('Key (email)=([REDACTED:email]) already exists.');
    expect((msg as NoticeMessage).code).toBe('23505');
    expect((msg as NoticeMessage).constraint).toBe('customers_email_key');
    const clean = errorFrame([['S', 'NOTICE'], ['M', 'nothing to see']], 0x4e);
    expect(maskErrorFrame(clean, masking).buf).toBe(clean);
    expect(() => maskErrorFrame(clean.subarray(0, clean.length - 1), masking)).toThrow(MaskFrameError);
  });

  it('touchesMaskedColumn follows the column rules', () => {
    expect(touchesMaskedColumn([{ column: 'id' }, { table: 'customers', column: 'SSN' }], masking)).toBe(true);
    expect(touchesMaskedColumn([{ table: 'orders', column: 'ssn' }, { column: 'name' }], masking)).toBe(false);
  });
});
