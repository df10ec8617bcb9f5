// The injected sidecar's admin port: /healthz, /readyz and /metrics, nothing
// else. It listens on the pod IP because the kubelet probes it there, so the
// agent (and anything on the pod network) can reach it: it serves no
// approvals, no configuration and nothing secret. Approvals go through the
// cluster (`kubectl agentgate approve`), never through this port.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  port: number;
  host: string;
  /** True once enforcement is in place (first configuration loaded, listeners up). */
  ready: () => boolean;
  registry: Registry;
}

export interface ProbeServer {
  port: number;
  close(): Promise<void>;
}

export async function startProbeServer(o: ProbeServerOptions): Promise<ProbeServer> {
  const server = createServer((req, res) => {
    handle(req, res, o).catch(() => {
      if (!res.headersSent) text(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, o: ProbeServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://probe.invalid').pathname;
  const method = req.method ?? 'GET';
  req.resume();
  if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') return text(res, 404, 'not found\n');
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return text(res, 405, 'method not allowed\n');
  }
  if (path === '/healthz') return text(res, 200, 'ok\n');
  if (path === '/readyz') return o.ready() ? text(res, 200, 'ready\n') : text(res, 503, 'not ready\n');
  const body = await o.registry.metrics();
  res.writeHead(200, { 'content-type': o.registry.contentType, 'cache-control': 'no-store' });
  res.end(method === 'HEAD' ? undefined : body);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}
