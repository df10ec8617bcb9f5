// One listener per configured Connection, kept in step with the operator's
// configuration: a Connection added gets a listener on 127.0.0.1:listen.port,
// one removed (or changed in anything a listener depends on) has its sessions
// ended with a clear message and its listener closed. Backend credentials are
// brokered per session by the operator (static or just-in-time) and released
// when the session ends; a release that fails is retried for a while (the
// operator may be restarting), and the sweeper drops what is left.
import { startPostgresListener, type PostgresListener, type SessionBackend, type SessionSnapshot } from '../protocols/postgres/listener.js';
import type { ClusterCredentials } from '../cluster/cluster-credentials.js';
import type { PodConfigConnection } from '../cluster/api-types.js';
import type { Gate } from '../gate/gate.js';
import type { Logger } from '../standalone/logger.js';
import { connectionFactsOf, listenerShape, type CompiledConfig } from './compiled-config.js';
import type { LiveSession } from './revocation.js';

export interface ListenerSetOptions {
  gate: Gate;
  state: () => CompiledConfig;
  credentials: Pick<ClusterCredentials, 'forSession' | 'release'>;
  listenHost: string;
  logger: Logger;
  /** Waits between release attempts (default 1 s, doubling, at most 8 tries). */
  releaseRetryMs?: number;
}

interface Running {
  shape: string;
  listener: PostgresListener;
}

export class IncompleteCredentialError extends Error {
  readonly code = 'AG_CREDENTIAL_INCOMPLETE';
  constructor(message: string) {
    super(message);
    this.name = 'IncompleteCredentialError';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

export class ListenerSet {
  private readonly running = new Map<string, Running>();
  /** Connections that should be served but are not (bind failed): retried on the next reconcile. */
  private readonly broken = new Map<string, string>();
  private readonly unsupported = new Set<string>();
  private readonly releases = new Set<Promise<void>>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly o: ListenerSetOptions) {}

  /** Brings the listeners in line with `cfg` (serialised: one reconcile at a time). */
  reconcile(cfg: CompiledConfig): Promise<void> {
    const run = this.queue.then(() => this.apply(cfg));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** True when every Connection this sidecar can serve has its listener. */
  ready(): boolean {
    return this.broken.size === 0;
  }

  ports(): Record<string, number> {
    return Object.fromEntries([...this.running].map(([name, r]) => [name, r.listener.port]));
  }

  sessions(): LiveSession[] {
    const out: LiveSession[] = [];
    for (const [connection, r] of this.running) for (const s of r.listener.sessions()) out.push({ id: s.id, connection, identity: s.identity });
    return out;
  }

  /** Ends the sessions for which `why` names a reason; returns how many. */
  terminate(why: (s: LiveSession) => string | undefined): number {
    let n = 0;
    for (const [connection, r] of this.running) {
      const reasons = new Map<string, string>();
      n += r.listener.terminateWhere(
        (s: SessionSnapshot) => {
          const reason = why({ id: s.id, connection, identity: s.identity });
          if (reason !== undefined) reasons.set(s.id, reason);
          return reason !== undefined;
        },
        (s) => `agentgate: access revoked: ${reasons.get(s.id) ?? 'policy changed'}`,
      );
    }
    return n;
  }

  /** Stops accepting everywhere (shutdown); live sessions go on. */
  async stopAccepting(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((r) => r.listener.stopAccepting()));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await Promise.allSettled([...this.running.values()].map((r) => r.listener.close()));
    this.running.clear();
  }

  /** Resolves once pending credential releases are done (or `timeoutMs` passed). */
  async releasesDone(timeoutMs: number): Promise<boolean> {
    if (this.releases.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([Promise.allSettled([...this.releases]).then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async apply(cfg: CompiledConfig): Promise<void> {
    if (this.closed) return;
    const log = this.o.logger;
    for (const [name, r] of [...this.running]) {
      const c = cfg.connections.get(name);
      if (c !== undefined && listenerShape(c) === r.shape) continue;
      const why = c === undefined ? `connection ${name} is no longer configured for this pod` : `the Connection ${name} changed`;
      await this.retire(name, r, why);
    }
    for (const [name, c] of cfg.connections) {
      if (this.running.has(name)) continue;
      if (c.spec.protocol !== 'postgres') {
        if (!this.unsupported.has(name)) log.error({ connection: name, protocol: c.spec.protocol }, `Connection ${name}: protocol ${c.spec.protocol} is not supported by this sidecar yet; not served`);
        this.unsupported.add(name);
        continue;
      }
      try {
        const listener = await this.start(c);
        this.running.set(name, { shape: listenerShape(c), listener });
        this.broken.delete(name);
        log.info({ connection: name, port: listener.port }, `listening for Connection ${name} on ${this.o.listenHost}:${listener.port}`);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        this.broken.set(name, reason);
        log.error({ connection: name, port: c.spec.listen.port, err: reason }, `Connection ${name}: cannot listen on ${this.o.listenHost}:${c.spec.listen.port}`);
      }
    }
    for (const name of [...this.broken.keys()]) if (!cfg.connections.has(name)) this.broken.delete(name);
    for (const name of [...this.unsupported]) if (!cfg.connections.has(name)) this.unsupported.delete(name);
  }

  private async retire(name: string, r: Running, why: string): Promise<void> {
    this.running.delete(name);
    await r.listener.stopAccepting();
    r.listener.terminateWhere(() => true, `agentgate: access revoked: ${why}`);
    // Give the FATAL a moment to reach the clients before the sockets are cut.
    for (let i = 0; i < 50 && r.listener.sessions().length > 0; i++) await sleep(20);
    await r.listener.close();
    this.o.logger.info({ connection: name, reason: why }, `stopped listening for Connection ${name}`);
  }

  private start(c: PodConfigConnection): Promise<PostgresListener> {
    const facts = connectionFactsOf(c);
    return startPostgresListener({
      connection: facts,
      backend: (session) => this.sessionBackend(c, session.id),
      gate: this.o.gate,
      listenHost: this.o.listenHost,
      listenPort: c.spec.listen.port,
      // Decided per client: a policy change can switch between tokens and pod identity.
      clientAuth: () => (this.o.state().tokenConnections.has(c.name) ? 'password' : 'pod'),
      log: this.o.logger.child({ protocol: 'postgres' }),
    });
  }

  private async sessionBackend(c: PodConfigConnection, sessionId: string): Promise<SessionBackend> {
    const cred = await this.o.credentials.forSession(c.name, sessionId);
    const user = cred.credential.username;
    const password = cred.credential.password;
    if (user === undefined || password === undefined) {
      if (cred.kind === 'jit') this.release(c.name, sessionId);
      throw new IncompleteCredentialError(`the credential for Connection ${c.name} (${cred.credential.source}) has no username or password`);
    }
    return {
      host: c.spec.target.host ?? '',
      port: c.spec.target.port ?? 5432,
      database: c.spec.target.database ?? user,
      user,
      password,
      tls: { mode: c.tls.mode, ca: c.tls.caPem, serverName: c.tls.serverName },
      release: cred.kind === 'jit' ? async () => this.release(c.name, sessionId) : undefined,
    };
  }

  private release(connection: string, sessionId: string): void {
    const base = this.o.releaseRetryMs ?? 1_000;
    const p = (async () => {
      for (let attempt = 0; attempt < 8; attempt++) {
        if (await this.o.credentials.release(connection, sessionId)) return;
        await sleep(base * 2 ** attempt);
      }
      this.o.logger.warn({ connection, session: sessionId }, 'could not release the just-in-time credential; it expires on its own (VALID UNTIL) and the operator sweeps it');
    })();
    this.releases.add(p);
    void p.finally(() => this.releases.delete(p));
  }
}
