// The sidecar API router. Every route first authenticates the caller's
// projected token (TokenReview → the pod); everything a route does is scoped
// to that pod. Bodies are bounded per route; answers are JSON, errors are
// {"error": {"code", "message"}} with a stable code, and nothing secret is
// ever logged (credentials go out in the answer body only).
//
//   GET  /sidecar/v1/config[?watch=<etag>&timeoutSeconds=N]       this pod's configuration (long poll)
//   POST /sidecar/v1/credentials                                   {connection, sessionId} → a credential for the session
//   POST /sidecar/v1/access-requests                               a review decision → {name, phase, expiresAt, …}
//   GET  /sidecar/v1/access-requests/NAME[?watch=<phase>&timeoutSeconds=N]  its status (long poll)
//   POST /sidecar/v1/sessions/ID/events                            {events: [...]} → {ackedThrough}
//   POST /sidecar/v1/sessions/ID/end                               {connection} → drops the session's JIT role
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Connection } from '../../core/resources/generated.js';
import type { AccessRequestService } from '../approvals/access-requests.js';
import type { PgTls } from '../credentials/pg-admin.js';
import type { IssuedCredential } from '../credentials/credential-broker.js';
import type { JitSession } from '../credentials/postgres-jit.js';
import type { SecretReader } from '../credentials/secret-reader.js';
import type { EventIngest } from '../records/event-ingest.js';
import { errorMessage, KubeApiError } from '../errors.js';
import type { ClusterResources, ResourceKind } from './cluster-resources.js';
import { ApiError, badRequest, forbidden, notFound } from './errors.js';
import { readJsonBody, sendError, sendJson, stringField } from './http-io.js';
import { buildPodConfig, nextTimedChange, podMayUse, type PodConfig } from './pod-config.js';
import { bearerToken, type CallerPod, type PodAuthenticator } from './token-reviewer.js';

export const SIDECAR_API_PREFIX = '/sidecar/v1/';

export interface CredentialIssuer {
  resolveTls(c: Connection): Promise<PgTls>;
  issue(c: Connection, session: JitSession): Promise<IssuedCredential>;
  release(c: Connection, session: JitSession): Promise<string[]>;
}

export interface SidecarApiDeps {
  authenticator: PodAuthenticator;
  resources: ClusterResources;
  credentials: CredentialIssuer;
  secrets: SecretReader;
  accessRequests: AccessRequestService;
  ingest: EventIngest;
  log: Logger;
  now?: () => Date;
  /** Longest long poll (default 30 s; a client asks for less with timeoutSeconds). */
  maxWatchMs?: number;
}

const LIMITS = { credentials: 4 * 1024, accessRequests: 160 * 1024, events: 4 * 1024 * 1024, end: 4 * 1024 } as const;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const PROTOCOLS = new Set(['postgres', 'ssh', 'http']);
const PHASES = new Set(['Pending', 'Approved', 'Denied', 'Expired']);

type Handler = (ctx: RouteContext) => Promise<void>;
interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  pod: CallerPod;
  params: string[];
}

/** Wakes a long poll when its namespace changes, at `wakeAt`, at the deadline, or when the client goes. */
class Waiter {
  private changed = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  closed = false;

  constructor(resources: ClusterResources, namespace: string, kinds: readonly ResourceKind[], res: ServerResponse) {
    this.unsubscribe = resources.onChange((ns, kind) => {
      if (ns !== namespace || !kinds.includes(kind)) return;
      this.changed = true;
      this.wake?.();
    });
    // 'close' before the answer was written means the client went away.
    res.once('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** Resolves on a change since the last call, or at `until` (epoch ms). */
  async next(until: number): Promise<void> {
    if (this.changed || this.closed) {
      this.changed = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, until - Date.now()));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
    this.changed = false;
  }

  done(): void {
    this.unsubscribe();
  }
}

export function createSidecarApi(deps: SidecarApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const now = deps.now ?? (() => new Date());
  const maxWatchMs = deps.maxWatchMs ?? 30_000;
  const log = deps.log.child({ component: 'sidecar-api' });

  const watchDeadline = (url: URL): number => {
    const raw = url.searchParams.get('timeoutSeconds');
    const asked = raw === null ? maxWatchMs : Number(raw) * 1000;
    if (!Number.isFinite(asked) || asked < 0) throw badRequest('timeoutSeconds must be a non-negative number');
    return Date.now() + Math.min(asked, maxWatchMs);
  };

  const config = (pod: CallerPod): Promise<PodConfig> =>
    buildPodConfig(pod, deps.resources, {
      resolveTls: (c) => deps.credentials.resolveTls(c),
      secretValue: async (ns, name, key) => (await deps.secrets.read(ns, name, [key])).get(key) ?? Buffer.alloc(0),
    }, now());

  const getConfig: Handler = async ({ res, url, pod }) => {
    const watch = url.searchParams.get('watch');
    const waiter = watch !== null ? new Waiter(deps.resources, pod.namespace, ['policy', 'connection', 'accessrequest'], res) : undefined;
    try {
      const deadline = watchDeadline(url);
      let cfg = await config(pod);
      while (waiter !== undefined && cfg.etag === watch && Date.now() < deadline && !waiter.closed) {
        await waiter.next(Math.min(deadline, nextTimedChange(cfg) ?? deadline));
        if (waiter.closed) return;
        cfg = await config(pod);
      }
      if (cfg.etag === watch) {
        res.writeHead(304, { etag: cfg.etag, 'cache-control': 'no-store' }).end();
        return;
      }
      sendJson(res, 200, cfg, { etag: cfg.etag });
    } finally {
      waiter?.done();
    }
  };

  const allowedConnection = (pod: CallerPod, name: string): Connection => {
    const c = podMayUse(pod, deps.resources, name);
    if (c === undefined) throw forbidden('AG_API_CONNECTION_NOT_ALLOWED', `no AccessPolicy lets pod ${pod.namespace}/${pod.name} use connection ${name}`);
    return c;
  };

  const postCredentials: Handler = async ({ req, res, pod }) => {
    const body = await readJsonBody(req, LIMITS.credentials);
    const connection = stringField(body, 'connection', { max: 253, pattern: NAME }) as string;
    const sessionId = stringField(body, 'sessionId', { max: 128, pattern: SESSION_ID }) as string;
    const c = allowedConnection(pod, connection);
    const cred = await deps.credentials.issue(c, { id: sessionId, pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid } });
    log.info({ pod: `${pod.namespace}/${pod.name}`, connection, session: sessionId, kind: cred.kind, source: cred.source }, 'credential issued');
    sendJson(res, 200, cred);
  };

  const postAccessRequest: Handler = async ({ req, res, pod }) => {
    const body = await readJsonBody(req, LIMITS.accessRequests);
    const requester = body.requester;
    if (typeof requester !== 'object' || requester === null || Array.isArray(requester)) throw badRequest('requester must be an object');
    const r = requester as Record<string, unknown>;
    const groups = r.groups;
    if (groups !== undefined && (!Array.isArray(groups) || groups.length > 64 || groups.some((g) => typeof g !== 'string' || g.length > 256))) {
      throw badRequest('requester.groups must be a list of at most 64 strings');
    }
    const protocol = stringField(body, 'protocol', { max: 16 }) as string;
    if (!PROTOCOLS.has(protocol)) throw badRequest('protocol must be postgres, ssh or http');
    const view = await deps.accessRequests.create(pod, {
      policy: stringField(body, 'policy', { max: 317 }) as string,
      rule: stringField(body, 'rule', { max: 63, pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/ }) as string,
      connection: stringField(body, 'connection', { max: 253, pattern: NAME }) as string,
      protocol: protocol as 'postgres' | 'ssh' | 'http',
      operation: stringField(body, 'operation', { max: 65536 }) as string,
      reason: stringField(body, 'reason', { max: 1024, optional: true }),
      sessionId: stringField(body, 'sessionId', { max: 128, pattern: SESSION_ID, optional: true }),
      requester: {
        sub: stringField(r, 'sub', { max: 1024 }) as string,
        iss: stringField(r, 'iss', { max: 1024, optional: true }),
        groups: groups as string[] | undefined,
      },
    });
    log.info({ pod: `${pod.namespace}/${pod.name}`, accessRequest: view.name, expiresAt: view.expiresAt }, 'access request created');
    sendJson(res, 201, view);
  };

  const getAccessRequest: Handler = async ({ res, url, pod, params }) => {
    const name = params[0] ?? '';
    if (!NAME.test(name) || name.length > 253) throw notFound(`no AccessRequest ${name}`);
    const watch = url.searchParams.get('watch');
    if (watch !== null && !PHASES.has(watch)) throw badRequest('watch must be a phase: Pending, Approved, Denied or Expired');
    const waiter = watch !== null ? new Waiter(deps.resources, pod.namespace, ['accessrequest'], res) : undefined;
    try {
      const deadline = watchDeadline(url);
      let view = await deps.accessRequests.get(pod, name);
      while (waiter !== undefined && view.phase === watch && Date.now() < deadline && !waiter.closed) {
        const expires = Date.parse(view.expiresAt);
        await waiter.next(Math.min(deadline, view.phase === 'Pending' && Number.isFinite(expires) ? expires : deadline));
        if (waiter.closed) return;
        view = await deps.accessRequests.get(pod, name);
      }
      sendJson(res, 200, view);
    } finally {
      waiter?.done();
    }
  };

  const postEvents: Handler = async ({ req, res, pod, params }) => {
    const sessionId = params[0] ?? '';
    if (!SESSION_ID.test(sessionId)) throw badRequest('the session id has an invalid format');
    const body = await readJsonBody(req, LIMITS.events);
    const ack = await deps.ingest.ingest({ namespace: pod.namespace, name: pod.name, serviceAccount: pod.serviceAccount }, sessionId, body.events);
    sendJson(res, 200, ack);
  };

  const postEnd: Handler = async ({ req, res, pod, params }) => {
    const sessionId = params[0] ?? '';
    if (!SESSION_ID.test(sessionId)) throw badRequest('the session id has an invalid format');
    const body = await readJsonBody(req, LIMITS.end);
    const connection = stringField(body, 'connection', { max: 253, pattern: NAME }) as string;
    // Releasing is allowed even after the policy was revoked: dropping a credential only takes access away.
    const c = deps.resources.connection(pod.namespace, connection);
    const dropped = c === undefined ? [] : await deps.credentials.release(c, { id: sessionId, pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid } });
    sendJson(res, 200, { released: dropped.length });
  };

  const routes: Array<{ method: string; path: RegExp; handler: Handler }> = [
    { method: 'GET', path: /^config$/, handler: getConfig },
    { method: 'POST', path: /^credentials$/, handler: postCredentials },
    { method: 'POST', path: /^access-requests$/, handler: postAccessRequest },
    { method: 'GET', path: /^access-requests\/([^/]+)$/, handler: getAccessRequest },
    { method: 'POST', path: /^sessions\/([^/]+)\/events$/, handler: postEvents },
    { method: 'POST', path: /^sessions\/([^/]+)\/end$/, handler: postEnd },
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://operator.invalid');
    if (!url.pathname.startsWith(SIDECAR_API_PREFIX)) throw notFound(`no route ${url.pathname}`);
    const rest = url.pathname.slice(SIDECAR_API_PREFIX.length);
    const matching = routes.filter((r) => r.path.test(rest));
    if (matching.length === 0) throw notFound(`no route ${url.pathname}`);
    const route = matching.find((r) => r.method === req.method);
    if (route === undefined) throw new ApiError(405, 'AG_API_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed on ${url.pathname}`);
    const pod = await deps.authenticator.authenticate(bearerToken(req.headers.authorization));
    const params = (route.path.exec(rest) ?? []).slice(1).map((p) => decodeURIComponent(p));
    const started = Date.now();
    await route.handler({ req, res, url, pod, params });
    log.debug({ pod: `${pod.namespace}/${pod.name}`, method: req.method, path: url.pathname, status: res.statusCode, ms: Date.now() - started }, 'sidecar api');
  };

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const apiErr = toApiError(err);
      if (apiErr.status >= 500) log.error({ path: req.url?.split('?')[0], err: errorMessage(err) }, 'sidecar api request failed');
      else log.debug({ path: req.url?.split('?')[0], code: apiErr.code, status: apiErr.status }, 'sidecar api request refused');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A refused body (413) is answered with connection: close, so the rest of it is never read.
      sendError(res, apiErr);
    });
  };
}

/** Maps module errors (each with a code and status) to API errors; anything else is a 500 without details. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof KubeApiError) return new ApiError(502, 'AG_API_KUBE', `the API server answered ${err.status} ${err.reason}`);
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; status?: unknown; message?: unknown };
    if (typeof e.code === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 600 && typeof e.message === 'string') {
      return new ApiError(e.status, e.code, e.message);
    }
  }
  return new ApiError(500, 'AG_API_INTERNAL', 'internal error (see the operator log)');
}
