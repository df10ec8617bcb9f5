// Creating and reading AccessRequests for the sidecar API. The requester pod
// comes from the caller's verified token; the body only says which policy
// rule asked for review, on which connection, for which operation and
// identity. A request is only created for a review rule of a policy that
// selects the pod and names the connection, so a sidecar cannot ask humans to
// approve something its policies never put up for review.
import { randomBytes } from 'node:crypto';
import { parseDuration } from '../../core/policy/duration.js';
import { matchesLabelSelector } from '../../core/policy/label-selector.js';
import type { AccessPolicy, AccessRequest, AccessRequestPhase, Protocol } from '../../core/resources/generated.js';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import { isNotFound } from '../errors.js';
import { rfc3339 } from './approval-decision.js';
import { AccessRequestError } from './errors.js';
import { POD_UID_LABEL } from './grants.js';

export const POD_LABEL = 'agentgate.dev/pod';
export const SESSION_LABEL = 'agentgate.dev/session';
const DEFAULT_TIMEOUT = '10m';
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface RequesterPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
  labels: Record<string, string>;
}

export interface NewAccessRequest {
  /** Policy name, or "namespace/name" (the engine's form; the namespace must be the pod's). */
  policy: string;
  rule: string;
  connection: string;
  protocol: Protocol;
  operation: string;
  reason?: string | undefined;
  sessionId?: string | undefined;
  requester: { sub: string; iss?: string | undefined; groups?: readonly string[] | undefined };
}

export interface AccessRequestView {
  name: string;
  /** Pending past its expiry reads as Expired, whether or not the status says so yet. */
  phase: AccessRequestPhase;
  scope: 'once' | 'grant';
  expiresAt: string;
  approvals: number;
  decidedBy?: string | undefined;
  decidedAt?: string | undefined;
  reason?: string | undefined;
}

/** ar-<10 random characters>: unguessable, so a name says nothing about what it holds. */
export function newAccessRequestName(): string {
  const bytes = randomBytes(10);
  return `ar-${[...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('')}`;
}

export function viewOf(ar: AccessRequest, now: Date): AccessRequestView {
  let phase: AccessRequestPhase = ar.status?.phase ?? 'Pending';
  if (phase === 'Pending' && now.getTime() >= Date.parse(ar.spec.expiresAt)) phase = 'Expired';
  return {
    name: ar.metadata.name ?? '',
    phase,
    scope: ar.spec.scope,
    expiresAt: ar.spec.expiresAt,
    approvals: ar.status?.approvals?.length ?? 0,
    decidedBy: ar.status?.decidedBy,
    decidedAt: ar.status?.decidedAt,
    reason: ar.status?.reason,
  };
}

export interface AccessRequestServiceOptions {
  client: KubeClient;
  /** The policy in a namespace (an informer cache). */
  policy(namespace: string, name: string): AccessPolicy | undefined;
  /** A request from the cache; the service falls back to a GET when the cache has not seen it yet. */
  cached?(namespace: string, name: string): AccessRequest | undefined;
  now?: () => Date;
}

export class AccessRequestService {
  private readonly now: () => Date;

  constructor(private readonly o: AccessRequestServiceOptions) {
    this.now = o.now ?? (() => new Date());
  }

  async create(pod: RequesterPod, input: NewAccessRequest): Promise<AccessRequestView> {
    const slash = input.policy.indexOf('/');
    if (slash >= 0 && input.policy.slice(0, slash) !== pod.namespace) {
      throw new AccessRequestError('AG_AR_FOREIGN_POLICY', 403, `policy ${input.policy} is not in the pod's namespace ${pod.namespace}`);
    }
    const policyName = slash >= 0 ? input.policy.slice(slash + 1) : input.policy;
    const policy = this.o.policy(pod.namespace, policyName);
    if (policy === undefined) throw new AccessRequestError('AG_AR_NO_POLICY', 404, `AccessPolicy ${pod.namespace}/${policyName} does not exist`);
    if (!matchesLabelSelector(policy.spec.podSelector, pod.labels) || !policy.spec.connections.includes(input.connection)) {
      throw new AccessRequestError('AG_AR_NOT_APPLICABLE', 403, `AccessPolicy ${pod.namespace}/${policyName} does not cover this pod on connection ${input.connection}`);
    }
    const rule = policy.spec.rules?.find((r) => r.name === input.rule);
    if (rule?.action !== 'review') {
      throw new AccessRequestError('AG_AR_NOT_REVIEW', 403, `AccessPolicy ${pod.namespace}/${policyName} has no review rule ${JSON.stringify(input.rule)}`);
    }
    const approval = policy.spec.approval;
    if (approval === undefined) {
      throw new AccessRequestError('AG_AR_NO_APPROVERS', 409, `AccessPolicy ${pod.namespace}/${policyName} has a review rule but no approval section`);
    }
    const now = this.now();
    const timeoutMs = parseDuration(approval.timeout ?? DEFAULT_TIMEOUT);
    const expiresAt = rfc3339(new Date(Math.ceil((now.getTime() + timeoutMs) / 1000) * 1000));
    const labels: Record<string, string> = { [POD_LABEL]: pod.name, [POD_UID_LABEL]: pod.uid, 'app.kubernetes.io/managed-by': 'agentgate-operator' };
    if (input.sessionId !== undefined && input.sessionId.length <= 63 && LABEL_VALUE.test(input.sessionId)) labels[SESSION_LABEL] = input.sessionId;
    const body: AccessRequest = {
      apiVersion: 'agentgate.dev/v1alpha1',
      kind: 'AccessRequest',
      metadata: { name: newAccessRequestName(), namespace: pod.namespace, labels },
      spec: {
        requester: {
          sub: input.requester.sub,
          ...(input.requester.iss !== undefined ? { iss: input.requester.iss } : {}),
          groups: [...(input.requester.groups ?? [])].slice(0, 64),
          pod: { namespace: pod.namespace, name: pod.name, serviceAccount: pod.serviceAccount },
        },
        policy: policyName,
        rule: input.rule,
        connection: input.connection,
        protocol: input.protocol,
        operation: input.operation,
        ...(input.reason !== undefined ? { reason: input.reason } : {}),
        scope: approval.scope ?? 'once',
        expiresAt,
      },
    };
    const created = await this.o.client.create<AccessRequest>(R.accessRequests, pod.namespace, body);
    const name = created.metadata.name ?? '';
    // Pending from the start, so `kubectl get` shows it; the request is valid without it (no phase = Pending).
    await this.o.client.patchStatus(R.accessRequests, pod.namespace, name, { phase: 'Pending' }).catch(() => undefined);
    return viewOf({ ...created, status: { phase: 'Pending' } }, now);
  }

  /** The caller's own request, or 404 (another pod's request is indistinguishable from none). */
  async get(pod: Pick<RequesterPod, 'namespace' | 'name' | 'uid'>, name: string): Promise<AccessRequestView> {
    let ar = this.o.cached?.(pod.namespace, name);
    if (ar === undefined) {
      try {
        ar = await this.o.client.get<AccessRequest>(R.accessRequests, pod.namespace, name);
      } catch (err) {
        if (isNotFound(err)) throw new AccessRequestError('AG_AR_NOT_FOUND', 404, `no AccessRequest ${name}`);
        throw err;
      }
    }
    const rp = ar.spec.requester.pod;
    const uid = ar.metadata.labels?.[POD_UID_LABEL];
    if (rp?.namespace !== pod.namespace || rp.name !== pod.name || (uid !== undefined && uid !== pod.uid)) throw new AccessRequestError('AG_AR_NOT_FOUND', 404, `no AccessRequest ${name}`);
    return viewOf(ar, this.now());
  }
}
