// Who is calling: the pod behind a projected service-account token. The API
// server checks the token (TokenReview with our audience); the pod comes from
// the token's bound-pod claims and must exist with that UID, run as that
// service account and carry the injected sidecar. Nothing in the request body
// can name another pod. Successful reviews are cached briefly (never longer
// than the token lives); failures are not cached.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import type { KubeObject } from '../kube/types.js';
import { isNotFound } from '../errors.js';
import { ApiError, forbidden, unauthorized } from './errors.js';

export const OPERATOR_AUDIENCE = 'agentgate.dev/operator';
export const SIDECAR_CONTAINER = 'agentgate-sidecar';
const POD_NAME_KEY = 'authentication.kubernetes.io/pod-name';
const POD_UID_KEY = 'authentication.kubernetes.io/pod-uid';
const SA_USER = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;
const MAX_TOKEN_BYTES = 16 * 1024;

export interface CallerPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
  labels: Record<string, string>;
}

export interface PodAuthenticator {
  /** The calling pod, or an ApiError (401 bad token, 403 a pod that may not call). */
  authenticate(token: string): Promise<CallerPod>;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  audiences?: string[];
  error?: string;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

interface PodObject extends KubeObject {
  spec?: {
    serviceAccountName?: string;
    initContainers?: Array<{ name?: string; restartPolicy?: string }>;
  };
}

export interface TokenReviewerOptions {
  client: KubeClient;
  audience?: string;
  /** How long a successful review is reused (default 10 s, at most 30 s). */
  cacheTtlMs?: number;
  maxCacheEntries?: number;
  now?: () => number;
}

/** exp of a JWT, unverified: only used to bound the cache, the API server verifies the token. */
function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export class TokenReviewAuthenticator implements PodAuthenticator {
  private readonly cache = new Map<string, { pod: CallerPod; until: number }>();
  private readonly client: KubeClient;
  private readonly audience: string;
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(o: TokenReviewerOptions) {
    this.client = o.client;
    this.audience = o.audience ?? OPERATOR_AUDIENCE;
    this.ttl = Math.min(o.cacheTtlMs ?? 10_000, 30_000);
    this.maxEntries = o.maxCacheEntries ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  async authenticate(token: string): Promise<CallerPod> {
    if (token.length === 0 || token.length > MAX_TOKEN_BYTES) throw unauthorized('no usable bearer token');
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.until > now) return hit.pod;
    if (hit !== undefined) this.cache.delete(key);

    const pod = await this.review(token);
    const exp = tokenExpiry(token);
    const until = Math.min(now + this.ttl, exp ?? now + this.ttl);
    if (until > now) {
      if (this.cache.size >= this.maxEntries) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(key, { pod, until });
    }
    return pod;
  }

  private async review(token: string): Promise<CallerPod> {
    const review = await this.client.request<{ status?: TokenReviewStatus }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.audience] } },
    });
    const st = review.status ?? {};
    if (st.authenticated !== true) throw unauthorized('the token was not authenticated by the API server');
    if (!(st.audiences ?? []).includes(this.audience)) throw unauthorized(`the token is not for audience ${this.audience}`);
    const m = SA_USER.exec(st.user?.username ?? '');
    if (m === null) throw forbidden('AG_API_NOT_SERVICE_ACCOUNT', 'only pod service-account tokens may call the sidecar API');
    const namespace = m[1] ?? '';
    const serviceAccount = m[3] ?? '';
    const podName = st.user?.extra?.[POD_NAME_KEY];
    const podUid = st.user?.extra?.[POD_UID_KEY];
    if (podName?.length !== 1 || podUid?.length !== 1 || podName[0] === undefined || podUid[0] === undefined) {
      throw forbidden('AG_API_NOT_POD_BOUND', 'the token is not bound to a pod (use a projected service-account token)');
    }
    let pod: PodObject;
    try {
      pod = await this.client.get<PodObject>(R.pods, namespace, podName[0]);
    } catch (err) {
      if (isNotFound(err)) throw forbidden('AG_API_POD_GONE', `pod ${namespace}/${podName[0]} no longer exists`);
      throw err;
    }
    if (pod.metadata?.uid !== podUid[0]) throw forbidden('AG_API_POD_GONE', `pod ${namespace}/${podName[0]} is not the pod the token was issued for`);
    if ((pod.spec?.serviceAccountName ?? 'default') !== serviceAccount) {
      throw forbidden('AG_API_POD_MISMATCH', `pod ${namespace}/${podName[0]} does not run as service account ${serviceAccount}`);
    }
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === SIDECAR_CONTAINER);
    if (sidecar === undefined || sidecar.restartPolicy !== 'Always') {
      throw forbidden('AG_API_NO_SIDECAR', `pod ${namespace}/${podName[0]} does not carry the injected agentgate sidecar`);
    }
    return { namespace, name: podName[0], uid: podUid[0], serviceAccount, labels: { ...(pod.metadata?.labels ?? {}) } };
  }
}

/** The bearer token of a request, or a 401. */
export function bearerToken(header: string | undefined): string {
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header ?? '');
  if (m?.[1] === undefined) throw unauthorized('an Authorization: Bearer <projected service-account token> header is required');
  return m[1];
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}
