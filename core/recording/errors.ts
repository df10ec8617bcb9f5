// Recording failure modes, one class each with a stable `code` (see docs/errors.md).

export class RecordingError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RecordingError';
    this.code = code;
  }
}

/** The spool reached its byte bound; new events are refused until shipping frees space. */
export class SpoolFullError extends RecordingError {
  constructor(message: string) {
    super('RECORD_SPOOL_FULL', message);
    this.name = 'SpoolFullError';
  }
}

/** The spool could not write or fsync (disk full, directory unwritable, read-only fs). */
export class SpoolWriteError extends RecordingError {
  constructor(message: string, cause?: unknown) {
    super('RECORD_SPOOL_WRITE', message, { cause });
    this.name = 'SpoolWriteError';
  }
}

/** Another live process holds the spool directory. */
export class SpoolLockedError extends RecordingError {
  constructor(message: string) {
    super('RECORD_SPOOL_LOCKED', message);
    this.name = 'SpoolLockedError';
  }
}

/** An event payload carried a field whose name says it is a credential. */
export class SecretFieldError extends RecordingError {
  constructor(field: string) {
    super('RECORD_SECRET_FIELD', `refusing to record field "${field}": credentials never enter a recording`);
    this.name = 'SecretFieldError';
  }
}

/** A sink received events that do not continue the chain it holds (gap, conflict or bad hash). */
export class ChainConflictError extends RecordingError {
  constructor(message: string) {
    super('RECORD_CHAIN_CONFLICT', message);
    this.name = 'ChainConflictError';
  }
}

/** The session recording is closed (ended or failed) and takes no more events. */
export class RecordingClosedError extends RecordingError {
  constructor(sessionId: string) {
    super('RECORD_CLOSED', `session ${sessionId} recording is closed`);
    this.name = 'RecordingClosedError';
  }
}
