// Session-event ingest on the leader only. Transcripts live on a volume that
// one process writes at a time (the filesystem store keeps each session's head
// in memory and has no lock across processes), so a replica that does not hold
// the Lease answers 503 and closes the connection: the sidecar keeps the
// events in its spool and retries, and a new connection lets the Service pick
// another replica. Every other sidecar-API route reads or writes through the
// API server (or the backend) and is served by every replica.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.js';
import { sendError } from './http-io.js';
import { SIDECAR_API_PREFIX } from './sidecar-api.js';

const EVENTS_ROUTE = /^sessions\/[^/]+\/events$/; // as in sidecar-api.ts, after the prefix

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** True for the path of the event-ingest route (`POST /sidecar/v1/sessions/ID/events`). */
export function isEventIngest(url: string | undefined): boolean {
  let path: string;
  try {
    path = new URL(url ?? '/', 'https://operator.invalid').pathname; // normalised exactly as the router does (dot segments)
  } catch {
    return false; // the router refuses it too
  }
  return path.startsWith(SIDECAR_API_PREFIX) && EVENTS_ROUTE.test(path.slice(SIDECAR_API_PREFIX.length));
}

/** Wraps the sidecar API: event ingest is refused (503, AG_API_NOT_LEADER) while `isLeader()` is false. */
export function ingestOnLeader(api: RequestHandler, isLeader: () => boolean): RequestHandler {
  return (req, res) => {
    if (!isLeader() && isEventIngest(req.url)) {
      res.setHeader('retry-after', '1');
      res.setHeader('connection', 'close'); // the body is left unread, and a new connection may reach the leader
      sendError(res, new ApiError(503, 'AG_API_NOT_LEADER', 'this operator replica does not store transcripts now (not the leader); retry'));
      return;
    }
    api(req, res);
  };
}
