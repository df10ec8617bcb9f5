// Approval failure modes, each with a stable `code` (listed in docs/errors.md by the lead).

export type ApprovalRefusalCode =
  | 'AG_APPROVAL_SELF'
  | 'AG_APPROVAL_NOT_APPROVER'
  | 'AG_APPROVAL_DUPLICATE'
  | 'AG_APPROVAL_DECIDED'
  | 'AG_APPROVAL_EXPIRED'
  | 'AG_APPROVAL_NOT_EXPIRED'
  | 'AG_APPROVAL_POLICY_GONE'
  | 'AG_APPROVAL_BAD_UPDATE'
  | 'AG_APPROVAL_REASON_REQUIRED'
  | 'AG_APPROVAL_STAMP_MISMATCH'
  | 'AG_APPROVAL_CREATE_FORBIDDEN';

export class AccessRequestError extends Error {
  readonly code: string;
  /** HTTP status for the sidecar API. */
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = 'AccessRequestError';
    this.code = code;
    this.status = status;
  }
}
