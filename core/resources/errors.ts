// Resource-loading failure modes, one class each with a stable `code`
// (see docs/errors.md).

export class ResourceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResourceError';
    this.code = code;
  }
}

/** A manifest file is not valid YAML (the message names the document and line). */
export class ManifestParseError extends ResourceError {
  /** 0-based index of the YAML document in the stream. */
  readonly documentIndex: number;
  constructor(documentIndex: number, message: string, cause?: unknown) {
    super('RESOURCE_MANIFEST_PARSE', message, { cause });
    this.name = 'ManifestParseError';
    this.documentIndex = documentIndex;
  }
}
