// Errors of the control-plane harness, each with a stable `code`.
export type ControlPlaneErrorCode =
  | 'CONTROL_PLANE_REPO_NOT_FOUND'
  | 'CONTROL_PLANE_BUILD_FAILED'
  | 'CONTROL_PLANE_CERTS_FAILED'
  | 'CONTROL_PLANE_START_FAILED'
  | 'CONTROL_PLANE_NOT_READY'
  | 'CONTROL_PLANE_BAD_ARGUMENT';

export class ControlPlaneError extends Error {
  readonly code: ControlPlaneErrorCode;

  constructor(code: ControlPlaneErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'ControlPlaneError';
    this.code = code;
  }
}
