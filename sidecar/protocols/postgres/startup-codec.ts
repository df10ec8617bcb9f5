// The untyped first packets of a PostgreSQL connection (int32 length, int32
// code, payload): SSLRequest, GSSENCRequest, CancelRequest, StartupMessage v3.
// Pure functions; `decodeStartup` returns null on an incomplete buffer and
// throws on a malformed one.
import { protocolViolation } from './protocol-errors.js';

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3_0 = 196608;

export interface StartupLimits {
  /** Largest startup packet (PostgreSQL itself allows 10000 bytes). */
  maxLength: number;
  /** Most name/value pairs in a StartupMessage. */
  maxParams: number;
}

export const DEFAULT_STARTUP_LIMITS: StartupLimits = { maxLength: 10_000, maxParams: 64 };

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; key: number }
  | {
      kind: 'startup';
      /** Minor protocol version the client asked for (3.x); we speak 3.0. */
      minor: number;
      params: Map<string, string>;
    };

export function decodeStartup(buf: Buffer, limits: StartupLimits = DEFAULT_STARTUP_LIMITS): { packet: StartupPacket; length: number } | null {
  if (buf.length < 4) return null;
  const length = buf.readInt32BE(0);
  if (length < 8 || length > limits.maxLength) throw protocolViolation(`invalid startup packet length ${length}`);
  if (buf.length < 8) return null;
  const code = buf.readInt32BE(4);
  const fixed = (n: number, what: string): void => {
    if (length !== n) throw protocolViolation(`invalid ${what} length ${length}`);
  };
  if (code === SSL_REQUEST_CODE) {
    fixed(8, 'SSLRequest');
    return { packet: { kind: 'ssl' }, length };
  }
  if (code === GSSENC_REQUEST_CODE) {
    fixed(8, 'GSSENCRequest');
    return { packet: { kind: 'gssenc' }, length };
  }
  if (code === CANCEL_REQUEST_CODE) {
    fixed(16, 'CancelRequest');
    if (buf.length < 16) return null;
    return { packet: { kind: 'cancel', pid: buf.readInt32BE(8), key: buf.readInt32BE(12) }, length };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw protocolViolation(`unsupported frontend protocol ${major}.${minor}: server supports 3.0`);
  if (buf.length < length) return null;
  const params = new Map<string, string>();
  let pos = 8;
  const end = length - 1;
  if (buf[end] !== 0) throw protocolViolation('startup packet is not terminated');
  while (pos < end) {
    const nameEnd = buf.indexOf(0, pos);
    if (nameEnd < 0 || nameEnd >= end) throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
    const valueEnd = buf.indexOf(0, nameEnd + 1);
    if (valueEnd < 0 || valueEnd >= end) {
      throw protocolViolation('invalid startup packet layout: expected terminator as last byte');
    }
    const name = buf.toString('utf8', pos, nameEnd);
    if (name.length === 0) throw protocolViolation('empty parameter name in startup packet');
    if (params.size >= limits.maxParams) throw protocolViolation(`startup packet has more than ${limits.maxParams} parameters`);
    if (params.has(name)) throw protocolViolation(`duplicate startup parameter "${safeName(name)}"`);
    params.set(name, buf.toString('utf8', nameEnd + 1, valueEnd));
    pos = valueEnd + 1;
  }
  const user = params.get('user');
  if (user === undefined || user.length === 0) throw protocolViolation('no PostgreSQL user name specified in startup packet');
  return { packet: { kind: 'startup', minor, params }, length };
}

function safeName(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}…` : s.replace(/[^\x20-\x7e]/g, '?');
}

function packet(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + payload.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(code, 4);
  payload.copy(out, 8);
  return out;
}

export function encodeSslRequest(): Buffer {
  return packet(SSL_REQUEST_CODE);
}

export function encodeCancelRequest(pid: number, key: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeInt32BE(pid, 0);
  p.writeInt32BE(key, 4);
  return packet(CANCEL_REQUEST_CODE, p);
}

export function encodeStartupMessage(params: ReadonlyMap<string, string> | Record<string, string>): Buffer {
  const entries = params instanceof Map ? [...params.entries()] : Object.entries(params);
  const parts: Buffer[] = [];
  for (const [k, v] of entries) {
    if (k.includes('\0') || v.includes('\0')) throw new Error('startup parameter contains NUL');
    parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  }
  parts.push(Buffer.from([0]));
  return packet(PROTOCOL_3_0, Buffer.concat(parts));
}
