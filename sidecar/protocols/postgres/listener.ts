// The PostgreSQL listener for one Connection: the thin socket shell around the
// handshake (client-handshake.ts), the gate (authenticate, settings,
// recording), the backend connection (backend-connector.ts), cancel mapping
// (cancel-registry.ts) and the relay (pg-session.ts). Whatever one client
// sends, only its own connection is affected. The backend credential is either
// fixed (standalone) or brokered per session by an async factory (injected
// mode: a static or just-in-time credential from the operator, released when
// the session ends).
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { ConnectionFacts } from '../../../core/policy/activation.js';
import { newEventId } from '../../../core/recording/event-id.js';
import { initSqlParser, SqlClassifier } from '../../../core/sql/classify.js';
import type { MaskingSpecLike } from '../../../core/masking/masker.js';
import { AuthError } from '../../gate/auth-errors.js';
import type { Gate, Identity, SessionEvents, SessionSettings } from '../../gate/gate.js';
import {
  encodeAuthenticationOk,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
} from './backend-messages.js';
import { destroyUnlessClosed } from '../shared/close-deadline.js';
import { connectBackend, sendCancelRequest, type BackendConnection, type BackendTarget } from './backend-connector.js';
import { CancelRegistry } from './cancel-registry.js';
import { CatalogLineageResolver, type LineageResolver } from './catalog-lineage.js';
import { clientHandshake } from './client-handshake.js';
import { DEFAULT_FRONTEND_LIMITS, type FrontendLimits } from './frontend-messages.js';
import type { SessionMasking } from './masking-seam.js';
import { PgSession, type SessionEndReason, type SessionStats } from './pg-session.js';
import { PgProxyError } from './protocol-errors.js';
import { createSessionMasking } from './row-masker-seam.js';
import { DEFAULT_STARTUP_LIMITS, type StartupLimits } from './startup-codec.js';
import type { StatementClassifier } from './statement-guard.js';

/** pino-compatible. */
export interface ListenerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A backend target for one session; `release` (if any) runs once when the session is over. */
export type SessionBackend = BackendTarget & { release?(): Promise<void> };

/** Brokers the backend credential for one session (after authentication, before the backend is dialled). */
export type BackendFactory = (session: { id: string; identity: Identity }) => Promise<SessionBackend>;

export interface PostgresListenerOptions {
  connection: ConnectionFacts;
  /** The backend and its credential (kept in memory only), or a per-session factory. */
  backend: BackendTarget | BackendFactory;
  gate: Gate;
  listenHost?: string;
  /** 0 for a free port. */
  listenPort: number;
  /** TLS offered to clients (SSLRequest); without it clients get 'N'. */
  tls?: { cert: string | Buffer; key: string | Buffer; requireTls?: boolean } | undefined;
  /**
   * 'password' (default): the agent's token in a cleartext password; 'pod': the pod's identity, no credential.
   * A function is asked per connection (the policies that decide it can change while the listener runs).
   */
  clientAuth?: 'password' | 'pod' | (() => 'password' | 'pod');
  classifier?: StatementClassifier;
  /** Builds the per-session masking (default: the row masker). */
  masking?: (spec: MaskingSpecLike, opts: { hashKey?: Buffer }) => SessionMasking | null;
  /**
   * Column lineage for masking (default: catalog lookups on a connection of the proxy's own; with a
   * backend factory, one resolver per session with that session's credential, closed at its end).
   */
  lineage?: LineageResolver;
  handshakeTimeoutMs?: number;
  startupLimits?: StartupLimits;
  limits?: FrontendLimits;
  maxSessions?: number;
  log?: ListenerLogger;
}

export interface SessionSnapshot {
  id: string;
  sub: string;
  identity: Identity;
  startedAt: Date;
  transactionStatus: string;
  stats: SessionStats;
}

export interface PostgresListener {
  host: string;
  port: number;
  /** Live sessions with their counters. */
  sessions(): SessionSnapshot[];
  /** Counters of every session that ended since the listener started, summed (peakBuffered: the largest). */
  totals(): SessionStats & { sessions: number };
  /** Ends every live session (policy revoked, shutdown) with a FATAL to the client. */
  terminateAll(message: string): void;
  /**
   * Ends the live sessions `pred` picks with a FATAL to the client (access revoked for them);
   * `message` may depend on the session. Returns how many were ended.
   */
  terminateWhere(pred: (s: SessionSnapshot) => boolean, message: string | ((s: SessionSnapshot) => string)): number;
  /** Stops accepting new clients; live sessions go on (until close()). Idempotent. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

/** Startup parameters passed through from the client; user, database and everything else come from the Connection. */
const FORWARDED_PARAMS = ['application_name', 'DateStyle', 'TimeZone', 'IntervalStyle', 'extra_float_digits', 'search_path'];

const silentLog: ListenerLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function fatal(socket: Socket, sqlstate: string, message: string): void {
  if (socket.destroyed) return;
  socket.end(encodeErrorResponse({ severity: 'FATAL', code: sqlstate, message }));
  destroyUnlessClosed([socket], 2000);
}

function emptyStats(): SessionStats & { sessions: number } {
  return { sessions: 0, statements: 0, denied: 0, approvals: 0, rows: 0, masked: 0, bytesFromClient: 0, bytesToClient: 0, peakBuffered: 0 };
}

export async function startPostgresListener(opts: PostgresListenerOptions): Promise<PostgresListener> {
  await initSqlParser();
  const log = opts.log ?? silentLog;
  const classifier = opts.classifier ?? new SqlClassifier();
  const maskingFactory = opts.masking ?? createSessionMasking;
  const fixedBackend = typeof opts.backend === 'function' ? undefined : opts.backend;
  const backendFor: BackendFactory = typeof opts.backend === 'function' ? opts.backend : async () => opts.backend as BackendTarget;
  // A shared resolver needs one fixed credential; per-session credentials get a resolver per session.
  const sharedLineage = opts.lineage ?? (fixedBackend !== undefined ? new CatalogLineageResolver(fixedBackend) : undefined);
  const cancels = new CancelRegistry();
  // Where a mapped CancelRequest goes (TLS included), by the proxy-side pid of the session.
  const cancelTargets = new Map<number, Omit<BackendTarget, 'user' | 'password' | 'database'>>();
  const clientTls: SecureContext | undefined =
    opts.tls === undefined ? undefined : createSecureContext({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' });
  const live = new Map<string, { session: PgSession; identity: Identity; startedAt: Date }>();
  const totals = emptyStats();
  const sockets = new Set<Socket>();
  const maxSessions = opts.maxSessions ?? 1000;
  let closing = false;
  let closed: Promise<void> | undefined;
  /** Why a session was ended from outside (revocation), for its session.end record. */
  const endReasons = new Map<string, string>();

  const handle = async (socket: Socket): Promise<void> => {
    socket.setNoDelay(true);
    // An 'error' without a listener would crash the process; each phase adds its own handling.
    socket.on('error', () => undefined);
    const remote = { address: socket.remoteAddress ?? '', port: socket.remotePort };
    const deadline = AbortSignal.timeout(opts.handshakeTimeoutMs ?? 30_000);
    let hello;
    try {
      hello = await clientHandshake(socket, {
        tls: clientTls,
        requireTls: opts.tls?.requireTls,
        auth: typeof opts.clientAuth === 'function' ? opts.clientAuth() : opts.clientAuth ?? 'password',
        limits: opts.startupLimits ?? DEFAULT_STARTUP_LIMITS,
        deadline,
      });
    } catch (err) {
      const e = err instanceof PgProxyError ? err : new PgProxyError('PG_PROTOCOL_VIOLATION', 'invalid startup');
      log.warn({ connection: opts.connection.name, client: remote, code: e.code }, `postgres handshake refused: ${e.message}`);
      fatal(socket, e.sqlstate, `agentgate: ${e.message}`);
      return;
    }
    if (hello.kind === 'gone') {
      socket.destroy();
      return;
    }
    if (hello.kind === 'cancel') {
      socket.destroy();
      const sent = await cancels
        .cancel(hello.pid, hello.key, async (t) => {
          const to = cancelTargets.get(hello.pid);
          if (to !== undefined) await sendCancelRequest(to, t.pid, t.key);
        })
        .catch(() => false);
      log.info({ connection: opts.connection.name, matched: sent }, 'postgres cancel request');
      return;
    }
    const client = hello.socket;
    client.on('error', () => undefined);
    if (closing) {
      fatal(client, '57P03', 'agentgate: the proxy is shutting down');
      return;
    }
    if (live.size >= maxSessions) {
      fatal(client, '53300', 'agentgate: too many sessions');
      return;
    }

    // 1. Who is asking.
    let identity: Identity;
    try {
      identity = await opts.gate.authenticator.authenticate({
        protocol: 'postgres',
        connection: opts.connection.name,
        user: hello.params.get('user'),
        credential: hello.password,
        remoteAddress: remote.address,
      });
    } catch (err) {
      const code = err instanceof AuthError ? err.code : 'AUTH_UNAVAILABLE';
      const why = err instanceof AuthError ? err.message : 'the credential could not be verified';
      log.warn({ connection: opts.connection.name, code }, 'postgres authentication failed');
      fatal(client, '28P01', `agentgate: authentication failed: ${why}`);
      return;
    }

    // 2. What applies to this session: masking, limits, recording.
    let settings: SessionSettings;
    let masking: SessionMasking | null = null;
    try {
      settings = opts.gate.settings.sessionSettings(identity, opts.connection);
      if (settings.masking !== undefined) {
        masking = maskingFactory(settings.masking, settings.hashKey !== undefined ? { hashKey: settings.hashKey } : {});
      }
    } catch (err) {
      // A masking configuration that cannot be compiled must not mean "no masking".
      log.error({ connection: opts.connection.name, err: err instanceof Error ? err.message : String(err) }, 'postgres session settings failed');
      fatal(client, 'XX000', 'agentgate: the masking configuration for this session is invalid; refused');
      return;
    }

    const sessionId = newEventId();
    let events: SessionEvents | undefined;
    if (settings.recording) {
      try {
        events = await opts.gate.events.startSession(
          {
            identity: { sub: identity.sub, iss: identity.iss, groups: [...identity.groups] },
            pod: { namespace: identity.pod.namespace, name: identity.pod.name, serviceAccount: identity.pod.serviceAccount },
            connection: opts.connection.name,
            protocol: 'postgres',
            client: remote,
            policies: settings.policies,
            strictRecording: settings.strictRecording,
          },
          { sessionId, strict: settings.strictRecording },
        );
      } catch {
        fatal(client, '58030', 'agentgate: the session cannot be recorded, and its policy requires recording; refused');
        return;
      }
    }

    // 3. The backend credential for this session (fixed, or brokered), then the backend.
    let target: SessionBackend;
    try {
      target = await backendFor({ id: sessionId, identity });
    } catch (err) {
      const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'PG_BACKEND_CREDENTIAL';
      log.error({ connection: opts.connection.name, session: sessionId, code, err: err instanceof Error ? err.message : String(err) }, 'postgres backend credential unavailable');
      // Only the stable code reaches the client: the error text may name internals.
      fatal(client, '08006', `agentgate: no backend credential for this session (${code}); refused`);
      await events?.end('error', code).catch(() => undefined);
      return;
    }
    let released = false;
    const release = async (): Promise<void> => {
      if (released || target.release === undefined) return;
      released = true;
      await target.release().catch((err: unknown) => {
        log.warn({ connection: opts.connection.name, session: sessionId, err: err instanceof Error ? err.message : String(err) }, 'releasing the session credential failed');
      });
    };
    const params: Record<string, string> = { client_encoding: 'UTF8', standard_conforming_strings: 'on' };
    for (const k of FORWARDED_PARAMS) {
      const v = hello.params.get(k);
      if (v !== undefined) params[k] = v;
    }
    let backend: BackendConnection;
    try {
      backend = await connectBackend(target, { params });
    } catch (err) {
      const e = err instanceof PgProxyError ? err : new PgProxyError('PG_BACKEND_UNAVAILABLE', 'cannot connect to the backend');
      log.error({ connection: opts.connection.name, code: e.code }, `postgres backend connection failed: ${e.message}`);
      fatal(client, e.sqlstate, `agentgate: ${e.message}`);
      await release();
      await events?.end('error', e.code).catch(() => undefined);
      return;
    }
    backend.socket.on('error', () => undefined);
    if (client.destroyed) {
      backend.socket.destroy();
      await release();
      await events?.end('terminated', 'client left during startup').catch(() => undefined);
      return;
    }
    const enc = backend.parameters.get('client_encoding');
    const scs = backend.parameters.get('standard_conforming_strings');
    if ((enc !== undefined && enc.toUpperCase() !== 'UTF8') || (scs !== undefined && scs !== 'on')) {
      backend.socket.destroy();
      fatal(client, '0A000', 'agentgate: the backend session does not use UTF8 with standard_conforming_strings on; refused');
      await release();
      await events?.end('error', 'backend settings').catch(() => undefined);
      return;
    }
    const lineage = sharedLineage ?? new CatalogLineageResolver(target);

    // 4. The client is in: our key data, the backend's parameters.
    const cancel = cancels.register(
      backend.key === undefined ? undefined : { host: target.host, port: target.port, pid: backend.key.pid, key: backend.key.key },
    );
    cancelTargets.set(cancel.pid, { host: target.host, port: target.port, tls: target.tls });
    const greeting: Buffer[] = [encodeAuthenticationOk()];
    for (const [k, v] of backend.parameters) greeting.push(encodeParameterStatus(k, v));
    greeting.push(...backend.notices, encodeBackendKeyData(cancel.pid, cancel.key), encodeReadyForQuery(backend.status));
    client.write(Buffer.concat(greeting));

    const startedAt = new Date();
    const session = new PgSession({
      client,
      backend: backend.socket,
      clientLeftover: hello.leftover,
      backendLeftover: backend.leftover,
      status: backend.status,
      ctx: {
        identity,
        connection: opts.connection,
        session: { id: sessionId, startedAt, statements: 0, denied: 0 },
      },
      classifier,
      policy: opts.gate.policy,
      approvals: opts.gate.approvals,
      events,
      strictRecording: settings.strictRecording,
      masking,
      lineage,
      limits: opts.limits ?? DEFAULT_FRONTEND_LIMITS,
      idleTimeoutMs: settings.idleTimeoutMs,
      maxDurationMs: settings.maxDurationMs,
      onEnd: (reason: SessionEndReason, stats: SessionStats, error?: Error) => {
        live.delete(sessionId);
        const endReason = endReasons.get(sessionId);
        endReasons.delete(sessionId);
        cancel.release();
        cancelTargets.delete(cancel.pid);
        if (lineage !== sharedLineage) lineage.close();
        totals.sessions++;
        for (const k of ['statements', 'denied', 'approvals', 'rows', 'masked', 'bytesFromClient', 'bytesToClient'] as const) totals[k] += stats[k];
        totals.peakBuffered = Math.max(totals.peakBuffered, stats.peakBuffered);
        const outcome = reason === 'client-closed' ? 'ok' : reason === 'idle-timeout' || reason === 'max-duration' || reason === 'terminated' ? 'terminated' : 'error';
        log.info({ connection: opts.connection.name, session: sessionId, reason, stats, err: error?.message }, 'postgres session ended');
        void release();
        void events?.end(outcome, endReason ?? reason).catch(() => undefined);
      },
    });
    live.set(sessionId, { session, identity, startedAt });
    log.info({ connection: opts.connection.name, session: sessionId, sub: identity.sub, backendTls: backend.tls }, 'postgres session started');
    session.start();
  };

  const server: Server = createServer({ pauseOnConnect: false }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    handle(socket).catch((err: unknown) => {
      log.error({ connection: opts.connection.name, err: err instanceof Error ? err.message : String(err) }, 'postgres connection failed');
      socket.destroy();
    });
  });
  server.on('error', (err) => log.error({ connection: opts.connection.name, err: err.message }, 'postgres listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listenPort, opts.listenHost ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('listener has no TCP address');

  const snapshot = (id: string, s: { session: PgSession; identity: Identity; startedAt: Date }): SessionSnapshot => ({
    id,
    sub: s.identity.sub,
    identity: s.identity,
    startedAt: s.startedAt,
    transactionStatus: s.session.transactionStatus,
    stats: { ...s.session.stats },
  });
  const terminateAll = (message: string): void => {
    for (const { session } of [...live.values()]) session.terminate('terminated', '57P01', message);
  };
  const stopListening = (): Promise<void> => (closed ??= new Promise<void>((resolve) => server.close(() => resolve())));

  return {
    host: addr.address,
    port: addr.port,
    sessions: () => [...live.entries()].map(([id, s]) => snapshot(id, s)),
    totals: () => ({ ...totals }),
    terminateAll,
    terminateWhere(pred, message): number {
      let n = 0;
      for (const [id, s] of [...live.entries()]) {
        const snap = snapshot(id, s);
        if (!pred(snap)) continue;
        const text = typeof message === 'function' ? message(snap) : message;
        endReasons.set(id, text);
        s.session.terminate('terminated', '57P01', text);
        n++;
      }
      return n;
    },
    async stopAccepting(): Promise<void> {
      // server.close() stops accepting at once; its callback waits for live sockets, so it is not awaited here.
      void stopListening();
    },
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      const done = stopListening();
      terminateAll('agentgate: terminating session: the proxy is shutting down');
      for (const s of sockets) s.destroy();
      sharedLineage?.close();
      await done;
    },
  };
}
