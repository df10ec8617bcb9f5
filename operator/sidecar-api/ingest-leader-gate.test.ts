import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ingestOnLeader, isEventIngest } from './ingest-leader-gate.js';

describe('isEventIngest', () => {
  it.each([
    ['/sidecar/v1/sessions/s-1/events', true],
    ['/sidecar/v1/sessions/s-1/events?x=1', true],
    // Normalised as the router normalises it: dot segments cannot route around the gate.
    ['/sidecar/v1/config/../sessions/s-1/events', true],
    ['/sidecar/v1/sessions/x/%2e%2e/%2E%2E/sessions/s/events', true],
    ['/sidecar/v1/sessions/%2e%2e/../sessions/s/events', false], // leaves /sidecar/v1/: no route at all
    ['/sidecar/v1/sessions/s-1/end', false],
    ['/sidecar/v1/config', false],
    ['/sidecar/v1/access-requests/ar-1', false],
    ['/sidecar/v2/sessions/s-1/events', false],
    ['/sidecar/v1/sessions/a/b/events', false],
  ])('%s → %s', (url, want) => {
    expect(isEventIngest(url)).toBe(want);
  });
});

describe('ingestOnLeader', () => {
  let leader = false;
  let reached: string[] = [];
  let server: http.Server;
  let port = 0;

  beforeAll(async () => {
    const api = ingestOnLeader((req, res) => {
      reached.push(req.url ?? '');
      res.writeHead(200).end('api');
    }, () => leader);
    server = http.createServer(api);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const call = (method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end('{"events":[]}');
  });

  it('refuses event ingest on a replica that does not lead, with a retryable 503 that closes the connection', async () => {
    leader = false;
    reached = [];
    const r = await call('POST', '/sidecar/v1/sessions/s-1/events');
    expect(r.status).toBe(503);
    expect(r.headers.connection).toBe('close');
    expect(r.headers['retry-after']).toBe('1');
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'AG_API_NOT_LEADER' } });
    expect(reached).toEqual([]);
  });

  it('serves every other route on every replica, and ingest on the leader', async () => {
    leader = false;
    reached = [];
    expect((await call('GET', '/sidecar/v1/config')).status).toBe(200);
    expect((await call('POST', '/sidecar/v1/sessions/s-1/end')).status).toBe(200);
    leader = true;
    expect((await call('POST', '/sidecar/v1/sessions/s-1/events')).status).toBe(200);
    expect(reached).toEqual(['/sidecar/v1/config', '/sidecar/v1/sessions/s-1/end', '/sidecar/v1/sessions/s-1/events']);
  });
});
