// The client side of a connection up to the point where it is authenticated:
// SSLRequest (TLS with the sidecar's certificate when configured, else 'N'),
// GSSENCRequest ('N'), CancelRequest (handed back, the socket is closed),
// StartupMessage v3 (minor versions and _pq_ options are negotiated down to
// 3.0), then a cleartext password request whose answer carries the agent's
// token, or nothing in pod-identity mode. Everything is bounded in size and
// time; anything malformed is a protocol violation on this connection only.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { encodeAuthenticationCleartextPassword, encodeNegotiateProtocolVersion } from './backend-messages.js';
import { F, parsePassword } from './frontend-messages.js';
import { PgProxyError, protocolViolation } from './protocol-errors.js';
import { SocketMessageReader } from './socket-reader.js';
import { decodeStartup, DEFAULT_STARTUP_LIMITS, type StartupLimits, type StartupPacket } from './startup-codec.js';

export interface ClientHandshakeOptions {
  /** TLS for clients that ask for it; without it SSLRequest is answered 'N'. */
  tls?: SecureContext | undefined;
  /** Require TLS from the client (refuse plaintext startup). */
  requireTls?: boolean | undefined;
  /** 'password': ask for a cleartext password (the agent's token); 'pod': no credential asked. */
  auth: 'password' | 'pod';
  limits?: StartupLimits;
  /** Longest password message (default 64 KiB). */
  maxPassword?: number;
  deadline: AbortSignal;
}

export type ClientHello =
  | { kind: 'cancel'; pid: number; key: number }
  | { kind: 'gone' }
  | {
      kind: 'startup';
      socket: Socket;
      params: Map<string, string>;
      /** undefined in pod mode. */
      password: string | undefined;
      tls: boolean;
      /** Bytes the client sent after its password (pipelined queries), for the relay. */
      leftover: Buffer;
    };

/** Reads one untyped startup packet; resolves null when the client goes away first. */
async function readStartupPacket(
  socket: Socket,
  limits: StartupLimits,
  deadline: AbortSignal,
): Promise<{ packet: StartupPacket; extra: Buffer } | null> {
  return await new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      deadline.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let res;
      try {
        res = decodeStartup(buf, limits);
      } catch (err) {
        cleanup();
        reject(err as Error);
        return;
      }
      if (res === null) return;
      cleanup();
      socket.pause();
      resolve({ packet: res.packet, extra: Buffer.from(buf.subarray(res.length)) });
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (): void => {
      cleanup();
      resolve(null);
    };
    const onAbort = (): void => {
      cleanup();
      reject(protocolViolation('startup timed out'));
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    deadline.addEventListener('abort', onAbort, { once: true });
    socket.resume();
  });
}

async function upgradeToTls(socket: Socket, context: SecureContext, deadline: AbortSignal): Promise<TLSSocket> {
  return await new Promise<TLSSocket>((resolve, reject) => {
    const t = new TLSSocket(socket, { isServer: true, secureContext: context });
    const onAbort = (): void => {
      t.destroy();
      reject(protocolViolation('TLS handshake timed out'));
    };
    deadline.addEventListener('abort', onAbort, { once: true });
    t.once('secure', () => {
      deadline.removeEventListener('abort', onAbort);
      t.removeAllListeners('error');
      resolve(t);
    });
    t.once('error', (err) => {
      deadline.removeEventListener('abort', onAbort);
      reject(new PgProxyError('PG_PROTOCOL_VIOLATION', `TLS handshake with the client failed: ${err.message}`));
    });
  });
}

export async function clientHandshake(socket: Socket, opts: ClientHandshakeOptions): Promise<ClientHello> {
  const limits = opts.limits ?? DEFAULT_STARTUP_LIMITS;
  let current: Socket = socket;
  let tls = false;
  let sawSsl = false;
  let sawGss = false;
  for (;;) {
    const got = await readStartupPacket(current, limits, opts.deadline);
    if (got === null) return { kind: 'gone' };
    const { packet, extra } = got;
    if (packet.kind === 'cancel') return { kind: 'cancel', pid: packet.pid, key: packet.key };
    if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
      // Data pipelined behind an encryption request would bypass TLS (CVE-2021-23214).
      if (extra.length > 0) throw protocolViolation('received unencrypted data after SSL request');
      if (packet.kind === 'gssenc') {
        if (sawGss || tls) throw protocolViolation('unexpected GSSENCRequest');
        sawGss = true;
        current.write('N');
        continue;
      }
      if (sawSsl || tls) throw protocolViolation('unexpected SSLRequest');
      sawSsl = true;
      if (opts.tls === undefined) {
        current.write('N');
        continue;
      }
      current.write('S');
      current = await upgradeToTls(current, opts.tls, opts.deadline);
      tls = true;
      continue;
    }
    if (opts.requireTls === true && !tls) {
      throw new PgProxyError('PG_CLIENT_AUTH', 'this proxy accepts TLS connections only');
    }
    const params = new Map<string, string>();
    const unrecognized: string[] = [];
    for (const [k, v] of packet.params) {
      if (k.startsWith('_pq_.')) unrecognized.push(k);
      else params.set(k, v);
    }
    if (packet.minor !== 0 || unrecognized.length > 0) current.write(encodeNegotiateProtocolVersion(0, unrecognized));

    if (opts.auth === 'pod') {
      return { kind: 'startup', socket: current, params, password: undefined, tls, leftover: extra };
    }
    current.write(encodeAuthenticationCleartextPassword());
    const reader = new SocketMessageReader(
      current,
      {
        maxLength: (t) => (t === F.Password ? (opts.maxPassword ?? 64 * 1024) : 4),
        knownType: (t) => t === F.Password || t === F.Terminate,
        malformed: (m) => protocolViolation(m),
      },
      () => new PgProxyError('PG_CLIENT_AUTH', 'client closed the connection during authentication'),
    );
    if (extra.length > 0) current.unshift(extra);
    let msg;
    try {
      msg = await reader.next(opts.deadline);
    } catch (err) {
      reader.detach();
      if (err instanceof PgProxyError && err.code === 'PG_CLIENT_AUTH') return { kind: 'gone' };
      throw err;
    }
    if (msg.type === F.Terminate) {
      reader.detach();
      return { kind: 'gone' };
    }
    const password = parsePassword(msg.body);
    current.pause();
    const leftover = reader.detach();
    return { kind: 'startup', socket: current, params, password, tls, leftover };
  }
}
