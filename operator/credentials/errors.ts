// Credential failure modes, each with a stable `code`. Messages name Secrets
// and keys, never values.

export class CredentialError extends Error {
  readonly code: string;
  /** HTTP status for the sidecar API. */
  readonly status: number;
  constructor(code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CredentialError';
    this.code = code;
    this.status = status;
  }
}

/** The referenced Secret or one of its keys is missing. */
export class SecretMissingError extends CredentialError {
  constructor(message: string) {
    super('AG_CRED_SECRET_MISSING', 503, message);
    this.name = 'SecretMissingError';
  }
}

/** The Connection asks for a kind of credential the operator cannot issue. */
export class UnsupportedCredentialError extends CredentialError {
  constructor(message: string) {
    super('AG_CRED_UNSUPPORTED', 501, message);
    this.name = 'UnsupportedCredentialError';
  }
}

/** Creating or dropping a just-in-time role failed. */
export class JitRoleError extends CredentialError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AG_CRED_JIT_FAILED', 502, message, options);
    this.name = 'JitRoleError';
  }
}
