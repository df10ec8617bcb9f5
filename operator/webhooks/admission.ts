// AdmissionReview v1 types and built responses. Handlers return responses;
// `review()` turns any exception into `allowed: false` with a 500 status that
// keeps the request UID (controller-runtime's Errored), so a bug fails closed
// and the API server still gets a well-formed answer.
import type { Logger } from 'pino';
import type { PatchOp } from './json-patch.js';
import { errorMessage } from '../errors.js';

export interface GroupVersionKind { group: string; version: string; kind: string }
export interface GroupVersionResource { group: string; version: string; resource: string }

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  namespace?: string;
  name?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export type AdmissionHandler = (req: AdmissionRequest) => AdmissionResponse | Promise<AdmissionResponse>;

// The API server limits each warning to 256 characters (longer ones are cut with a note).
const warn = (w: string[] | undefined): { warnings?: string[] } => (w && w.length > 0 ? { warnings: w.map((x) => x.slice(0, 256)) } : {});

export const allowed = (req: AdmissionRequest, warnings?: string[]): AdmissionResponse => ({ uid: req.uid, allowed: true, ...warn(warnings) });

export const denied = (req: AdmissionRequest, message: string, code = 403, reason = 'Forbidden'): AdmissionResponse =>
  ({ uid: req.uid, allowed: false, status: { code, message, reason } });

export const errored = (req: AdmissionRequest | { uid: string }, message: string): AdmissionResponse =>
  ({ uid: req.uid, allowed: false, status: { code: 500, message, reason: 'InternalError' } });

export const patched = (req: AdmissionRequest, ops: readonly PatchOp[], warnings?: string[]): AdmissionResponse =>
  ops.length === 0
    ? allowed(req, warnings)
    : { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64'), ...warn(warnings) };

export class AdmissionParseError extends Error {
  readonly code = 'AG_OPERATOR_ADMISSION_PARSE';
}

/** The request inside an AdmissionReview body, or an error for a body that is not one. */
export function parseReview(body: unknown): AdmissionRequest {
  if (typeof body !== 'object' || body === null) throw new AdmissionParseError('body is not a JSON object');
  const b = body as { apiVersion?: unknown; kind?: unknown; request?: unknown };
  if (b.kind !== 'AdmissionReview' || b.apiVersion !== 'admission.k8s.io/v1') {
    throw new AdmissionParseError('expected an admission.k8s.io/v1 AdmissionReview');
  }
  const r = b.request as Partial<AdmissionRequest> | undefined;
  if (!r || typeof r.uid !== 'string' || r.uid === '' || typeof r.operation !== 'string' || typeof r.kind !== 'object') {
    throw new AdmissionParseError('AdmissionReview has no request with uid, kind and operation');
  }
  return { userInfo: {}, ...r } as AdmissionRequest;
}

/** Runs a handler and always returns a review; never throws. */
export async function review(req: AdmissionRequest, handler: AdmissionHandler, log: Logger, webhook: string): Promise<AdmissionReview> {
  let response: AdmissionResponse;
  try {
    response = await handler(req);
    if (response.uid !== req.uid) response = { ...response, uid: req.uid };
  } catch (err) {
    log.error({ webhook, uid: req.uid, err: errorMessage(err) }, 'admission handler failed; refusing');
    response = errored(req, `agentgate: internal error in ${webhook}: ${errorMessage(err)}`);
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
