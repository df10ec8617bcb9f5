// Event-ingest failure modes, each with a stable `code` and the HTTP status the sidecar API answers with.

export class IngestError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string) {
    super(message);
    this.name = 'IngestError';
    this.code = code;
    this.status = status;
  }
}
