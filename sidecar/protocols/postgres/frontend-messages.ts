// Frontend (client → server) messages: type bytes, the limits the proxy puts
// on what a client may send, pure parsers for the messages it inspects, and
// writers for the ones it sends to the backend itself.
import { BodyReader, cstr, frame, int16, int32 } from './body-reader.js';
import { protocolViolation } from './protocol-errors.js';

export const F = {
  Query: 0x51, // Q
  Parse: 0x50, // P
  Bind: 0x42, // B
  Execute: 0x45, // E
  Describe: 0x44, // D
  Close: 0x43, // C
  Sync: 0x53, // S
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Terminate: 0x58, // X
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Password: 0x70, // p (PasswordMessage, SASLInitialResponse, SASLResponse)
} as const;

const KNOWN = new Set<number>(Object.values(F));
export function isFrontendType(type: number): boolean {
  return KNOWN.has(type);
}

export interface FrontendLimits {
  /** Query and Parse (statement text). */
  maxStatement: number;
  /** Bind and FunctionCall (parameter values). */
  maxBind: number;
  /** CopyData (streamed, never held). */
  maxCopyData: number;
  /** PasswordMessage (carries the agent's token). */
  maxPassword: number;
  /** Every other message (names, small fixed fields). */
  maxOther: number;
}

export const DEFAULT_FRONTEND_LIMITS: FrontendLimits = {
  maxStatement: 16 * 1024 * 1024,
  maxBind: 256 * 1024 * 1024,
  maxCopyData: 1024 * 1024 * 1024,
  maxPassword: 64 * 1024,
  maxOther: 10_000,
};

export function frontendMaxLength(limits: FrontendLimits, type: number): number {
  switch (type) {
    case F.Query:
    case F.Parse:
      return limits.maxStatement;
    case F.Bind:
    case F.FunctionCall:
      return limits.maxBind;
    case F.CopyData:
      return limits.maxCopyData;
    case F.Password:
      return limits.maxPassword;
    case F.CopyFail:
      return limits.maxOther;
    default:
      return limits.maxOther;
  }
}

const bad = (m: string): Error => protocolViolation(m);

export function parseQuery(body: Buffer): string {
  const r = new BodyReader(body, bad, 'Query');
  const text = r.cstring();
  r.end();
  return text;
}

export interface ParseMessage {
  name: string;
  query: string;
  paramTypes: number[];
}

export function parseParse(body: Buffer): ParseMessage {
  const r = new BodyReader(body, bad, 'Parse');
  const name = r.cstring();
  const query = r.cstring();
  const n = r.int16();
  if (n < 0) throw bad('Parse: invalid parameter count');
  const paramTypes: number[] = [];
  for (let i = 0; i < n; i++) paramTypes.push(r.uint32());
  r.end();
  return { name, query, paramTypes };
}

/** Only the names; the backend validates the rest of a Bind. */
export function parseBindNames(body: Buffer): { portal: string; statement: string } {
  const r = new BodyReader(body, bad, 'Bind');
  return { portal: r.cstring(), statement: r.cstring() };
}

export function parseExecute(body: Buffer): { portal: string; maxRows: number } {
  const r = new BodyReader(body, bad, 'Execute');
  const portal = r.cstring();
  const maxRows = r.int32();
  r.end();
  return { portal, maxRows };
}

/** Describe and Close: 'S' (statement) or 'P' (portal) and a name. */
export function parseTarget(body: Buffer, what: 'Describe' | 'Close'): { kind: 'S' | 'P'; name: string } {
  const r = new BodyReader(body, bad, what);
  const k = String.fromCharCode(r.byte());
  if (k !== 'S' && k !== 'P') throw bad(`${what}: invalid target type ${JSON.stringify(k)}`);
  const name = r.cstring();
  r.end();
  return { kind: k, name };
}

export function parsePassword(body: Buffer): string {
  const r = new BodyReader(body, bad, 'PasswordMessage');
  const s = r.cstring();
  r.end();
  return s;
}

/** A body with no content (Sync, Flush, Terminate, CopyDone). */
export function expectEmpty(body: Buffer, what: string): void {
  if (body.length !== 0) throw bad(`${what}: invalid message format`);
}

// ---- writers (what the proxy sends to the backend) ----

export function encodePassword(password: string): Buffer {
  return frame(F.Password, cstr(password));
}

export function encodeSaslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return frame(F.Password, Buffer.concat([cstr(mechanism), int32(data.length), data]));
}

export function encodeSaslResponse(data: Buffer): Buffer {
  return frame(F.Password, data);
}

export function encodeQuery(text: string): Buffer {
  return frame(F.Query, cstr(text));
}

export function encodeExecute(portal: string, maxRows = 0): Buffer {
  return frame(F.Execute, Buffer.concat([cstr(portal), int32(maxRows)]));
}

export function encodeDescribe(kind: 'S' | 'P', name: string): Buffer {
  return frame(F.Describe, Buffer.concat([Buffer.from(kind), cstr(name)]));
}

export function encodeSync(): Buffer {
  return frame(F.Sync, Buffer.alloc(0));
}

export function encodeTerminate(): Buffer {
  return frame(F.Terminate, Buffer.alloc(0));
}

export function encodeParse(name: string, query: string, paramTypes: number[] = []): Buffer {
  return frame(F.Parse, Buffer.concat([cstr(name), cstr(query), int16(paramTypes.length), ...paramTypes.map((t) => int32(t))]));
}

/** Bind with text-format parameters (null = SQL NULL) and result formats. */
export function encodeBind(portal: string, statement: string, params: ReadonlyArray<Buffer | string | null> = [], resultFormats: number[] = []): Buffer {
  const parts: Buffer[] = [cstr(portal), cstr(statement), int16(0), int16(params.length)];
  for (const p of params) {
    if (p === null) parts.push(int32(-1));
    else {
      const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      parts.push(int32(b.length), b);
    }
  }
  parts.push(int16(resultFormats.length), ...resultFormats.map((f) => int16(f)));
  return frame(F.Bind, Buffer.concat(parts));
}

export function encodeClose(kind: 'S' | 'P', name: string): Buffer {
  return frame(F.Close, Buffer.concat([Buffer.from(kind), cstr(name)]));
}

export function encodeFlush(): Buffer {
  return frame(F.Flush, Buffer.alloc(0));
}
