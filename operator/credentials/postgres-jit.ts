// Just-in-time PostgreSQL roles. One role per session:
//   CREATE ROLE "agentgate_<16 hex>" LOGIN … PASSWORD '<SCRAM verifier>'
//     VALID UNTIL '<now + validFor>' IN ROLE "<granted>", …
// tagged with a COMMENT that names the session and pod, so the operator can
// find its own roles again after a restart (and never touches anyone else's).
// The role is dropped when its session ends, or by the sweeper once VALID
// UNTIL has passed: logins are switched off, its backends terminated, what it
// owns reassigned to the admin, then the role dropped.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { JitRoleError } from './errors.js';
import { withPgAdmin, type PgAdminTarget } from './pg-admin.js';
import { randomPassword, scramSha256Verifier } from './scram-verifier.js';
import { quoteIdent, quoteLiteral } from './sql-quote.js';

export const JIT_ROLE_PREFIX = 'agentgate_';
const MARKER = 'agentgate-jit:';
const ROLE_NAME = /^agentgate_[0-9a-f]{16}$/;

export interface JitSession {
  id: string;
  pod: { namespace: string; name: string; uid: string };
}

export interface JitRole {
  user: string;
  /** Held in memory only, handed to the sidecar once. */
  password: string;
  expiresAt: Date;
}

interface RoleMarker {
  /** session id */
  s: string;
  /** pod namespace/name */
  p: string;
  /** pod uid */
  u: string;
}

export interface OwnedRole {
  name: string;
  validUntil: Date | null;
  marker: RoleMarker;
}

function parseMarker(comment: string | null): RoleMarker | undefined {
  if (comment === null || !comment.startsWith(MARKER)) return undefined;
  try {
    const m = JSON.parse(comment.slice(MARKER.length)) as Partial<RoleMarker>;
    return typeof m.s === 'string' && typeof m.p === 'string' && typeof m.u === 'string' ? { s: m.s, p: m.p, u: m.u } : undefined;
  } catch {
    return undefined;
  }
}

export function newJitRoleName(): string {
  return `${JIT_ROLE_PREFIX}${randomBytes(8).toString('hex')}`;
}

/** The statements that create one role (exported for tests: every value is quoted). */
export function createRoleStatements(role: string, verifier: string, expiresAt: Date, grantedRoles: readonly string[], session: JitSession): string[] {
  const inRole = grantedRoles.length > 0 ? ` IN ROLE ${grantedRoles.map(quoteIdent).join(', ')}` : '';
  const marker: RoleMarker = { s: session.id, p: `${session.pod.namespace}/${session.pod.name}`, u: session.pod.uid };
  return [
    `CREATE ROLE ${quoteIdent(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT ` +
      `PASSWORD ${quoteLiteral(verifier)} VALID UNTIL ${quoteLiteral(expiresAt.toISOString())}${inRole}`,
    `COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(MARKER + JSON.stringify(marker))}`,
    // The admin becomes a member so that it may terminate the role's backends and reassign what it owns.
    `GRANT ${quoteIdent(role)} TO CURRENT_USER`,
  ];
}

export class PostgresJit {
  /** Creates the role for a session; resolves with its one-time credential. */
  async create(target: PgAdminTarget, grantedRoles: readonly string[], validForMs: number, session: JitSession, now = new Date()): Promise<JitRole> {
    const user = newJitRoleName();
    const password = randomPassword();
    // VALID UNTIL has second precision on the wire; round down so it is never later than promised.
    const expiresAt = new Date(Math.floor((now.getTime() + validForMs) / 1000) * 1000);
    const statements = createRoleStatements(user, scramSha256Verifier(password), expiresAt, grantedRoles, session);
    try {
      await withPgAdmin(target, async (c) => {
        await c.query('BEGIN');
        try {
          for (const s of statements) await c.query(s);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
    } catch (err) {
      throw new JitRoleError(`creating a just-in-time role on ${target.host}:${target.port}/${target.database} failed: ${pgMessage(err)}`, { cause: err });
    }
    return { user, password, expiresAt };
  }

  /** Roles this operator created on the target (found by their comment). */
  async owned(target: PgAdminTarget): Promise<OwnedRole[]> {
    return withPgAdmin(target, (c) => listOwned(c));
  }

  /** Drops the roles of one session (only those tagged with that session and pod). */
  async dropForSession(target: PgAdminTarget, session: JitSession): Promise<string[]> {
    try {
      return await withPgAdmin(target, async (c) => {
        const pod = `${session.pod.namespace}/${session.pod.name}`;
        const mine = (await listOwned(c)).filter((r) => r.marker.s === session.id && r.marker.p === pod && r.marker.u === session.pod.uid);
        for (const r of mine) await dropRole(c, r.name);
        return mine.map((r) => r.name);
      });
    } catch (err) {
      throw new JitRoleError(`dropping the just-in-time role of session ${session.id} failed: ${pgMessage(err)}`, { cause: err });
    }
  }

  /** Drops every role of ours whose VALID UNTIL has passed; returns their names. */
  async sweep(target: PgAdminTarget, now = new Date()): Promise<string[]> {
    try {
      return await withPgAdmin(target, async (c) => {
        const expired = (await listOwned(c)).filter((r) => r.validUntil === null || r.validUntil.getTime() <= now.getTime());
        for (const r of expired) await dropRole(c, r.name);
        return expired.map((r) => r.name);
      });
    } catch (err) {
      throw new JitRoleError(`sweeping expired just-in-time roles on ${target.host}:${target.port}/${target.database} failed: ${pgMessage(err)}`, { cause: err });
    }
  }
}

async function listOwned(c: pg.Client): Promise<OwnedRole[]> {
  const res = await c.query<{ rolname: string; rolvaliduntil: Date | null; comment: string | null }>(
    `SELECT rolname, rolvaliduntil, shobj_description(oid, 'pg_authid') AS comment
       FROM pg_roles WHERE starts_with(rolname, $1)`,
    [JIT_ROLE_PREFIX],
  );
  const out: OwnedRole[] = [];
  for (const row of res.rows) {
    const marker = parseMarker(row.comment);
    if (marker !== undefined && ROLE_NAME.test(row.rolname)) out.push({ name: row.rolname, validUntil: row.rolvaliduntil, marker });
  }
  return out;
}

async function dropRole(c: pg.Client, role: string): Promise<void> {
  const r = quoteIdent(role);
  // No new logins first, then end the live ones, so nothing slips in between.
  await c.query(`ALTER ROLE ${r} NOLOGIN`);
  await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [role]);
  await c.query('BEGIN');
  try {
    await c.query(`REASSIGN OWNED BY ${r} TO CURRENT_USER`);
    await c.query(`DROP OWNED BY ${r}`);
    await c.query(`DROP ROLE ${r}`);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The server's message (it never contains the password: only the verifier is sent, and errors do not echo it). */
function pgMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? ` (SQLSTATE ${e.code})` : '';
    if (typeof e.message === 'string') return `${e.message.slice(0, 500)}${code}`;
  }
  return String(err);
}
