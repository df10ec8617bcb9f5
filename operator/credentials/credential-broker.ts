// One entry point for backend credentials: issue one for a session (static
// from the Connection's Secret, or a just-in-time PostgreSQL role), release a
// session's just-in-time role, and sweep expired ones. The caller (the
// sidecar API) has already checked that the pod may use the connection.
import type { Logger } from 'pino';
import { parseDuration } from '../../core/policy/duration.js';
import type { Connection } from '../../core/resources/generated.js';
import { errorMessage } from '../errors.js';
import { CredentialError, UnsupportedCredentialError } from './errors.js';
import type { PgAdminTarget, PgTls } from './pg-admin.js';
import { PostgresJit, type JitSession } from './postgres-jit.js';
import { secretText, type SecretReader } from './secret-reader.js';

export interface IssuedCredential {
  kind: 'static' | 'jit';
  username?: string;
  password?: string;
  privateKey?: string;
  token?: string;
  /** RFC 3339; for jit credentials. */
  expiresAt?: string;
  /** Safe to log: where it came from ("Secret ns/name", "jit role agentgate_…"). */
  source: string;
}

export interface CredentialBrokerOptions {
  secrets: SecretReader;
  jit?: PostgresJit;
  log: Logger;
  now?: () => Date;
}

const DEFAULT_VALID_FOR = '15m';

function connKey(c: Connection): string {
  return `${c.metadata.namespace ?? ''}/${c.metadata.name ?? ''}`;
}

export class CredentialBroker {
  private readonly secrets: SecretReader;
  private readonly jit: PostgresJit;
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(o: CredentialBrokerOptions) {
    this.secrets = o.secrets;
    this.jit = o.jit ?? new PostgresJit();
    this.log = o.log;
    this.now = o.now ?? (() => new Date());
  }

  /** TLS to the target: mode, the CA PEM from tls.caSecretRef (a CA is not a secret), server name. */
  async resolveTls(c: Connection): Promise<PgTls> {
    const tls = c.spec.tls;
    const ns = c.metadata.namespace ?? '';
    let caPem: string | undefined;
    if (tls?.caSecretRef !== undefined) {
      const key = tls.caSecretRef.key ?? 'ca.crt';
      caPem = secretText(await this.secrets.read(ns, tls.caSecretRef.name, [key]), key);
    }
    return { mode: tls?.mode ?? 'verify-full', caPem, serverName: tls?.serverName };
  }

  async issue(c: Connection, session: JitSession): Promise<IssuedCredential> {
    const ns = c.metadata.namespace ?? '';
    const creds = c.spec.credentials;
    if (creds.secretRef !== undefined) {
      const ref = creds.secretRef;
      const wanted: Array<[keyof IssuedCredential, string | undefined]> = c.spec.protocol === 'postgres'
        ? [['username', ref.usernameKey ?? 'username'], ['password', ref.passwordKey ?? 'password']]
        : c.spec.protocol === 'ssh'
          ? [['username', ref.usernameKey], ['privateKey', ref.privateKeyKey ?? 'privateKey'], ['password', ref.passwordKey]]
          : [['token', ref.tokenKey ?? 'token']];
      // Optional keys (ssh username/password) are only read when named.
      const keys = wanted.filter(([, k]) => k !== undefined).map(([, k]) => k as string);
      const values = await this.secrets.read(ns, ref.name, keys);
      const out: IssuedCredential = { kind: 'static', source: `Secret ${ns}/${ref.name}` };
      for (const [field, key] of wanted) {
        if (key !== undefined) (out as unknown as Record<string, string>)[field] = secretText(values, key);
      }
      return out;
    }
    const pgJit = creds.jit?.postgres;
    if (pgJit !== undefined) {
      if (c.spec.protocol !== 'postgres') throw new UnsupportedCredentialError(`Connection ${connKey(c)}: jit.postgres needs protocol postgres`);
      const target = await this.adminTarget(c);
      const validForMs = parseDuration(pgJit.validFor ?? DEFAULT_VALID_FOR);
      const role = await this.jit.create(target, pgJit.grantedRoles ?? [], validForMs, session, this.now());
      this.log.info({ connection: connKey(c), session: session.id, role: role.user, expiresAt: role.expiresAt.toISOString() }, 'just-in-time role created');
      return { kind: 'jit', username: role.user, password: role.password, expiresAt: role.expiresAt.toISOString(), source: `jit role ${role.user}` };
    }
    if (creds.jit?.ssh !== undefined) {
      throw new UnsupportedCredentialError(`Connection ${connKey(c)}: just-in-time SSH certificates are not issued yet`);
    }
    throw new CredentialError('AG_CRED_NONE', 500, `Connection ${connKey(c)} names no credentials`);
  }

  /** Drops the session's just-in-time role (no-op for static credentials). */
  async release(c: Connection, session: JitSession): Promise<string[]> {
    if (c.spec.credentials.jit?.postgres === undefined) return [];
    const dropped = await this.jit.dropForSession(await this.adminTarget(c), session);
    if (dropped.length > 0) this.log.info({ connection: connKey(c), session: session.id, roles: dropped }, 'just-in-time role dropped');
    return dropped;
  }

  /** Drops expired roles on every jit.postgres target (each target once). Errors are logged, never thrown. */
  async sweep(connections: readonly Connection[]): Promise<string[]> {
    const seen = new Set<string>();
    const dropped: string[] = [];
    for (const c of connections) {
      if (c.spec.credentials.jit?.postgres === undefined) continue;
      try {
        const target = await this.adminTarget(c);
        const key = `${target.host}:${target.port}/${target.database}/${target.user}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const names = await this.jit.sweep(target, this.now());
        if (names.length > 0) this.log.info({ connection: connKey(c), roles: names }, 'expired just-in-time roles dropped');
        dropped.push(...names);
      } catch (err) {
        this.log.warn({ connection: connKey(c), err: errorMessage(err) }, 'sweeping just-in-time roles failed; will retry');
      }
    }
    return dropped;
  }

  private async adminTarget(c: Connection): Promise<PgAdminTarget> {
    const jit = c.spec.credentials.jit?.postgres;
    if (jit === undefined) throw new UnsupportedCredentialError(`Connection ${connKey(c)} has no jit.postgres`);
    const ns = c.metadata.namespace ?? '';
    const uk = jit.adminSecretRef.usernameKey ?? 'username';
    const pk = jit.adminSecretRef.passwordKey ?? 'password';
    const values = await this.secrets.read(ns, jit.adminSecretRef.name, [uk, pk]);
    const host = c.spec.target.host;
    if (host === undefined) throw new UnsupportedCredentialError(`Connection ${connKey(c)} has no target.host`);
    return {
      host,
      port: c.spec.target.port ?? 5432,
      database: c.spec.target.database ?? 'postgres',
      user: secretText(values, uk),
      password: secretText(values, pk),
      tls: await this.resolveTls(c),
    };
  }
}

/** Runs the sweeper every `intervalMs` until the returned stop() is called. */
export function startJitSweeper(broker: CredentialBroker, connections: () => readonly Connection[], intervalMs = 60_000): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void broker.sweep(connections()).finally(() => {
      running = false;
    });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
