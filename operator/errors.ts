// Operator error classes. Each failure mode has one class with a stable `code`
// (listed in docs/errors.md by the lead), so logs and statuses can be matched.

export class OperatorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A non-2xx answer from the Kubernetes API server. */
export class KubeApiError extends OperatorError {
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super('AG_OPERATOR_KUBE_API', `${method} ${path}: ${status} ${reason}: ${message}`);
    this.status = status;
    this.reason = reason;
  }
}

/** A command-line flag or environment variable that cannot be used. */
export class ConfigError extends OperatorError {
  constructor(message: string) {
    super('AG_OPERATOR_CONFIG', message);
  }
}

/** Generating or parsing the webhook certificates failed. */
export class CertificateError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AG_OPERATOR_CERTIFICATE', message, options);
  }
}

/** The Lease could not be read or written. */
export class LeaderElectionError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AG_OPERATOR_LEADER_ELECTION', message, options);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';
}
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The operator could not learn its own user from the API server (SelfSubjectReview). */
export class IdentityError extends OperatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AG_OPERATOR_IDENTITY', message, options);
  }
}
