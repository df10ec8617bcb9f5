// HTTPS client for the operator's sidecar API. The projected token is read
// from its file on every call (the kubelet rotates it); the operator's CA is
// the only trust anchor (re-read when the file changes, so a rotated CA is
// picked up). Answers are bounded; errors carry the operator's stable code.
import { readFile, stat } from 'node:fs/promises';
import https from 'node:https';
import type { RecordEvent } from '../../core/recording/events.js';
import type { AccessRequestView, IssuedCredential, PodConfig } from './api-types.js';
import { OperatorApiError, OperatorUnreachableError } from './errors.js';

export interface OperatorClientOptions {
  /** e.g. https://agentgate-operator.agentgate-system.svc:9443 */
  url: string;
  /** PEM of the operator's CA. */
  caFile: string;
  /** The projected service-account token (audience agentgate.dev/operator). */
  tokenFile: string;
  /** Per-request timeout for ordinary calls (default 10 s). */
  timeoutMs?: number;
}

export interface NewAccessRequestBody {
  policy: string;
  rule: string;
  connection: string;
  protocol: 'postgres' | 'ssh' | 'http';
  operation: string;
  reason?: string;
  sessionId?: string;
  requester: { sub: string; iss?: string; groups?: string[] };
}

interface CallOptions {
  body?: unknown;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const PREFIX = '/sidecar/v1';

export class OperatorClient {
  private readonly base: URL;
  private readonly timeoutMs: number;
  private agent: https.Agent | undefined;
  private caKey = '';

  constructor(private readonly o: OperatorClientOptions) {
    this.base = new URL(o.url);
    if (this.base.protocol !== 'https:') throw new RangeError(`the operator URL must be https (got ${this.base.protocol})`);
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  /** GET config; with `watch`, waits up to `timeoutSeconds` for a config whose etag differs (null: unchanged). */
  async getConfig(watch?: string, timeoutSeconds = 30, signal?: AbortSignal): Promise<PodConfig | null> {
    const q = watch !== undefined ? `?watch=${encodeURIComponent(watch)}&timeoutSeconds=${timeoutSeconds}` : '';
    const r = await this.call<PodConfig>('GET', `/config${q}`, { timeoutMs: watch !== undefined ? timeoutSeconds * 1000 + this.timeoutMs : undefined, signal });
    return r.status === 304 ? null : r.body;
  }

  async issueCredential(connection: string, sessionId: string): Promise<IssuedCredential> {
    return (await this.call<IssuedCredential>('POST', '/credentials', { body: { connection, sessionId } })).body;
  }

  async endSession(sessionId: string, connection: string): Promise<{ released: number }> {
    return (await this.call<{ released: number }>('POST', `/sessions/${encodeURIComponent(sessionId)}/end`, { body: { connection } })).body;
  }

  async createAccessRequest(body: NewAccessRequestBody, signal?: AbortSignal): Promise<AccessRequestView> {
    return (await this.call<AccessRequestView>('POST', '/access-requests', { body, signal })).body;
  }

  /** The request's status; with `watchPhase`, waits up to `timeoutSeconds` while it is still in that phase. */
  async getAccessRequest(name: string, watchPhase?: string, timeoutSeconds = 30, signal?: AbortSignal): Promise<AccessRequestView> {
    const q = watchPhase !== undefined ? `?watch=${encodeURIComponent(watchPhase)}&timeoutSeconds=${timeoutSeconds}` : '';
    return (await this.call<AccessRequestView>('GET', `/access-requests/${encodeURIComponent(name)}${q}`, {
      timeoutMs: watchPhase !== undefined ? timeoutSeconds * 1000 + this.timeoutMs : undefined, signal,
    })).body;
  }

  async shipEvents(sessionId: string, events: readonly RecordEvent[]): Promise<{ ackedThrough: number }> {
    return (await this.call<{ ackedThrough: number }>('POST', `/sessions/${encodeURIComponent(sessionId)}/events`, { body: { events } })).body;
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private async currentAgent(): Promise<https.Agent> {
    const s = await stat(this.o.caFile);
    const key = `${s.mtimeMs}:${s.size}:${s.ino}`;
    if (this.agent === undefined || key !== this.caKey) {
      const ca = await readFile(this.o.caFile, 'utf8');
      this.agent?.destroy();
      this.agent = new https.Agent({ keepAlive: true, ca, minVersion: 'TLSv1.2', maxSockets: 64 });
      this.caKey = key;
    }
    return this.agent;
  }

  private async call<T>(method: string, path: string, opts: CallOptions): Promise<{ status: number; body: T }> {
    let token: string;
    let agent: https.Agent;
    try {
      token = (await readFile(this.o.tokenFile, 'utf8')).trim();
      agent = await this.currentAgent();
    } catch (err) {
      throw new OperatorUnreachableError(`cannot read the token or CA file: ${(err as Error).message}`, { cause: err });
    }
    const url = new URL(PREFIX + path, this.base);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(url, {
        method,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
        timeout: timeoutMs,
        signal: opts.signal,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new OperatorUnreachableError(`${method} ${url.pathname}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
    if (status === 304) return { status, body: undefined as T };
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new OperatorApiError(status, 'AG_OPERATOR_BAD_ANSWER', `${method} ${url.pathname}: ${status} with a body that is not JSON`);
    }
    if (status < 200 || status >= 300) {
      const e = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
      throw new OperatorApiError(status, typeof e?.code === 'string' ? e.code : 'AG_OPERATOR_ERROR',
        `${method} ${url.pathname}: ${status}${typeof e?.message === 'string' ? `: ${e.message}` : ''}`);
    }
    return { status, body: parsed as T };
  }
}
