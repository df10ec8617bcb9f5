// Bounded JSON bodies and JSON answers for the sidecar API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, badRequest } from './errors.js';

/** Reads a JSON object body of at most `limit` bytes. 413 beyond, 415 for another type, 400 for bad JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new ApiError(415, 'AG_API_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new ApiError(413, 'AG_API_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new ApiError(413, 'AG_API_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`);
    chunks.push(c);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    // JSON.parse names the position, never more than a character of the input.
    throw badRequest(`the body is not valid JSON: ${err instanceof Error ? err.message.slice(0, 200) : 'parse error'}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('the body must be a JSON object');
  return value as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    // Answers may hold credentials or configuration: never cached by anything in between.
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
  // A body that was not read to the end (413) leaves the connection unusable.
  if (err.status === 413) headers.connection = 'close';
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, headers);
}

/** A string field of a JSON body: required, bounded, optionally matching a pattern. */
export function stringField(body: Record<string, unknown>, name: string, o: { max: number; pattern?: RegExp; optional?: boolean }): string | undefined {
  const v = body[name];
  if (v === undefined && o.optional === true) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw badRequest(`${name} must be a non-empty string`);
  if (v.length > o.max) throw badRequest(`${name} is longer than ${o.max} characters`);
  if (o.pattern !== undefined && !o.pattern.test(v)) throw badRequest(`${name} has an invalid format`);
  return v;
}
