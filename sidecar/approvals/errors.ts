// Local approval failure modes, each with a stable `code`.

export class ApprovalError extends Error {
  readonly code: string;
  /** HTTP status the admin server answers with. */
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = 'ApprovalError';
    this.code = code;
    this.status = status;
  }
}

export class ApprovalNotFoundError extends ApprovalError {
  constructor(id: string) {
    super('APPROVAL_NOT_FOUND', 404, `no pending approval ${id} (unknown, already decided or expired)`);
    this.name = 'ApprovalNotFoundError';
  }
}

export class SelfApprovalError extends ApprovalError {
  constructor(id: string) {
    super('APPROVAL_SELF', 403, `approval ${id}: the requester cannot approve its own request`);
    this.name = 'SelfApprovalError';
  }
}

export class DuplicateApproverError extends ApprovalError {
  constructor(id: string, user: string) {
    super('APPROVAL_DUPLICATE_APPROVER', 409, `approval ${id}: ${user} has already approved; another approver is needed`);
    this.name = 'DuplicateApproverError';
  }
}

export class ApprovalInputError extends ApprovalError {
  constructor(message: string) {
    super('APPROVAL_BAD_INPUT', 400, message);
    this.name = 'ApprovalInputError';
  }
}
