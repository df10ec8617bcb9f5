import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalApprovals, type ApprovalRequestInput } from '../approvals/local-approvals.js';
import { loadOrCreateAdminToken, tokenMatches } from './admin-token.js';
import { SidecarMetrics } from './metrics.js';
import { startAdminServer, type AdminServer } from './server.js';

const request: ApprovalRequestInput = {
  policy: 'team-a/writes',
  rule: 'review-updates',
  connection: 'orders-db',
  protocol: 'postgres',
  operation: 'update orders set status = 1',
  requester: { sub: 'system:serviceaccount:team-a:agent', iss: 'kubernetes', groups: [] },
};

let dir = '';
let token = '';
let server: AdminServer;
let base = '';
let ready = false;
const approvals = new LocalApprovals();
const metrics = new SidecarMetrics({ spoolBytes: () => 1234, defaultMetrics: false });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-admin-'));
  ({ token } = await loadOrCreateAdminToken(join(dir, 'state', 'admin.token')));
  server = await startAdminServer({ port: 0, token, approvals, metrics, ready: () => ready });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  approvals.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function post(path: string, body: unknown, auth?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== undefined) headers.authorization = auth;
  return fetch(base + path, { method: 'POST', headers, body: JSON.stringify(body) });
}

describe('admin token', () => {
  it('is created once, 32 random bytes base64url, mode 0600, and then reused', async () => {
    const path = join(dir, 'state', 'admin.token');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateAdminToken(path);
    expect(again).toEqual({ token, created: false, looseMode: false });
  });

  it('refuses a short token file and compares in constant time', async () => {
    const path = join(dir, 'short.token');
    await writeFile(path, 'abc\n');
    await expect(loadOrCreateAdminToken(path)).rejects.toMatchObject({ code: 'ADMIN_TOKEN_INVALID' });
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(token, token.slice(0, -1))).toBe(false);
    expect(tokenMatches(token, '')).toBe(false);
  });
});

describe('admin server', () => {
  it('serves health publicly and readiness once listeners are up', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('exposes the sidecar metrics (public, no token)', async () => {
    metrics.statementsTotal.inc({ decision: 'deny' });
    metrics.sessionsTotal.inc({ protocol: 'postgres', connection: 'orders-db' });
    metrics.decisionDuration.observe(0.0002);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('agentgate_statements_total{decision="deny"} 1');
    expect(text).toContain('agentgate_sessions_total{protocol="postgres",connection="orders-db"} 1');
    expect(text).toContain('agentgate_record_spool_bytes 1234');
    expect(text).toContain('agentgate_decision_duration_seconds_bucket');
    expect(text).toContain('agentgate_sessions_active');
    expect(text).toContain('agentgate_masked_fields_total');
  });

  it('answers 401 without a valid token and changes nothing', async () => {
    const outcome = approvals.request(request);
    const [pending] = approvals.list();
    const id = pending!.id;
    for (const auth of [undefined, 'Bearer wrong-token-wrong-token', `Basic ${token}`, `Bearer ${token}x`]) {
      const res = await post(`/approvals/${id}/approve`, { user: 'mallory', reason: 'me' }, auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await res.json()) as unknown).toMatchObject({ code: 'ADMIN_UNAUTHORIZED' });
    }
    expect((await fetch(`${base}/approvals`)).status).toBe(401);
    expect(approvals.list().map((p) => p.id)).toEqual([id]);
    approvals.deny(id, { user: 'cleanup' });
    await expect(outcome).resolves.toBe('denied');
  });

  it('lists pending approvals and approves one with the token', async () => {
    const outcome = approvals.request(request);
    const auth = `Bearer ${token}`;
    const list = (await (await fetch(`${base}/approvals`, { headers: { authorization: auth } })).json()) as {
      items: Array<{ id: string; operation: string }>;
    };
    expect(list.items).toHaveLength(1);
    expect(list.items[0]!.operation).toBe(request.operation);
    const id = list.items[0]!.id;
    const res = await post(`/approvals/${id}/approve`, { user: 'alice', reason: 'ticket 7' }, auth);
    expect(res.status).toBe(200);
    expect((await res.json()) as unknown).toMatchObject({ id, outcome: 'approved', decidedBy: 'alice', reason: 'ticket 7' });
    await expect(outcome).resolves.toBe('approved');
    const again = await post(`/approvals/${id}/deny`, { user: 'alice' }, auth);
    expect(again.status).toBe(404);
    expect((await again.json()) as unknown).toMatchObject({ code: 'APPROVAL_NOT_FOUND' });
  });

  it('denies with the token and rejects malformed bodies', async () => {
    const outcome = approvals.request(request);
    const id = approvals.list()[0]!.id;
    const auth = `Bearer ${token}`;
    expect((await post(`/approvals/${id}/deny`, { reason: 'no user' }, auth)).status).toBe(400);
    const bad = await fetch(`${base}/approvals/${id}/deny`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(bad.status).toBe(400);
    expect(approvals.list()).toHaveLength(1);
    expect((await post(`/approvals/${id}/deny`, { user: 'bob', reason: 'risky' }, auth)).status).toBe(200);
    await expect(outcome).resolves.toBe('denied');
  });
});
