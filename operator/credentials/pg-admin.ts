// The operator's admin connection to a PostgreSQL target, for minting and
// dropping just-in-time roles: node-postgres with TLS per the Connection
// (verify-full checks the host name, verify-ca the chain; `require` verifies
// the chain too when a CA is given, as libpq does with a root certificate).
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import pg from 'pg';
import type { TLSMode } from '../../core/resources/generated.js';

export interface PgTls {
  mode: TLSMode;
  caPem?: string | undefined;
  serverName?: string | undefined;
}

export interface PgAdminTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  tls: PgTls;
}

const CONNECT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 15_000;

function sslOptions(t: PgAdminTarget): pg.ClientConfig['ssl'] {
  const { mode, caPem, serverName } = t.tls;
  if (mode === 'disable') return false;
  const verify = mode === 'verify-ca' || mode === 'verify-full' || caPem !== undefined;
  const name = serverName ?? t.host;
  return {
    ...(caPem !== undefined ? { ca: caPem } : {}),
    rejectUnauthorized: verify,
    ...(isIP(name) === 0 ? { servername: name } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined =>
      mode === 'verify-full' ? checkServerIdentity(name, cert) : undefined,
  };
}

/** Opens an admin connection, runs `fn`, and always closes it. */
export async function withPgAdmin<T>(t: PgAdminTarget, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    host: t.host,
    port: t.port,
    database: t.database,
    user: t.user,
    password: t.password,
    ssl: sslOptions(t),
    application_name: 'agentgate-operator',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
  });
  // A connection error after connect() (server gone) must not crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
