// The row masker against a real PostgreSQL 15: real RowDescription/DataRow,
// CopyData and ErrorResponse frames (text and binary formats) are masked, and
// every masked value is handed back to the server — as a text or binary
// parameter cast to the column's declared type, or loaded with COPY FROM — to
// prove it is still valid for its type and format.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, NoticeMessage } from 'pg-protocol/dist/messages.js';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import { compileMasking, type CompiledMasking } from '../../../core/masking/masker.js';
import {
  createCopyMasker,
  createRowMasker,
  lineageKey,
  maskErrorFrame,
  MASKED_DETAIL,
  type ColumnLineage,
  type CopyColumn,
  type RowField,
} from './row-masker.js';

const USER = 'agent';
const PASSWORD = 'agent-password-for-tests';

/** A minimal frontend speaking the v3 protocol on a raw socket, so the test sees the server's own frames. */
class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private frames: Buffer[] = [];
  private wake: (() => void) | undefined;
  private failure: Error | undefined;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length < 1 + len) break;
        this.frames.push(Buffer.from(this.buf.subarray(0, 1 + len)));
        this.buf = this.buf.subarray(1 + len);
      }
      this.wake?.();
    });
    const fail = (err: Error): void => {
      this.failure = err;
      this.wake?.();
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }

  static async open(port: number): Promise<RawClient> {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawClient(sock);
    c.send(serialize.startup({ user: USER, database: 'postgres', client_encoding: 'UTF8' }));
    const auth = await c.next();
    expect(String.fromCharCode(auth[0] ?? 0)).toBe('R');
    if (auth.readInt32BE(5) === 3) c.send(serialize.password(PASSWORD)); // cleartext, as pg_hba asks
    await c.untilReady();
    return c;
  }

  send(b: Buffer): void {
    this.sock.write(b);
  }

  async next(): Promise<Buffer> {
    for (;;) {
      const f = this.frames.shift();
      if (f !== undefined) return f;
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async untilReady(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (;;) {
      const f = await this.next();
      if (f[0] === 0x5a) return out; // ReadyForQuery
      out.push(f);
    }
  }

  async query(text: string): Promise<Buffer[]> {
    this.send(serialize.query(text));
    return this.untilReady();
  }

  /** Extended protocol: one statement, parameters typed by OID, results in text or binary. */
  async extended(text: string, values: (string | Buffer | null)[], types: number[], binary: boolean): Promise<Buffer[]> {
    this.send(
      Buffer.concat([
        serialize.parse({ text, types }),
        serialize.bind({ values, binary }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      ]),
    );
    return this.untilReady();
  }

  close(): void {
    this.sock.end(serialize.end());
  }
}

const kind = (f: Buffer): string => String.fromCharCode(f[0] ?? 0);

function parseRowDescription(frame: Buffer): RowField[] {
  const fields: RowField[] = [];
  let pos = 7;
  const n = frame.readInt16BE(5);
  for (let i = 0; i < n; i++) {
    const zero = frame.indexOf(0, pos);
    const name = frame.toString('utf8', pos, zero);
    pos = zero + 1;
    fields.push({
      name,
      tableOid: frame.readUInt32BE(pos),
      attnum: frame.readInt16BE(pos + 4),
      typeOid: frame.readUInt32BE(pos + 6),
      typeSize: frame.readInt16BE(pos + 10),
      typeMod: frame.readInt32BE(pos + 12),
      format: frame.readInt16BE(pos + 16),
    });
    pos += 18;
  }
  return fields;
}

function rowValues(frame: Buffer): (Buffer | null)[] {
  const out: (Buffer | null)[] = [];
  let pos = 7;
  for (let i = 0; i < frame.readInt16BE(5); i++) {
    const len = frame.readInt32BE(pos);
    pos += 4;
    out.push(len < 0 ? null : frame.subarray(pos, pos + len));
    pos += Math.max(len, 0);
  }
  expect(pos).toBe(frame.length);
  return out;
}

function pgMessages(frames: Buffer[]): BackendMessage[] {
  const out: BackendMessage[] = [];
  const p = new Parser();
  for (const f of frames) p.parse(f, (m) => out.push(m));
  return out;
}

function errorOf(frames: Buffer[]): string | undefined {
  const e = pgMessages(frames).find((m) => m.name === 'error') as NoticeMessage | undefined;
  return e?.message;
}

describe('row masker on real PostgreSQL frames', () => {
  let pg: PgServer;
  let client: RawClient;
  let lineage: Map<string, ColumnLineage>;
  let columnTypes: Map<string, string>; // column → format_type
  let copyColumns: CopyColumn[];
  let masking: CompiledMasking;

  beforeAll(async () => {
    pg = await startPostgres({ hba: [`host all ${USER} 127.0.0.1/32 password`] });
    await pg.sql(`
      CREATE ROLE ${USER} LOGIN PASSWORD '${PASSWORD}';
      CREATE TABLE public.customers (
        id int4 PRIMARY KEY, name text, ssn text, email varchar(100) UNIQUE, code char(8), salary numeric(8,2),
        score float8, ext uuid, born date, profile jsonb, card_num int8, small int2, tags text[], note text
      );
      INSERT INTO public.customers VALUES
        (1, 'Alice', '123-45-6789', 'alice@example.com', 'AB12CD34', 91000.50, 3.75,
         '6ba7b810-9dad-11d1-80b4-00c04fd430c8', '1980-02-03', '{"card": "4111111111111111", "tier": "gold"}',
         4111111111111111, 42, '{a,b}', 'call +1 415 555 2671'),
        (2, 'Bob "the\tbuilder"', '078-05-1120', 'bob@example.org', 'ZZ', 120000.00, -1.5,
         'f47ac10b-58cc-4372-a567-0e02b2c3d479', '1975-12-31', '{"card": "5500000000000004"}',
         5500000000000004, -7, '{x}', E'line1\\nline2 \\\\ backslash'),
        (3, 'Zoë', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
      CREATE TABLE public.customers_text (LIKE public.customers);
      CREATE TABLE public.customers_csv (LIKE public.customers);
      GRANT ALL ON ALL TABLES IN SCHEMA public TO ${USER};
    `);
    const cat = await pg.sql(`
      SELECT c.oid, a.attnum, a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod)
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relname = 'customers' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`);
    lineage = new Map();
    columnTypes = new Map();
    copyColumns = [];
    for (const line of cat.split('\n')) {
      const [oid, attnum, name, typeOid, typeMod, typeName] = line.split('|');
      lineage.set(lineageKey(Number(oid), Number(attnum)), { table: 'public.customers', column: name ?? '' });
      columnTypes.set(name ?? '', typeName ?? '');
      copyColumns.push({ table: 'public.customers', column: name ?? '', typeOid: Number(typeOid), typeMod: Number(typeMod) });
    }
    masking = compileMasking(
      {
        columns: [
          { table: 'customers', column: 'ssn', strategy: 'partial', keep: 4 },
          { table: 'customers', column: 'email', strategy: 'hash' },
          { table: 'customers', column: 'code', strategy: 'partial', keep: 2 },
          { table: 'customers', column: 'salary', strategy: 'hash' },
          { table: 'customers', column: 'score', strategy: 'partial', keep: 1 },
          { table: 'customers', column: 'ext', strategy: 'hash' },
          { table: 'customers', column: 'born', strategy: 'redact' },
          { table: 'customers', column: 'small', strategy: 'hash' },
          { table: 'customers', column: 'tags', strategy: 'redact' },
        ],
        jsonFields: [{ path: '$.card', strategy: 'partial', keep: 4 }],
        detectors: [{ type: 'pan' }, { type: 'email' }, { type: 'ssn' }, { type: 'phone' }],
      },
      { hashKey: Buffer.from('a per-policy key of 32 bytes....') },
    );
    client = await RawClient.open(pg.port);
  });

  afterAll(async () => {
    client?.close();
    await pg?.stop();
  });

  /** Run a SELECT in the given result format; return fields, original rows, masked rows. */
  async function selectMasked(sql: string, binary: boolean, outputColumns?: Parameters<typeof createRowMasker>[0]['outputColumns']) {
    const frames = await client.extended(sql, [], [], binary);
    expect(errorOf(frames)).toBeUndefined();
    const desc = frames.find((f) => kind(f) === 'T');
    if (desc === undefined) throw new Error('no RowDescription');
    const fields = parseRowDescription(desc);
    const masker = createRowMasker({ fields, lineage, masking, ...(outputColumns !== undefined ? { outputColumns } : {}) });
    if (masker === null) throw new Error('expected a masker');
    const rows = frames.filter((f) => kind(f) === 'D');
    return { fields, rows, masked: rows.map((r) => masker.maskDataRow(r)) };
  }

  /** Hand a value back to the server as a parameter cast to `typeName`; returns its text form or the error. */
  async function roundTrip(value: Buffer | null, typeName: string, typeOid: number, binary: boolean): Promise<string | null> {
    const frames = await client.extended(`SELECT $1::${typeName}::text`, [binary || value === null ? value : value.toString('utf8')], [binary ? typeOid : 0], false);
    const err = errorOf(frames);
    if (err !== undefined) throw new Error(`${typeName}: ${err}`);
    const row = frames.find((f) => kind(f) === 'D');
    const v = row === undefined ? undefined : rowValues(row)[0];
    return v === undefined || v === null ? null : v.toString('utf8');
  }

  it.each([false, true])('every masked value is still valid for its column type (binary=%s)', async (binary) => {
    const { fields, rows, masked } = await selectMasked('SELECT * FROM public.customers ORDER BY id', binary);
    expect(fields.every((f) => f.format === (binary ? 1 : 0))).toBe(true);
    const readback: Record<string, (string | null)[]> = {};
    for (let r = 0; r < rows.length; r++) {
      const before = rowValues(rows[r] ?? Buffer.alloc(0));
      const after = rowValues(masked[r]?.buf ?? Buffer.alloc(0));
      for (let c = 0; c < fields.length; c++) {
        const f = fields[c];
        if (f === undefined) continue;
        const typeName = columnTypes.get(f.name) ?? 'text';
        const text = await roundTrip(after[c] ?? null, typeName, f.typeOid, binary);
        (readback[f.name] ??= []).push(text);
        if (['id', 'name'].includes(f.name)) expect(after[c]?.equals(before[c] ?? Buffer.alloc(1))).toBe(true);
      }
    }
    expect(readback.id).toEqual(['1', '2', '3']);
    expect(readback.name).toEqual(['Alice', 'Bob "the\tbuilder"', 'Zoë']);
    expect(readback.ssn).toEqual(['***-**-6789', '***-**-1120', null]);
    expect(readback.email?.[0]).toMatch(/^h:[0-9a-f]{16}$/);
    expect(readback.code).toEqual(['******34', '**', null]); // char(8) 'ZZ      ' fully masked (::text drops the padding)
    expect(readback.salary?.[0]).toMatch(/^\d{1,6}\.00$/); // a keyed pseudonym that fits numeric(8,2)
    expect(readback.ext?.[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(readback.born).toEqual([null, null, null]);
    expect(readback.tags).toEqual([null, null, null]);
    expect(JSON.parse(readback.profile?.[0] ?? 'null')).toEqual({ card: '************1111', tier: 'gold' });
    expect(readback.card_num).toEqual(['0', '0', null]); // the pan detector saw cards stored as bigint
    expect(Number(readback.small?.[0])).toBeLessThanOrEqual(32767);
    expect(readback.note?.[0]).toBe('call [REDACTED:phone]');
    expect(readback.note?.[1]).toBe('line1\nline2 \\ backslash');
    expect(masked[2]?.masked).toBe(0);
    expect(masked[2]?.buf).toBe(rows[2]);
  });

  it('masks computed columns by statement lineage and by detectors', async () => {
    const outputColumns = [
      { refs: [{ table: 'customers', column: 'ssn' }], direct: false },
      { refs: [{ table: 'customers', column: 'ssn' }], direct: false },
      { refs: [{ table: 'customers', column: '*' }], direct: false },
      { refs: [{ table: 'customers', column: 'note' }], direct: false },
    ];
    const { masked } = await selectMasked(
      "SELECT upper(ssn), encode(convert_to(reverse(ssn), 'UTF8'), 'hex'), row_to_json(c), upper(note) FROM public.customers c WHERE id = 1",
      false,
      outputColumns,
    );
    const v = rowValues(masked[0]?.buf ?? Buffer.alloc(0)).map((b) => (b === null ? null : b.toString('utf8')));
    expect(v).toEqual(['[REDACTED]', '[REDACTED]', '"[REDACTED]"', 'CALL [REDACTED:phone]']);
  });

  it('COPY TO STDOUT lines (text and CSV) stay loadable by COPY FROM', async () => {
    for (const [format, target] of [['text', 'customers_text'], ['csv', 'customers_csv']] as const) {
      client.send(serialize.query(`COPY public.customers TO STDOUT${format === 'csv' ? ' WITH (FORMAT csv)' : ''}`));
      const frames = await client.untilReady();
      const out = frames.find((f) => kind(f) === 'H');
      expect(out?.[5]).toBe(0); // overall format: text
      const cm = createCopyMasker({ columns: copyColumns, masking, overallFormat: out?.[5] ?? 1, format: { format }, count: out?.readInt16BE(6) ?? 0 });
      if (cm === null) throw new Error('expected a COPY masker');
      const data = frames.filter((f) => kind(f) === 'd').map((f) => cm.maskCopyData(f));
      expect(data.map((d) => d.masked)).toEqual([12, 11, 0]); // 9 rule columns + JSON card + bigint card (+ phone in row 1)
      client.send(serialize.query(`COPY public.${target} FROM STDIN${format === 'csv' ? ' WITH (FORMAT csv)' : ''}`));
      expect(kind(await client.next())).toBe('G');
      client.send(Buffer.concat([...data.map((d) => d.buf), serialize.copyDone()]));
      const done = await client.untilReady();
      expect(errorOf(done)).toBeUndefined();
      const stored = await pg.sql(`SELECT ssn, code, born, note FROM public.${target} ORDER BY id`);
      expect(stored.split('\n')).toEqual([
        '***-**-6789|******34||call [REDACTED:phone]',
        `***-**-1120|**      ||line1`,
        'line2 \\ backslash',
        '|||',
      ]);
    }
  });

  it('error DETAIL and MESSAGE echoes are masked', async () => {
    const dup = await client.query("INSERT INTO public.customers (id, email) VALUES (99, 'alice@example.com')");
    const frame = dup.find((f) => kind(f) === 'E');
    if (frame === undefined) throw new Error('expected an error');
    const plain = pgMessages([maskErrorFrame(frame, masking).buf])[0] as NoticeMessage;
    expect(plain.code).toBe('23505');
    expect(plain.detail).toBe('Key (email)=([REDACTED:email]) already exists.');
    const touched = pgMessages([maskErrorFrame(frame, masking, { touchedMaskedColumn: true }).buf])[0] as NoticeMessage;
    expect(touched.detail).toBe(MASKED_DETAIL);

    const cast = await client.query('SELECT salary::text::int FROM public.customers');
    const castFrame = cast.find((f) => kind(f) === 'E');
    if (castFrame === undefined) throw new Error('expected an error');
    expect(errorOf([castFrame])).toContain('91000.50');
    const masked = pgMessages([maskErrorFrame(castFrame, masking, { touchedMaskedColumn: true }).buf])[0] as NoticeMessage;
    expect(masked.message).toBe('invalid input syntax for type integer: "[REDACTED]"');
  });
});
