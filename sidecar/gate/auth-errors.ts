// Authentication failures, one code per failure mode. Messages say what was
// wrong with the credential, never the credential itself.

export type AuthErrorCode =
  | 'AUTH_MISSING' // no credential where one is required
  | 'AUTH_INVALID' // malformed, bad signature, expired, wrong audience or issuer
  | 'AUTH_UNAVAILABLE'; // cannot verify right now (JWKS unreachable): fail closed

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'AuthError';
    this.code = code;
  }
}
