// Throughput micro-check for maskDataRow (not a test: prints figures, asserts
// nothing). Build, then run:
//   npx tsc -p tsconfig.build.json && node dist/sidecar/protocols/postgres/row-masker.throughput.js
// Three row mixes over 10 columns: masked columns + detectors with hits,
// detectors only without hits (the common case), and rules on two columns
// with no detectors.
import { compileMasking, type MaskingSpecLike } from '../../../core/masking/masker.js';
import { PG_OID } from '../../../core/masking/pg-value-masker.js';
import { createRowMasker, lineageKey, type RowField } from './row-masker.js';

const T = 16500;
const COLS: [string, number][] = [
  ['id', PG_OID.int4],
  ['name', PG_OID.text],
  ['ssn', PG_OID.text],
  ['email', PG_OID.varchar],
  ['note', PG_OID.text],
  ['amount', PG_OID.numeric],
  ['created', PG_OID.timestamptz],
  ['city', PG_OID.text],
  ['ref', PG_OID.int8],
  ['doc', PG_OID.jsonb],
];
const fields: RowField[] = COLS.map(([name, typeOid], i) => ({
  name,
  tableOid: T,
  attnum: i + 1,
  typeOid,
  typeSize: -1,
  typeMod: -1,
  format: 0,
}));
const lineage = new Map(COLS.map(([c], i) => [lineageKey(T, i + 1), { table: 'public.customers', column: c }]));

function dataRow(values: string[]): Buffer {
  const parts = values.map((v) => Buffer.from(v, 'utf8'));
  const size = 7 + parts.reduce((n, p) => n + 4 + p.length, 0);
  const out = Buffer.alloc(size);
  out[0] = 0x44;
  out.writeInt32BE(size - 1, 1);
  out.writeInt16BE(parts.length, 5);
  let pos = 7;
  for (const p of parts) {
    out.writeInt32BE(p.length, pos);
    p.copy(out, pos + 4);
    pos += 4 + p.length;
  }
  return out;
}

function rows(n: number, withPii: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      dataRow([
        String(1000 + i),
        `Customer Number ${i}`,
        withPii ? `${String(100 + (i % 800)).padStart(3, '0')}-45-${String(1000 + (i % 8999))}` : 'n/a',
        withPii ? `user${i}@example.com` : `user${i}`,
        withPii && i % 10 === 0 ? `called +1 415 555 ${String(1000 + (i % 8999))} about card 4111 1111 1111 1111` : 'Preferred contact by mail; renewal due next quarter.',
        `${i % 10000}.${String(i % 100).padStart(2, '0')}`,
        '2024-05-01 12:34:56.789+00',
        'Springfield',
        String(900000000 + i),
        `{"tier": "gold", "visits": ${i % 50}, "tags": ["a", "b"]}`,
      ]),
    );
  }
  return out;
}

function measure(label: string, spec: MaskingSpecLike, data: Buffer[]): void {
  const masking = compileMasking(spec, { hashKey: Buffer.alloc(32, 7) });
  const masker = createRowMasker({ fields, lineage, masking });
  const bytes = data.reduce((n, b) => n + b.length, 0);
  if (masker === null) {
    console.log(`${label.padEnd(44)} fast path (no masker)`);
    return;
  }
  for (let i = 0; i < Math.min(2000, data.length); i++) masker.maskDataRow(data[i] ?? Buffer.alloc(0)); // warm up
  let masked = 0;
  const start = process.hrtime.bigint();
  for (const row of data) masked += masker.maskDataRow(row).masked;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const mbps = bytes / secs / 1e6;
  console.log(
    `${label.padEnd(44)} ${mbps.toFixed(1).padStart(7)} MB/s  ${(data.length / secs / 1000).toFixed(0).padStart(6)}k rows/s  ` +
      `avg ${(bytes / data.length).toFixed(0)} B/row  masked ${masked}`,
  );
}

const N = 200_000;
const detectors: MaskingSpecLike['detectors'] = [
  { type: 'pan' },
  { type: 'ssn' },
  { type: 'email' },
  { type: 'phone' },
  { type: 'iban' },
  { type: 'jwt' },
  { type: 'cloudKey' },
  { type: 'privateKey' },
];
const rules: MaskingSpecLike['columns'] = [
  { table: 'customers', column: 'ssn', strategy: 'partial', keep: 4 },
  { table: 'customers', column: 'email', strategy: 'hash' },
];
measure('rules + all detectors, rows with PII', { columns: rules, detectors }, rows(N, true));
measure('all detectors, clean rows', { detectors }, rows(N, false));
measure('rules only (2 of 10 columns)', { columns: rules }, rows(N, true));
measure('nothing configured', {}, rows(1, false));
