// A Kubernetes REST client for measuring: one keep-alive HTTPS agent (so a
// timed request pays no TLS handshake), the body kept as text unless asked
// (so JSON parsing stays out of the timing), and a watch stream whose events
// carry the time they arrived. TLS is verified against the kubeconfig's CA.
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { KubeConfig } from '@kubernetes/client-node';

export interface RawResponse {
  status: number;
  text: string;
}

export interface WatchEvent {
  type: string;
  object: unknown;
  /** performance.now() when the event's line arrived. */
  at: number;
}

export interface WatchHandle {
  /** Resolves when the stream ends (server timeout, error or stop()); rejects on a connection error. */
  ended: Promise<void>;
  stop(): void;
}

export class KubeApiStatusError extends Error {
  readonly code = 'BENCH_KUBE_API_STATUS';
  constructor(readonly method: string, readonly path: string, readonly status: number, body: string) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 500)}`);
  }
}

const CONTENT_TYPES = { json: 'application/json', merge: 'application/merge-patch+json' } as const;

export class BenchKubeClient {
  private readonly base: URL;
  private readonly agent: https.Agent;
  private readonly tls: https.AgentOptions;

  private constructor(server: string, tls: https.AgentOptions, maxSockets: number) {
    this.base = new URL(server);
    this.tls = tls;
    this.agent = new https.Agent({ ...tls, keepAlive: true, maxSockets });
  }

  /** `maxSockets`: the most requests in flight at once (each keeps its connection). */
  static async fromKubeconfig(path: string, maxSockets = 16): Promise<BenchKubeClient> {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`${path}: no current cluster`);
    const opts: https.RequestOptions = {};
    // Reads the CA and the client certificate and key (files or inline data); the agent it makes is not used.
    await kc.applyToHTTPSOptions(opts);
    if (!opts.ca || !opts.cert || !opts.key) throw new Error(`${path}: the bench client needs a CA and a client certificate and key`);
    return new BenchKubeClient(cluster.server, { ca: opts.ca, cert: opts.cert, key: opts.key }, maxSockets);
  }

  /** One request; the body comes back as text. Non-2xx is returned, not thrown. */
  raw(method: string, path: string, body?: unknown, type: keyof typeof CONTENT_TYPES = 'json'): Promise<RawResponse> {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = CONTENT_TYPES[type];
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const req = https.request(new URL(path, this.base), { method, headers, agent: this.agent, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 60 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A request that must succeed; returns the parsed body. */
  async json<T>(method: string, path: string, body?: unknown, type: keyof typeof CONTENT_TYPES = 'json'): Promise<T> {
    const r = await this.raw(method, path, body, type);
    if (r.status < 200 || r.status >= 300) throw new KubeApiStatusError(method, path, r.status, r.text);
    return (r.text === '' ? {} : JSON.parse(r.text)) as T;
  }

  /** Status code only, for requests where 404 is an answer (e.g. waiting for something to exist). */
  async status(method: string, path: string): Promise<number> {
    return (await this.raw(method, path)).status;
  }

  /**
   * Streams `path?watch=1&resourceVersion=rv` on a connection of its own (a
   * long-lived stream must not hold a pooled socket), calling `onEvent` per line.
   */
  watch(path: string, resourceVersion: string, onEvent: (e: WatchEvent) => void): WatchHandle {
    const url = new URL(path, this.base);
    url.searchParams.set('watch', '1');
    url.searchParams.set('resourceVersion', resourceVersion);
    url.searchParams.set('timeoutSeconds', '3600');
    let stopped = false;
    let req: ReturnType<typeof https.request> | undefined;
    const ended = new Promise<void>((resolve, reject) => {
      req = https.request(url, { method: 'GET', headers: { accept: 'application/json' }, ...this.tls, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString('utf8')));
          res.on('end', () => reject(new KubeApiStatusError('WATCH', path, res.statusCode ?? 0, text)));
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const at = performance.now();
          buf += chunk;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() === '') continue;
            const e = JSON.parse(line) as { type: string; object: unknown };
            onEvent({ type: e.type, object: e.object, at });
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (stopped ? resolve() : reject(err)));
      });
      req.on('error', (err) => (stopped ? resolve() : reject(err)));
      req.end();
    });
    return {
      ended,
      stop: () => {
        stopped = true;
        req?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
