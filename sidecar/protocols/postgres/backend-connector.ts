// Opens the proxy's own connection to the backend: TCP, TLS per the
// Connection's mode (verify-ca / verify-full verify the server against the
// configured CA and are never relaxed), StartupMessage with the brokered user
// and database, then SCRAM-SHA-256, MD5 or cleartext with the brokered
// password. Returns the socket ready for queries plus what the client must be
// told (ParameterStatus, the backend's key data for cancel mapping).
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import {
  B,
  errorField,
  isBackendType,
  parseAuthentication,
  parseBackendKeyData,
  parseErrorFields,
  parseParameterStatus,
  parseReadyForQuery,
  type TransactionStatus,
} from './backend-messages.js';
import { encodePassword, encodeSaslInitialResponse, encodeSaslResponse } from './frontend-messages.js';
import { backendProtocolError, PgProxyError } from './protocol-errors.js';
import { md5PasswordResponse, SCRAM_MECHANISM, ScramClient } from './scram-client.js';
import { SocketMessageReader } from './socket-reader.js';
import { encodeCancelRequest, encodeSslRequest, encodeStartupMessage } from './startup-codec.js';

export type BackendTlsMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export interface BackendTls {
  mode: BackendTlsMode;
  /** PEM CA bundle that signs the server certificate (required for verify modes unless system roots are meant). */
  ca?: string | Buffer | undefined;
  /** Name to verify in verify-full (default: the host). */
  serverName?: string | undefined;
}

export interface BackendTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  tls: BackendTls;
}

export interface BackendConnection {
  socket: Socket;
  /** Every ParameterStatus from startup, in order. */
  parameters: Map<string, string>;
  /** The backend's real cancel key; never sent to the client. */
  key: { pid: number; key: number } | undefined;
  status: TransactionStatus;
  /** Raw NoticeResponse frames seen during startup (relayed to the client). */
  notices: Buffer[];
  /** Bytes after the first ReadyForQuery (normally none). */
  leftover: Buffer;
  /** 'none' | TLS protocol version, for logs. */
  tls: string;
}

export interface ConnectOptions {
  /** Extra startup parameters (application_name, DateStyle, ...); user/database come from the target. */
  params?: Record<string, string>;
  /** Overall deadline for connect + TLS + authentication (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const BACKEND_HANDSHAKE_MAX = 1024 * 1024;

export async function connectBackend(target: BackendTarget, opts: ConnectOptions = {}): Promise<BackendConnection> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = AbortSignal.any([
    AbortSignal.timeout(timeoutMs),
    ...(opts.signal !== undefined ? [opts.signal] : []),
  ]);
  const raw = await openTcp(target.host, target.port, deadline);
  let socket: Socket = raw;
  try {
    let tlsInfo = 'none';
    if (target.tls.mode !== 'disable') {
      socket = await startTls(raw, target, deadline);
      tlsInfo = (socket as TLSSocket).getProtocol() ?? 'tls';
    }
    const params: Record<string, string> = { ...opts.params, user: target.user, database: target.database };
    socket.write(encodeStartupMessage(params));
    const reader = new SocketMessageReader(
      socket,
      {
        maxLength: () => BACKEND_HANDSHAKE_MAX,
        knownType: isBackendType,
        malformed: (m) => backendProtocolError(`backend startup: ${m}`),
      },
      () => new PgProxyError('PG_BACKEND_UNAVAILABLE', 'the backend closed the connection during startup'),
    );
    await authenticate(reader, socket, target, deadline);
    const parameters = new Map<string, string>();
    const notices: Buffer[] = [];
    let key: BackendConnection['key'];
    for (;;) {
      const m = await reader.next(deadline);
      if (m.type === B.ParameterStatus) {
        const p = parseParameterStatus(m.body);
        parameters.set(p.name, p.value);
      } else if (m.type === B.BackendKeyData) {
        key = parseBackendKeyData(m.body);
      } else if (m.type === B.NoticeResponse) {
        notices.push(Buffer.from(m.frame));
      } else if (m.type === B.NegotiateProtocolVersion) {
        // We ask for plain 3.0 without _pq_ options; nothing to negotiate.
      } else if (m.type === B.ErrorResponse) {
        throw backendError(m.body, 'PG_BACKEND_UNAVAILABLE');
      } else if (m.type === B.ReadyForQuery) {
        const status = parseReadyForQuery(m.body);
        return { socket, parameters, key, status, notices, leftover: reader.detach(), tls: tlsInfo };
      } else {
        throw backendProtocolError(`backend startup: unexpected message type ${String.fromCharCode(m.type)}`);
      }
    }
  } catch (err) {
    socket.destroy();
    raw.destroy();
    if (err instanceof PgProxyError) throw err;
    if (deadline.aborted) throw new PgProxyError('PG_BACKEND_UNAVAILABLE', `backend ${target.host}:${target.port}: startup timed out`, { cause: err });
    throw new PgProxyError('PG_BACKEND_UNAVAILABLE', `backend ${target.host}:${target.port}: ${errMessage(err)}`, { cause: err });
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A backend ErrorResponse as a proxy error: SQLSTATE and message kept, nothing of ours added. */
function backendError(body: Buffer, code: 'PG_BACKEND_AUTH' | 'PG_BACKEND_UNAVAILABLE'): PgProxyError {
  const fields = parseErrorFields(body);
  const e = new PgProxyError(
    code,
    `backend refused the session: ${errorField(fields, 'M') ?? 'unknown error'} (SQLSTATE ${errorField(fields, 'C') ?? '?'})`,
  );
  return e;
}

async function openTcp(host: string, port: number, deadline: AbortSignal): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host, port });
    s.setNoDelay(true);
    const onAbort = (): void => {
      s.destroy();
      reject(new PgProxyError('PG_BACKEND_UNAVAILABLE', `cannot connect to the backend ${host}:${port}: timed out`));
    };
    deadline.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => {
      deadline.removeEventListener('abort', onAbort);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      deadline.removeEventListener('abort', onAbort);
      reject(new PgProxyError('PG_BACKEND_UNAVAILABLE', `cannot connect to the backend ${host}:${port}: ${err.message}`, { cause: err }));
    });
  });
}

async function readOneByte(socket: Socket, deadline: AbortSignal): Promise<{ byte: number; extra: number }> {
  return await new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      deadline.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer): void => {
      cleanup();
      socket.pause();
      resolve({ byte: chunk[0] as number, extra: chunk.length - 1 });
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('connection closed'));
    };
    const onAbort = (): void => {
      cleanup();
      reject(new Error('timed out'));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    deadline.addEventListener('abort', onAbort, { once: true });
  });
}

async function startTls(raw: Socket, target: BackendTarget, deadline: AbortSignal): Promise<TLSSocket> {
  raw.write(encodeSslRequest());
  const { byte, extra } = await readOneByte(raw, deadline).catch((err: unknown) => {
    throw new PgProxyError('PG_BACKEND_TLS', `backend ${target.host}:${target.port}: TLS negotiation failed: ${errMessage(err)}`);
  });
  if (byte === 0x4e /* N */) {
    throw new PgProxyError('PG_BACKEND_TLS', `backend ${target.host}:${target.port} does not support TLS, but tls.mode is ${target.tls.mode}`);
  }
  if (byte !== 0x53 /* S */) throw new PgProxyError('PG_BACKEND_TLS', `backend ${target.host}:${target.port}: unexpected answer to SSLRequest`);
  // Bytes after 'S' and before the handshake would be unencrypted and unauthenticated (CVE-2021-23222).
  if (extra > 0) throw new PgProxyError('PG_BACKEND_TLS', 'backend sent unencrypted data after accepting TLS');
  const { mode, ca } = target.tls;
  const verify = mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && ca !== undefined);
  const name = target.tls.serverName ?? target.host;
  return await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({
      socket: raw,
      ca,
      // SNI carries names only, never IP addresses.
      servername: isIP(name) === 0 ? name : undefined,
      rejectUnauthorized: verify,
      minVersion: 'TLSv1.2',
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined =>
        mode === 'verify-full' ? checkServerIdentity(name, cert) : undefined,
    });
    const onAbort = (): void => {
      s.destroy();
      reject(new PgProxyError('PG_BACKEND_TLS', `backend ${target.host}:${target.port}: TLS handshake timed out`));
    };
    deadline.addEventListener('abort', onAbort, { once: true });
    s.once('secureConnect', () => {
      deadline.removeEventListener('abort', onAbort);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      deadline.removeEventListener('abort', onAbort);
      reject(new PgProxyError('PG_BACKEND_TLS', `backend ${target.host}:${target.port}: TLS verification failed: ${err.message}`, { cause: err }));
    });
  });
}

async function authenticate(reader: SocketMessageReader, socket: Socket, target: BackendTarget, deadline: AbortSignal): Promise<void> {
  let scram: ScramClient | undefined;
  for (;;) {
    const m = await reader.next(deadline);
    if (m.type === B.ErrorResponse) throw backendError(m.body, 'PG_BACKEND_AUTH');
    if (m.type === B.NegotiateProtocolVersion) continue;
    if (m.type !== B.Authentication) throw backendProtocolError('backend startup: expected an authentication request');
    const req = parseAuthentication(m.body);
    switch (req.kind) {
      case 'ok':
        if (scram !== undefined) throw backendProtocolError('backend ended SCRAM without its final message');
        return;
      case 'cleartext':
        socket.write(encodePassword(target.password));
        break;
      case 'md5':
        socket.write(encodePassword(md5PasswordResponse(target.user, target.password, req.salt)));
        break;
      case 'sasl':
        if (!req.mechanisms.includes(SCRAM_MECHANISM)) {
          throw new PgProxyError('PG_BACKEND_AUTH', `backend offers no supported SASL mechanism (${req.mechanisms.join(', ')})`);
        }
        scram = new ScramClient(target.password);
        socket.write(encodeSaslInitialResponse(SCRAM_MECHANISM, scram.clientFirst()));
        break;
      case 'sasl-continue':
        if (scram === undefined) throw backendProtocolError('unexpected SASL continue');
        socket.write(encodeSaslResponse(await scram.clientFinal(req.data)));
        break;
      case 'sasl-final': {
        if (scram === undefined) throw backendProtocolError('unexpected SASL final');
        scram.verifyServerFinal(req.data);
        const next = await reader.next(deadline);
        if (next.type === B.ErrorResponse) throw backendError(next.body, 'PG_BACKEND_AUTH');
        const ok = next.type === B.Authentication ? parseAuthentication(next.body) : undefined;
        if (ok?.kind !== 'ok') throw backendProtocolError('backend did not accept SCRAM authentication');
        return;
      }
      case 'unsupported':
        throw new PgProxyError('PG_BACKEND_AUTH', `backend asks for an unsupported authentication method (${req.code})`);
    }
  }
}

/**
 * Delivers a CancelRequest with the backend's real key on a new connection,
 * over TLS when the Connection uses TLS (the key is a secret on the wire).
 */
export async function sendCancelRequest(target: Omit<BackendTarget, 'user' | 'password' | 'database'>, pid: number, key: number, timeoutMs = 10_000): Promise<void> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const raw = await openTcp(target.host, target.port, deadline);
  let socket: Socket = raw;
  try {
    if (target.tls.mode !== 'disable') socket = await startTls(raw, { ...target, user: '', password: '', database: '' }, deadline);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
      deadline.addEventListener('abort', () => resolve(), { once: true });
      socket.end(encodeCancelRequest(pid, key));
    });
  } finally {
    socket.destroy();
    raw.destroy();
  }
}
