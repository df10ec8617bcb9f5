// Client side of the admin API, for `agentgate-sidecar approve|deny|approvals`.

import { readAdminToken } from './admin-token.js';

export class AdminClientError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  constructor(code: string, message: string, status?: number) {
    super(message);
    this.name = 'AdminClientError';
    this.code = code;
    this.status = status;
  }
}

export interface AdminClientOptions {
  port: number;
  tokenFile: string;
  host?: string;
  timeoutMs?: number;
}

async function call(opts: AdminClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  const token = await readAdminToken(opts.tokenFile);
  const url = `http://${opts.host ?? '127.0.0.1'}:${opts.port}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new AdminClientError('ADMIN_UNREACHABLE', `cannot reach the sidecar admin server at ${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep text
  }
  if (!res.ok) {
    const p = parsed as { error?: unknown; code?: unknown };
    const msg = typeof p?.error === 'string' ? p.error : text.trim() || res.statusText;
    throw new AdminClientError(typeof p?.code === 'string' ? p.code : `HTTP_${res.status}`, msg, res.status);
  }
  return parsed;
}

export interface PendingApprovalView {
  id: string;
  policy: string;
  rule: string;
  connection: string;
  protocol: string;
  operation: string;
  requester: { sub: string };
  required: number;
  approvals: Array<{ user: string }>;
  createdAt: string;
  expiresAt: string;
}

export async function listApprovals(opts: AdminClientOptions): Promise<PendingApprovalView[]> {
  const r = (await call(opts, 'GET', '/approvals')) as { items?: unknown };
  return Array.isArray(r.items) ? (r.items as PendingApprovalView[]) : [];
}

export async function decideApproval(
  opts: AdminClientOptions,
  id: string,
  verb: 'approve' | 'deny',
  by: { user: string; reason?: string | undefined },
): Promise<Record<string, unknown>> {
  if (!/^ar-[a-z0-9]{1,32}$/.test(id)) throw new AdminClientError('APPROVAL_BAD_ID', `not an approval id: ${JSON.stringify(id)} (expected ar-…)`);
  return (await call(opts, 'POST', `/approvals/${id}/${verb}`, by)) as Record<string, unknown>;
}
