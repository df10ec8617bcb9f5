// Kubernetes Events (events.k8s.io/v1) about the objects the operator
// reconciles. Best effort: an Event that cannot be written is logged, never
// fails a reconcile. Notes are plain text the reconciler built (no secrets).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeClient } from './kube-client.js';
import { R } from './resources.js';
import type { KubeObject } from './types.js';
import { errorMessage } from '../errors.js';

export const REPORTING_CONTROLLER = 'agentgate.dev/operator';

export interface EventRecorder {
  event(regarding: KubeObject, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void;
}

/** MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class KubeEventRecorder implements EventRecorder {
  constructor(private readonly client: KubeClient, private readonly instance: string, private readonly log: Logger) {}

  event(regarding: KubeObject, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    const ns = regarding.metadata?.namespace ?? 'default';
    const name = `${regarding.metadata?.name ?? 'object'}.${randomBytes(8).toString('hex')}`;
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      eventTime: microTime(new Date()),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance.slice(0, 128),
      action,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.metadata?.name,
        namespace: regarding.metadata?.namespace,
        uid: regarding.metadata?.uid,
        resourceVersion: regarding.metadata?.resourceVersion,
      },
    };
    this.client.create(R.events, ns, body as KubeObject).catch((err: unknown) => {
      this.log.warn({ err: errorMessage(err), reason, object: `${ns}/${regarding.metadata?.name ?? ''}` }, 'could not record event');
    });
  }
}
