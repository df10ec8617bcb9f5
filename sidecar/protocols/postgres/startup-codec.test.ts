import { describe, expect, it } from '@jest/globals';
import { PgProxyError } from './protocol-errors.js';
import { decodeStartup, encodeCancelRequest, encodeSslRequest, encodeStartupMessage, GSSENC_REQUEST_CODE } from './startup-codec.js';

function packet(code: number, payload: Buffer = Buffer.alloc(0), length?: number): Buffer {
  const out = Buffer.alloc(8 + payload.length);
  out.writeInt32BE(length ?? out.length, 0);
  out.writeInt32BE(code, 4);
  payload.copy(out, 8);
  return out;
}

describe('startup codec', () => {
  it('decodes what it encodes, and reports the length consumed', () => {
    const startup = encodeStartupMessage({ user: 'agent', database: 'app', application_name: 'psql' });
    const withMore = Buffer.concat([startup, Buffer.from('Q')]);
    const r = decodeStartup(withMore);
    expect(r?.length).toBe(startup.length);
    expect(r?.packet).toEqual({ kind: 'startup', minor: 0, params: new Map([['user', 'agent'], ['database', 'app'], ['application_name', 'psql']]) });
    expect(decodeStartup(encodeSslRequest())?.packet).toEqual({ kind: 'ssl' });
    expect(decodeStartup(packet(GSSENC_REQUEST_CODE))?.packet).toEqual({ kind: 'gssenc' });
    expect(decodeStartup(encodeCancelRequest(1234, -5))?.packet).toEqual({ kind: 'cancel', pid: 1234, key: -5 });
  });

  it('returns null on every incomplete prefix and never throws on one', () => {
    for (const whole of [encodeStartupMessage({ user: 'u' }), encodeSslRequest(), encodeCancelRequest(1, 2)]) {
      for (let n = 0; n < whole.length; n++) expect(decodeStartup(whole.subarray(0, n))).toBeNull();
    }
  });

  it('keeps the minor version the client asked for (3.2 is negotiated down)', () => {
    const r = decodeStartup(packet(0x30002, Buffer.from('user\0u\0_pq_.x\0y\0\0')));
    expect(r?.packet).toMatchObject({ kind: 'startup', minor: 2 });
  });

  it.each([
    ['length below 8', packet(196608, Buffer.alloc(0), 4)],
    ['length over 10000', packet(196608, Buffer.alloc(0), 10_001)],
    ['protocol 2.0', packet(0x20000, Buffer.from('user\0u\0\0'))],
    ['SSLRequest with a payload', packet(80877103, Buffer.alloc(4))],
    ['CancelRequest too short', packet(80877102, Buffer.alloc(4))],
    ['no user', packet(196608, Buffer.from('database\0d\0\0'))],
    ['empty user', packet(196608, Buffer.from('user\0\0\0'))],
    ['missing final terminator', packet(196608, Buffer.from('user\0u\0x'))],
    ['name without value', packet(196608, Buffer.from('user\0u\0orphan\0'))],
    ['empty parameter name', packet(196608, Buffer.from('user\0u\0\0v\0\0'))],
    ['duplicate parameter', packet(196608, Buffer.from('user\0u\0user\0v\0\0'))],
    ['too many parameters', packet(196608, Buffer.from(Array.from({ length: 70 }, (_, i) => `p${i}\0v\0`).join('') + 'user\0u\0\0'))],
  ])('rejects %s as a protocol violation', (_name, bytes) => {
    expect(() => decodeStartup(bytes)).toThrow(PgProxyError);
    try {
      decodeStartup(bytes);
    } catch (err) {
      expect((err as PgProxyError).sqlstate).toBe('08P01');
    }
  });
});
