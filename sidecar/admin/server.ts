// The sidecar's admin HTTP server, on 127.0.0.1 only. Health and metrics are
// public; approvals need `Authorization: Bearer <admin token>` because the
// agent can reach this port (threat model): without it, 401 and nothing changes.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApprovalError } from '../approvals/errors.js';
import type { LocalApprovals } from '../approvals/local-approvals.js';
import { tokenMatches } from './admin-token.js';
import type { SidecarMetrics } from './metrics.js';

export type ApprovalsPort = Pick<LocalApprovals, 'list' | 'approve' | 'deny'>;

export interface AdminLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface AdminServerOptions {
  port: number;
  /** Always loopback unless a test says otherwise. */
  host?: string;
  token: string;
  approvals: ApprovalsPort;
  metrics: SidecarMetrics;
  /** True once every listener is up. */
  ready: () => boolean;
  logger?: AdminLogger;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024;
const APPROVAL_PATH = /^\/approvals\/(ar-[a-z0-9]{1,32})\/(approve|deny)$/;

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      opts.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'admin request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error', code: 'ADMIN_INTERNAL' });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: AdminServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin.invalid');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (path === '/healthz') return method === 'GET' || method === 'HEAD' ? sendText(res, 200, 'ok\n') : notAllowed(res, 'GET');
  if (path === '/readyz') {
    if (method !== 'GET' && method !== 'HEAD') return notAllowed(res, 'GET');
    return opts.ready() ? sendText(res, 200, 'ready\n') : sendText(res, 503, 'not ready\n');
  }
  if (path === '/metrics') {
    if (method !== 'GET') return notAllowed(res, 'GET');
    const body = await opts.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': opts.metrics.registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
    return;
  }

  const match = APPROVAL_PATH.exec(path);
  if (path !== '/approvals' && !match) return send(res, 404, { error: 'not found', code: 'ADMIN_NOT_FOUND' });
  // Authenticate before reading a body or revealing whether an id exists.
  if (!authorized(req, opts.token)) {
    req.resume();
    res.setHeader('www-authenticate', 'Bearer realm="agentgate-sidecar"');
    return send(res, 401, { error: 'a valid admin token is required (Authorization: Bearer <token>)', code: 'ADMIN_UNAUTHORIZED' });
  }
  if (path === '/approvals') {
    if (method !== 'GET') return notAllowed(res, 'GET');
    return send(res, 200, { items: opts.approvals.list() });
  }
  if (!match) return send(res, 404, { error: 'not found', code: 'ADMIN_NOT_FOUND' });
  if (method !== 'POST') return notAllowed(res, 'POST');
  const [, id, verb] = match as unknown as [string, string, 'approve' | 'deny'];
  const body = await readJson(req);
  if (!body.ok) return send(res, 400, { error: body.error, code: 'ADMIN_BAD_REQUEST' });
  const user = body.value['user'];
  const reason = body.value['reason'];
  if (typeof user !== 'string' || (reason !== undefined && typeof reason !== 'string')) {
    return send(res, 400, { error: 'body must be JSON {"user": string, "reason"?: string}', code: 'ADMIN_BAD_REQUEST' });
  }
  try {
    const result = verb === 'approve' ? opts.approvals.approve(id, { user, reason }) : opts.approvals.deny(id, { user, reason });
    opts.logger?.info({ approval: id, decision: verb, user, reason: reason ?? '' }, `approval ${verb === 'approve' ? 'approved' : 'denied'}`);
    return send(res, 200, result);
  } catch (err) {
    if (err instanceof ApprovalError) return send(res, err.status, { error: err.message, code: err.code });
    throw err;
  }
}

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return false;
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  return m !== null && tokenMatches(token, m[1] ?? '');
}

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; error: string }> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) return { ok: false, error: 'content-type must be application/json' };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return { ok: false, error: `body larger than ${MAX_BODY} bytes` };
    chunks.push(chunk);
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: 'body must be a JSON object' };
    return { ok: true, value: v as Record<string, unknown> };
  } catch {
    return { ok: false, error: 'body is not valid JSON' };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  send(res, 405, { error: 'method not allowed', code: 'ADMIN_METHOD_NOT_ALLOWED' });
}
