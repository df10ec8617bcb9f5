import { describe, expect, it } from '@jest/globals';
import {
  encodeAuthenticationCleartextPassword,
  encodeBackendKeyData,
  encodeDataRow,
  encodeErrorFields,
  encodeErrorResponse,
  encodeNoticeResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
  errorField,
  parseAuthentication,
  parseBackendKeyData,
  parseCopyResponse,
  parseDataRow,
  parseErrorFields,
  parseParameterStatus,
  parseReadyForQuery,
  parseRowDescription,
  rowsFromTag,
} from './backend-messages.js';
import { frame, int16, int32 } from './body-reader.js';
import {
  encodeBind,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  encodePassword,
  encodeQuery,
  parseBindNames,
  parseExecute,
  parseParse,
  parsePassword,
  parseQuery,
  parseTarget,
} from './frontend-messages.js';
import { PgProxyError } from './protocol-errors.js';

const body = (f: Buffer): Buffer => {
  expect(f.readInt32BE(1)).toBe(f.length - 1);
  return f.subarray(5);
};

describe('backend messages', () => {
  it('writes errors and notices that parse back (severity, SQLSTATE, message, detail, hint)', () => {
    const e = encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'agentgate: denied', detail: 'd', hint: 'h' });
    expect(e[0]).toBe(0x45);
    const fields = parseErrorFields(body(e));
    expect(fields).toEqual([['S', 'ERROR'], ['V', 'ERROR'], ['C', '42501'], ['M', 'agentgate: denied'], ['D', 'd'], ['H', 'h']]);
    expect(errorField(fields, 'C')).toBe('42501');
    const n = encodeNoticeResponse({ code: '00000', message: 'waits' });
    expect(n[0]).toBe(0x4e);
    expect(errorField(parseErrorFields(body(n)), 'S')).toBe('NOTICE');
    expect(encodeErrorFields(0x45, fields).equals(e)).toBe(true);
  });

  it('writes ReadyForQuery, ParameterStatus, BackendKeyData, authentication requests', () => {
    expect(parseReadyForQuery(body(encodeReadyForQuery('T')))).toBe('T');
    expect(parseParameterStatus(body(encodeParameterStatus('client_encoding', 'UTF8')))).toEqual({ name: 'client_encoding', value: 'UTF8' });
    expect(parseBackendKeyData(body(encodeBackendKeyData(7, -9)))).toEqual({ pid: 7, key: -9 });
    expect(parseAuthentication(body(encodeAuthenticationCleartextPassword()))).toEqual({ kind: 'cleartext' });
    expect(parseAuthentication(Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0')]))).toEqual({
      kind: 'sasl',
      mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'],
    });
    expect(parseAuthentication(Buffer.concat([int32(5), Buffer.from([1, 2, 3, 4])]))).toMatchObject({ kind: 'md5' });
    expect(parseAuthentication(int32(7))).toEqual({ kind: 'unsupported', code: 7 });
  });

  it('reads RowDescription, DataRow, CopyResponse, CommandComplete tags', () => {
    const rd = Buffer.concat([int16(1), Buffer.from('ssn\0'), int32(16384), int16(3), int32(25), int16(-1), int32(-1), int16(0)]);
    expect(parseRowDescription(rd)).toEqual([{ name: 'ssn', tableOid: 16384, columnAttr: 3, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }]);
    expect(parseDataRow(body(encodeDataRow([Buffer.from('a'), null])))).toEqual([Buffer.from('a'), null]);
    expect(parseCopyResponse(Buffer.concat([Buffer.from([0]), int16(2), int16(0), int16(0)]))).toEqual({ format: 0, columnFormats: [0, 0] });
    expect(rowsFromTag('SELECT 5')).toBe(5);
    expect(rowsFromTag('INSERT 0 3')).toBe(3);
    expect(rowsFromTag('BEGIN')).toBeUndefined();
  });

  it('treats a truncated backend message as a protocol error', () => {
    expect(() => parseRowDescription(int16(2))).toThrow(PgProxyError);
    expect(() => parseReadyForQuery(Buffer.from('X'))).toThrow(PgProxyError);
    expect(() => parseErrorFields(Buffer.from('Mno terminator'))).toThrow(PgProxyError);
  });
});

describe('frontend messages', () => {
  it('reads what the writers write', () => {
    expect(parseQuery(body(encodeQuery('SELECT 1')))).toBe('SELECT 1');
    expect(parseParse(body(encodeParse('s', 'SELECT $1', [23])))).toEqual({ name: 's', query: 'SELECT $1', paramTypes: [23] });
    expect(parseBindNames(body(encodeBind('p', 's', ['1', null])))).toEqual({ portal: 'p', statement: 's' });
    expect(parseExecute(body(encodeExecute('p', 10)))).toEqual({ portal: 'p', maxRows: 10 });
    expect(parseTarget(body(encodeDescribe('S', 'x')), 'Describe')).toEqual({ kind: 'S', name: 'x' });
    expect(parsePassword(body(encodePassword('tok')))).toBe('tok');
  });

  it.each([
    ['Query with bytes after its terminator', () => parseQuery(Buffer.from('SELECT 1\0DELETE\0'))],
    ['Query without terminator', () => parseQuery(Buffer.from('SELECT 1'))],
    ['Parse with a short type list', () => parseParse(Buffer.concat([Buffer.from('\0q\0'), int16(2), int32(23)]))],
    ['Execute without maxRows', () => parseExecute(Buffer.from('p\0'))],
    ['Describe of kind X', () => parseTarget(Buffer.from('Xn\0'), 'Describe')],
    ['password with trailing bytes', () => parsePassword(Buffer.from('a\0b'))],
  ])('rejects %s as 08P01', (_name, f) => {
    try {
      f();
      throw new Error('no error');
    } catch (err) {
      expect(err).toBeInstanceOf(PgProxyError);
      expect((err as PgProxyError).sqlstate).toBe('08P01');
    }
  });

  it('frames with the right length', () => {
    expect(frame('S', Buffer.alloc(0))).toEqual(Buffer.from([0x53, 0, 0, 0, 4]));
  });
});
