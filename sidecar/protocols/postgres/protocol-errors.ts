// Error classes of the PostgreSQL proxy, one per failure mode, each with a
// stable `code` and the SQLSTATE the client sees. Messages never carry a
// credential, a token or statement text.

export type PgProxyErrorCode =
  | 'PG_PROTOCOL_VIOLATION' // malformed or unexpected client bytes
  | 'PG_BACKEND_PROTOCOL' // the backend sent something we cannot read
  | 'PG_BACKEND_UNAVAILABLE' // cannot reach / lost the backend
  | 'PG_BACKEND_TLS' // TLS to the backend failed or was refused
  | 'PG_BACKEND_AUTH' // the backend refused the brokered credential
  | 'PG_CLIENT_AUTH' // the agent's credential was refused
  | 'PG_SESSION_LIMIT'; // idle timeout / max duration reached

const SQLSTATE: Record<PgProxyErrorCode, string> = {
  PG_PROTOCOL_VIOLATION: '08P01',
  PG_BACKEND_PROTOCOL: '08P01',
  PG_BACKEND_UNAVAILABLE: '08006',
  PG_BACKEND_TLS: '08006',
  PG_BACKEND_AUTH: '08006',
  PG_CLIENT_AUTH: '28P01',
  PG_SESSION_LIMIT: '57P01',
};

export class PgProxyError extends Error {
  readonly code: PgProxyErrorCode;
  /** SQLSTATE for the ErrorResponse the client gets. */
  readonly sqlstate: string;
  constructor(code: PgProxyErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'PgProxyError';
    this.code = code;
    this.sqlstate = SQLSTATE[code];
  }
}

/** Malformed client input: the connection gets 08P01 and is closed. */
export function protocolViolation(message: string): PgProxyError {
  return new PgProxyError('PG_PROTOCOL_VIOLATION', message);
}

export function backendProtocolError(message: string): PgProxyError {
  return new PgProxyError('PG_BACKEND_PROTOCOL', message);
}
