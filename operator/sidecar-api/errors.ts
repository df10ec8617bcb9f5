// Sidecar-API failure modes: an HTTP status and a stable `code`, answered as
// {"error": {"code", "message"}}. Messages never carry a token or a secret.

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export const unauthorized = (message: string): ApiError => new ApiError(401, 'AG_API_UNAUTHENTICATED', message);
export const forbidden = (code: string, message: string): ApiError => new ApiError(403, code, message);
export const badRequest = (message: string): ApiError => new ApiError(400, 'AG_API_BAD_REQUEST', message);
export const notFound = (message: string): ApiError => new ApiError(404, 'AG_API_NOT_FOUND', message);
