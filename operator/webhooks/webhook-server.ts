// The operator's HTTPS server (its own port): admission webhooks at exact
// paths, and prefix routes (the sidecar API under /sidecar/v1/) that get the
// raw request, any method. Certificates can be swapped at run time
// (setSecureContext) when they are rotated, without a restart. Admission
// bodies are bounded; anything that is not a POST of an AdmissionReview to a
// known path gets a plain HTTP error, never a crash.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ACCESS_REQUEST_WEBHOOK_PATHS } from '../approvals/access-request-admission.js';
import { AdmissionParseError, parseReview, review, type AdmissionHandler } from './admission.js';
import type { OperatorMetrics } from '../ops/metrics.js';
import { errorMessage } from '../errors.js';

export const WEBHOOK_PATHS = {
  mutatePods: '/mutate-pods',
  validateAccessPolicies: '/validate-accesspolicies',
  mutateAccessRequests: ACCESS_REQUEST_WEBHOOK_PATHS.mutate,
  validateAccessRequests: ACCESS_REQUEST_WEBHOOK_PATHS.validate,
} as const;

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface WebhookRoute {
  name: string;
  handler: AdmissionHandler;
}

/** A handler for every path under `prefix` (which ends with "/"); it owns the request and the answer. */
export interface PrefixRoute {
  prefix: string;
  handle: (req: IncomingMessage, res: ServerResponse) => void;
}

export class WebhookServer {
  private readonly server: https.Server;
  private listening = false;

  constructor(
    private readonly routes: Record<string, WebhookRoute>,
    tls: { certPem: string; keyPem: string },
    private readonly metrics: OperatorMetrics,
    private readonly log: Logger,
    private readonly prefixes: readonly PrefixRoute[] = [],
  ) {
    for (const p of prefixes) {
      // A prefix that an exact route also starts with would shadow it.
      if (!p.prefix.startsWith('/') || !p.prefix.endsWith('/')) throw new RangeError(`prefix route ${JSON.stringify(p.prefix)} must start and end with "/"`);
      const shadowed = Object.keys(routes).find((r) => r.startsWith(p.prefix));
      if (shadowed !== undefined) throw new RangeError(`prefix route ${p.prefix} would shadow ${shadowed}`);
    }
    this.server = https.createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err: errorMessage(err) }, 'webhook request failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    this.server.on('tlsClientError', (err) => this.log.debug({ err: errorMessage(err) }, 'TLS handshake failed'));
  }

  get serving(): boolean {
    return this.listening;
  }

  /** Swap the serving certificate; new connections use it at once. */
  reloadCertificate(tls: { certPem: string; keyPem: string }): void {
    this.server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.listening = false;
    this.server.closeIdleConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      // In-flight reviews get a moment to finish; then connections are cut.
      setTimeout(() => this.server.closeAllConnections(), 5_000).unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const prefixed = this.prefixes.find((p) => path.startsWith(p.prefix));
    if (prefixed !== undefined) {
      prefixed.handle(req, res); // a throw becomes a 500 in the caller above
      return;
    }
    const route = this.routes[path];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('request too large\n');
        req.destroy();
        return;
      }
      chunks.push(c);
    }
    let request;
    try {
      request = parseReview(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
    } catch (err) {
      const msg = err instanceof AdmissionParseError ? err.message : 'body is not JSON';
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${msg}\n`);
      return;
    }
    const end = this.metrics.admissionDuration.startTimer({ webhook: route.name });
    const out = await review(request, route.handler, this.log, route.name);
    end();
    const body = JSON.stringify(out);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  }
}
