// Keeps one SessionRecord per session in the pod's namespace: created when
// the session's first events arrive, its counts, transcript head, end and
// outcome patched as more arrive. Written before the batch is acknowledged,
// so a failed write is retried with the batch.
import { createHash } from 'node:crypto';
import type { SessionRecord, SessionRecordSpec } from '../../core/resources/generated.js';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import { isAlreadyExists, isNotFound } from '../errors.js';
import type { SessionSummary } from './session-summary.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** The SessionRecord name: the session id when it is a valid object name (UUIDs are), else a hash of it. */
export function sessionRecordName(sessionId: string): string {
  const lower = sessionId.toLowerCase();
  if (lower === sessionId && lower.length <= 253 && DNS_SUBDOMAIN.test(lower)) return lower;
  return `s-${createHash('sha256').update(sessionId).digest('hex').slice(0, 40)}`;
}

const label = (v: string): string | undefined => (v.length <= 63 && LABEL_VALUE.test(v) ? v : undefined);

export function sessionRecordSpec(s: SessionSummary, store: string, path: string): SessionRecordSpec | undefined {
  if (s.start === null) return undefined;
  const d = s.start.data;
  const spec: SessionRecordSpec = {
    sessionId: s.sessionId,
    identity: { sub: d.identity.sub, iss: d.identity.iss, groups: d.identity.groups.slice(0, 64) },
    pod: d.pod ? { namespace: d.pod.namespace, name: d.pod.name, serviceAccount: d.pod.serviceAccount } : { namespace: '', name: '' },
    connection: d.connection,
    protocol: d.protocol,
    startedAt: s.start.ts,
    counts: { statements: s.counts.statements, denied: s.counts.denied, masked: s.counts.masked, approvals: s.counts.approvals, rows: s.counts.rows ?? 0 },
    transcript: { store, path, events: s.events, lastHash: s.lastHash },
  };
  if (s.end !== null) {
    spec.endedAt = s.end.ts;
    spec.outcome = s.end.outcome;
  }
  return spec;
}

export class SessionRecordWriter {
  constructor(private readonly client: KubeClient) {}

  /** Creates or updates the record; the namespace is the pod's. */
  async upsert(namespace: string, spec: SessionRecordSpec): Promise<void> {
    const name = sessionRecordName(spec.sessionId);
    const patch = {
      spec: {
        counts: spec.counts,
        transcript: spec.transcript,
        ...(spec.endedAt !== undefined ? { endedAt: spec.endedAt, outcome: spec.outcome } : {}),
      },
    };
    try {
      await this.client.patch(R.sessionRecords, namespace, name, patch, 'merge');
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const labels: Record<string, string> = { 'app.kubernetes.io/managed-by': 'agentgate-operator' };
    const pod = label(spec.pod.name);
    const conn = label(spec.connection);
    if (pod) labels['agentgate.dev/pod'] = pod;
    if (conn) labels['agentgate.dev/connection'] = conn;
    const body: SessionRecord = {
      apiVersion: 'agentgate.dev/v1alpha1',
      kind: 'SessionRecord',
      metadata: { name, namespace, labels },
      spec,
    };
    try {
      await this.client.create(R.sessionRecords, namespace, body);
    } catch (err) {
      // Created meanwhile (another replica, an earlier attempt whose answer was lost): update it.
      if (!isAlreadyExists(err)) throw err;
      await this.client.patch(R.sessionRecords, namespace, name, patch, 'merge');
    }
  }
}
