// Backend (server → client) messages: type bytes, pure parsers for the ones
// the proxy reads, and writers for the ones it speaks itself (errors, notices,
// authentication requests, key data, ReadyForQuery).
import { BodyReader, cstr, frame, int16, int32 } from './body-reader.js';
import { parseCommandTag } from './command-tag.js';
import { backendProtocolError } from './protocol-errors.js';

export const B = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  ParameterStatus: 0x53, // S
  ReadyForQuery: 0x5a, // Z
  ErrorResponse: 0x45, // E
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  RowDescription: 0x54, // T
  DataRow: 0x44, // D
  CommandComplete: 0x43, // C
  EmptyQueryResponse: 0x49, // I
  ParseComplete: 0x31, // 1
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  NoData: 0x6e, // n
  PortalSuspended: 0x73, // s
  ParameterDescription: 0x74, // t
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
} as const;

const KNOWN = new Set<number>(Object.values(B));
export function isBackendType(type: number): boolean {
  return KNOWN.has(type);
}

export type TransactionStatus = 'I' | 'T' | 'E';

const bad = (m: string): Error => backendProtocolError(m);

export type AuthenticationRequest =
  | { kind: 'ok' }
  | { kind: 'cleartext' }
  | { kind: 'md5'; salt: Buffer }
  | { kind: 'sasl'; mechanisms: string[] }
  | { kind: 'sasl-continue'; data: Buffer }
  | { kind: 'sasl-final'; data: Buffer }
  | { kind: 'unsupported'; code: number };

export function parseAuthentication(body: Buffer): AuthenticationRequest {
  const r = new BodyReader(body, bad, 'Authentication');
  const code = r.int32();
  switch (code) {
    case 0:
      return { kind: 'ok' };
    case 3:
      return { kind: 'cleartext' };
    case 5:
      return { kind: 'md5', salt: Buffer.from(r.bytes(4)) };
    case 10: {
      const mechanisms: string[] = [];
      for (;;) {
        const m = r.cstring();
        if (m === '') break;
        mechanisms.push(m);
      }
      return { kind: 'sasl', mechanisms };
    }
    case 11:
      return { kind: 'sasl-continue', data: Buffer.from(r.rest()) };
    case 12:
      return { kind: 'sasl-final', data: Buffer.from(r.rest()) };
    default:
      return { kind: 'unsupported', code };
  }
}

export function parseParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new BodyReader(body, bad, 'ParameterStatus');
  return { name: r.cstring(), value: r.cstring() };
}

export function parseBackendKeyData(body: Buffer): { pid: number; key: number } {
  const r = new BodyReader(body, bad, 'BackendKeyData');
  return { pid: r.int32(), key: r.int32() };
}

export function parseReadyForQuery(body: Buffer): TransactionStatus {
  if (body.length !== 1) throw bad('ReadyForQuery: invalid length');
  const s = String.fromCharCode(body[0] as number);
  if (s !== 'I' && s !== 'T' && s !== 'E') throw bad(`ReadyForQuery: invalid transaction status ${s}`);
  return s;
}

/** Fields of an ErrorResponse / NoticeResponse, in wire order (code letter → value). */
export type ErrorFields = Array<[string, string]>;

export function parseErrorFields(body: Buffer): ErrorFields {
  const r = new BodyReader(body, bad, 'ErrorResponse');
  const fields: ErrorFields = [];
  for (;;) {
    const code = r.byte();
    if (code === 0) break;
    fields.push([String.fromCharCode(code), r.cstring()]);
  }
  return fields;
}

export function errorField(fields: ErrorFields, code: string): string | undefined {
  for (const [c, v] of fields) if (c === code) return v;
  return undefined;
}

export interface RowDescriptionField {
  name: string;
  /** OID of the table when the column is a direct column reference, else 0. */
  tableOid: number;
  /** Attribute number of the column in that table, else 0. */
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  /** 0 text, 1 binary. */
  format: number;
}

export function parseRowDescription(body: Buffer): RowDescriptionField[] {
  const r = new BodyReader(body, bad, 'RowDescription');
  const n = r.int16();
  if (n < 0) throw bad('RowDescription: negative field count');
  const fields: RowDescriptionField[] = [];
  for (let i = 0; i < n; i++) {
    fields.push({
      name: r.cstring(),
      tableOid: r.uint32(),
      columnAttr: r.int16(),
      typeOid: r.uint32(),
      typeSize: r.int16(),
      typeModifier: r.int32(),
      format: r.int16(),
    });
  }
  return fields;
}

/** Column values of a DataRow (null for SQL NULL), as slices of the body. */
export function parseDataRow(body: Buffer): Array<Buffer | null> {
  const r = new BodyReader(body, bad, 'DataRow');
  const n = r.int16();
  const values: Array<Buffer | null> = [];
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    values.push(len < 0 ? null : r.bytes(len));
  }
  return values;
}

export function parseCommandComplete(body: Buffer): string {
  return new BodyReader(body, bad, 'CommandComplete').cstring();
}

/** Rows affected or returned, from a CommandComplete tag ("SELECT 5", "INSERT 0 5", "COPY 5"). */
export function rowsFromTag(tag: string): number | undefined {
  return parseCommandTag(tag).rows;
}

/** CopyInResponse / CopyOutResponse / CopyBothResponse: overall format and per-column formats. */
export function parseCopyResponse(body: Buffer): { format: number; columnFormats: number[] } {
  const r = new BodyReader(body, bad, 'CopyResponse');
  const format = r.byte();
  const n = r.int16();
  const columnFormats: number[] = [];
  for (let i = 0; i < n; i++) columnFormats.push(r.int16());
  return { format, columnFormats };
}

// ---- writers ----

export interface ErrorInit {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function fieldsBody(e: ErrorInit): Buffer {
  const parts: Buffer[] = [
    Buffer.from('S'),
    cstr(e.severity),
    Buffer.from('V'),
    cstr(e.severity),
    Buffer.from('C'),
    cstr(e.code),
    Buffer.from('M'),
    cstr(e.message),
  ];
  if (e.detail !== undefined) parts.push(Buffer.from('D'), cstr(e.detail));
  if (e.hint !== undefined) parts.push(Buffer.from('H'), cstr(e.hint));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function encodeErrorResponse(e: ErrorInit): Buffer {
  return frame(B.ErrorResponse, fieldsBody(e));
}

export function encodeNoticeResponse(e: Omit<ErrorInit, 'severity'> & { severity?: ErrorInit['severity'] }): Buffer {
  return frame(B.NoticeResponse, fieldsBody({ severity: 'NOTICE', ...e }));
}

/** Re-encodes error/notice fields (e.g. after masking values in them). */
export function encodeErrorFields(type: number, fields: ErrorFields): Buffer {
  const parts: Buffer[] = [];
  for (const [c, v] of fields) parts.push(Buffer.from(c), cstr(v.replace(/\0/g, '')));
  parts.push(Buffer.from([0]));
  return frame(type, Buffer.concat(parts));
}

export function encodeReadyForQuery(status: TransactionStatus): Buffer {
  return frame(B.ReadyForQuery, Buffer.from(status));
}

export function encodeAuthenticationOk(): Buffer {
  return frame(B.Authentication, int32(0));
}

export function encodeAuthenticationCleartextPassword(): Buffer {
  return frame(B.Authentication, int32(3));
}

export function encodeParameterStatus(name: string, value: string): Buffer {
  return frame(B.ParameterStatus, Buffer.concat([cstr(name), cstr(value)]));
}

export function encodeBackendKeyData(pid: number, key: number): Buffer {
  return frame(B.BackendKeyData, Buffer.concat([int32(pid), int32(key)]));
}

export function encodeNegotiateProtocolVersion(minor: number, unrecognized: string[]): Buffer {
  return frame(
    B.NegotiateProtocolVersion,
    Buffer.concat([int32(minor), int32(unrecognized.length), ...unrecognized.map((o) => cstr(o))]),
  );
}

export function encodeDataRow(values: ReadonlyArray<Buffer | null>): Buffer {
  const parts: Buffer[] = [int16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(int32(-1));
    else parts.push(int32(v.length), v);
  }
  return frame(B.DataRow, Buffer.concat(parts));
}
