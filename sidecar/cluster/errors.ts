// Operator-API client failure modes, each with a stable `code`.

export class OperatorApiError extends Error {
  readonly code: string;
  /** HTTP status the operator answered with. */
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'OperatorApiError';
    this.status = status;
    this.code = code;
  }
}

/** No answer: connection refused, TLS failure, timeout, or an unreadable token/CA file. */
export class OperatorUnreachableError extends Error {
  readonly code = 'AG_OPERATOR_UNREACHABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OperatorUnreachableError';
  }
}
