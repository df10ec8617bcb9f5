// Errors raised while compiling a masking configuration. Each failure mode has
// one class with a stable `code` (core/errors.ts does not exist yet; the lead
// may merge these there). Compilation fails closed: a policy whose masking
// cannot be compiled must not be served.

export class InvalidMaskPatternError extends Error {
  readonly code = 'MASK_INVALID_PATTERN';
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`masking: custom detector pattern ${JSON.stringify(truncate(pattern))} rejected: ${reason}`);
    this.name = 'InvalidMaskPatternError';
  }
}

export class InvalidMaskSpecError extends Error {
  readonly code = 'MASK_INVALID_SPEC';
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`masking: ${field}: ${reason}`);
    this.name = 'InvalidMaskSpecError';
  }
}

export class MaskHashKeyError extends Error {
  readonly code = 'MASK_HASH_KEY_INVALID';
  constructor(reason: string) {
    super(`masking: the hash strategy needs a per-policy key (hashKeySecretRef): ${reason}`);
    this.name = 'MaskHashKeyError';
  }
}

/** A protocol frame handed to a masker is malformed; the caller should end the session (fail closed). */
export class MaskFrameError extends Error {
  readonly code = 'MASK_MALFORMED_FRAME';
  constructor(reason: string) {
    super(`masking: malformed frame: ${reason}`);
    this.name = 'MaskFrameError';
  }
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The data cannot be masked in this form (binary COPY); the caller must refuse the operation (fail closed). */
export class MaskUnsupportedError extends Error {
  readonly code = 'MASK_UNSUPPORTED';
  constructor(what: string) {
    super(`masking: ${what} cannot be masked; refused because masking applies`);
    this.name = 'MaskUnsupportedError';
  }
}
