// Which live sessions lose their footing when the configuration changes or
// time passes: a session stays only while its connection is still configured
// for this pod and some AccessPolicy still applies to its identity on that
// connection; a session that went through a time-bound grant ends when that
// grant expires or disappears. Pure: the caller terminates what this names.
import type { Identity } from '../../core/policy/activation.js';
import type { ActiveGrant } from '../cluster/api-types.js';
import type { CompiledConfig } from './compiled-config.js';

export interface LiveSession {
  id: string;
  connection: string;
  identity: Identity;
}

export interface GrantUse {
  /** The grant has been in a configuration (so its absence later means it ended). */
  seen: boolean;
  /** Its end as last seen (RFC 3339). */
  expiresAt?: string | undefined;
}

/** The grants one session relied on (by AccessRequest name), and whether each has been seen in a configuration. */
export class GrantUsage {
  private readonly bySession = new Map<string, Map<string, GrantUse>>();

  /** The session used the grant `g`, or (a request name) was just approved into a grant not configured yet. */
  use(sessionId: string, grant: ActiveGrant | string): void {
    const m = this.bySession.get(sessionId) ?? new Map<string, GrantUse>();
    const request = typeof grant === 'string' ? grant : grant.request;
    const prev = m.get(request);
    m.set(request, typeof grant === 'string' ? (prev ?? { seen: false }) : { seen: true, expiresAt: grant.expiresAt });
    this.bySession.set(sessionId, m);
  }

  /** Marks grants present in a configuration as seen, with their current end. */
  observe(grants: readonly ActiveGrant[]): void {
    const present = new Map(grants.map((g) => [g.request, g]));
    for (const m of this.bySession.values()) {
      for (const [name, u] of m) {
        const g = present.get(name);
        if (g !== undefined) {
          u.seen = true;
          u.expiresAt = g.expiresAt;
        }
      }
    }
  }

  of(sessionId: string): ReadonlyMap<string, GrantUse> {
    return this.bySession.get(sessionId) ?? new Map();
  }

  forget(sessionId: string): void {
    this.bySession.delete(sessionId);
  }
}

/** Why the session must end now, or undefined when it may go on. */
export function revocationReason(s: LiveSession, cfg: CompiledConfig, usage: GrantUsage, now: number): string | undefined {
  if (!cfg.connections.has(s.connection)) return `connection ${s.connection} is no longer configured for this pod`;
  // The pod as it is now (labels may have changed), the identity as it was authenticated.
  const identity: Identity = { ...s.identity, pod: cfg.pod };
  if (cfg.engine.applicable(identity, s.connection).length === 0) {
    return `no AccessPolicy grants ${s.identity.sub} access to connection ${s.connection} any more`;
  }
  for (const [request, u] of usage.of(s.id)) {
    const g = cfg.grants.find((x) => x.request === request);
    const expiresAt = g?.expiresAt ?? u.expiresAt;
    const expires = expiresAt !== undefined ? Date.parse(expiresAt) : NaN;
    if (expiresAt !== undefined && (!Number.isFinite(expires) || expires <= now)) return `the grant of AccessRequest ${request} expired at ${expiresAt}`;
    // Gone before its end (policy changed, request withdrawn); not seen yet means approved just now: the next configuration decides.
    if (g === undefined && u.seen) return `the grant of AccessRequest ${request} was withdrawn`;
  }
  return undefined;
}

/** The grant a review would be let through by (same rule, connection and identity, not expired). */
export function matchingGrant(
  grants: readonly ActiveGrant[],
  q: { policy: string; rule: string; connection: string; identity: Pick<Identity, 'sub' | 'iss'> },
  now: number,
): ActiveGrant | undefined {
  return grants.find((g) =>
    g.policy === q.policy && g.rule === q.rule && g.connection === q.connection && g.identity.sub === q.identity.sub &&
    (g.identity.iss === undefined || g.identity.iss === q.identity.iss) && Date.parse(g.expiresAt) > now);
}
