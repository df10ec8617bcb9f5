// Plain-HTTP endpoints for the kubelet and Prometheus: /healthz (the process
// answers), /readyz (caches synced and webhooks serving) on the health port,
// /metrics on the metrics port. Nothing here changes state or reveals secrets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  ready: () => boolean;
}

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

export function healthRoutes(checks: readonly ReadinessCheck[]): Record<string, Route> {
  return {
    '/healthz': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    },
    '/readyz': (_req, res) => {
      const failing = checks.filter((c) => !c.ready()).map((c) => c.name);
      if (failing.length === 0) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${failing.join(', ')}\n`);
    },
  };
}

export function metricsRoutes(registry: Registry): Record<string, Route> {
  return {
    '/metrics': async (_req, res) => {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    },
  };
}

export class PlainServer {
  private readonly server: http.Server;
  constructor(routes: Record<string, Route>) {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const route = req.method === 'GET' ? routes[path] : undefined;
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      Promise.resolve(route(req, res)).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    this.server.requestTimeout = 10_000;
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
