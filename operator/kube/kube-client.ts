// A thin JSON REST client over node:https, authenticated by a client-node
// KubeConfig. Why not the generated typed APIs: they deserialize into model
// classes (Dates, renamed fields), while status patches, admission objects and
// custom resources are plain JSON; one raw client keeps everything JSON.
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from '../errors.js';
import type { KubeList, KubeObject, ResourceRef } from './types.js';

export type PatchType = 'merge' | 'json' | 'strategic';
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;
/** Idle keep-alive connections are closed after this, short so that the client, not the server, usually closes them. */
const IDLE_SOCKET_MS = 30_000;

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
}

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  if (ref.namespaced && namespace !== undefined) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${ref.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) p += `/${subresource}`;
  return p;
}

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly fieldManager: string;
  // client-node's agent has no keep-alive, so every request paid a TCP + TLS handshake and a new
  // SecureContext built from the PEMs (the largest share of the operator's CPU with 1,000s of objects). This agent
  // keeps connections; Node pools them by the request's TLS options (CA, certificate, key), so a
  // rotated credential never rides an old connection.
  private readonly agent = new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });

  constructor(kubeConfig: KubeConfig, fieldManager = 'agentgate-operator') {
    this.kubeConfig = kubeConfig;
    this.fieldManager = fieldManager;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new KubeApiError(method, path, 0, 'NoCluster', 'no current cluster in kubeconfig');
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { method, headers: { Accept: 'application/json' }, timeout: REQUEST_TIMEOUT_MS };
    await this.kubeConfig.applyToHTTPSOptions(reqOpts);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers = (reqOpts.headers ?? {}) as Record<string, string>;
    if (payload) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    reqOpts.headers = headers;
    const mod = url.protocol === 'http:' ? http : https;
    if (url.protocol === 'http:') delete reqOpts.agent;
    else if (!cluster.proxyUrl) reqOpts.agent = this.agent; // a proxy keeps client-node's proxy agent

    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = mod.request(url, reqOpts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`request timed out after ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end(payload);
    });

    if (status < 200 || status >= 300) {
      let reason = 'Unknown';
      let message = text.slice(0, 2000);
      try {
        const st = JSON.parse(text) as { reason?: string; message?: string };
        reason = st.reason ?? reason;
        message = st.message ?? message;
      } catch {
        // not a Status object: keep the raw (truncated) text
      }
      throw new KubeApiError(method, path, status, reason, message);
    }
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  get<T extends KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', resourcePath(ref, namespace, name));
  }

  list<T extends KubeObject>(ref: ResourceRef, namespace?: string, query?: RequestOptions['query']): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', resourcePath(ref, namespace), query ? { query } : {});
  }

  create<T extends KubeObject>(ref: ResourceRef, namespace: string | undefined, body: T): Promise<T> {
    return this.request<T>('POST', resourcePath(ref, namespace), { body, query: { fieldManager: this.fieldManager } });
  }

  /** PUT; `body.metadata.resourceVersion` makes it a compare-and-swap (409 on conflict). */
  replace<T extends KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string, body: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(ref, namespace, name), { body, query: { fieldManager: this.fieldManager } });
  }

  patch<T extends KubeObject>(
    ref: ResourceRef, namespace: string | undefined, name: string, body: unknown, type: PatchType = 'merge', subresource?: string,
  ): Promise<T> {
    return this.request<T>('PATCH', resourcePath(ref, namespace, name, subresource), {
      body, contentType: PATCH_CONTENT_TYPES[type], query: { fieldManager: this.fieldManager },
    });
  }

  /** Merge-patch the status subresource only (spec and metadata stay untouched). */
  patchStatus<T extends KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string, status: unknown): Promise<T> {
    return this.patch<T>(ref, namespace, name, { status }, 'merge', 'status');
  }

  delete(ref: ResourceRef, namespace: string | undefined, name: string, preconditionUid?: string): Promise<unknown> {
    const body = preconditionUid ? { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: preconditionUid } } : undefined;
    return this.request('DELETE', resourcePath(ref, namespace, name), body ? { body } : {});
  }
}
