// Wires informers to controllers. The AccessPolicy and Connection caches run
// in every replica (the injection webhook reads them); the controllers, the
// Secret watches and the AccessRequest / SessionRecord informers run only
// while this replica leads.
import type { Logger } from 'pino';
import { Informer } from '../kube/informer.js';
import type { KubeClient } from '../kube/kube-client.js';
import type { EventRecorder } from '../kube/event-recorder.js';
import { R } from '../kube/resources.js';
import { objectKey } from '../kube/types.js';
import type { OperatorMetrics } from '../ops/metrics.js';
import { Controller } from './controller.js';
import { RefIndex } from './ref-index.js';
import {
  accessPolicyReconciler, accessRequestReconciler, connectionReconciler, sessionRecordReconciler,
  type AccessRequestObject, type ConnectionObject, type PolicyObject, type SessionRecordObject,
} from './reconcilers.js';
import { SecretWatcher } from './secret-watcher.js';
import { secretRequirements } from './readiness.js';

export interface ManagerOptions {
  client: KubeClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  resyncPeriodMs: number;
  sessionRecordTtlMs: number;
  workers: number;
}

export class Manager {
  readonly policies: Informer<PolicyObject>;
  readonly connections: Informer<ConnectionObject>;
  private leading: LeaderParts | undefined;

  constructor(private readonly o: ManagerOptions) {
    this.policies = new Informer<PolicyObject>({ client: o.client, ref: R.accessPolicies, log: o.log });
    this.connections = new Informer<ConnectionObject>({ client: o.client, ref: R.connections, log: o.log });
    // Leader-only controllers hear about cache changes through these hooks.
    this.policies.on('add', (p) => this.leading?.onPolicy(p));
    this.policies.on('update', (p) => this.leading?.onPolicy(p));
    this.policies.on('delete', (p) => this.leading?.onPolicyDeleted(p));
    this.connections.on('add', (c) => this.leading?.onConnection(c, true));
    this.connections.on('update', (c) => this.leading?.onConnection(c, false));
    this.connections.on('delete', (c) => this.leading?.onConnectionDeleted(c));
  }

  /** Caches every replica needs (for the webhooks). */
  async startCaches(): Promise<void> {
    await Promise.all([this.policies.start(), this.connections.start()]);
  }

  get cachesSynced(): boolean {
    return this.policies.synced && this.connections.synced;
  }

  async startLeading(): Promise<void> {
    if (this.leading) return;
    const parts = new LeaderParts(this.o, this.policies, this.connections);
    this.leading = parts;
    await parts.start();
  }

  async stopLeading(): Promise<void> {
    const parts = this.leading;
    this.leading = undefined;
    await parts?.stop();
  }

  get leaderSynced(): boolean {
    return this.leading?.synced ?? true;
  }

  async stop(): Promise<void> {
    await this.stopLeading();
    await Promise.all([this.policies.stop(), this.connections.stop()]);
  }
}

class LeaderParts {
  private readonly policyByConnection = new RefIndex();
  private readonly connectionBySecret = new RefIndex();
  private readonly secrets: SecretWatcher;
  private readonly requests: Informer<AccessRequestObject>;
  private readonly records: Informer<SessionRecordObject>;
  private readonly policyCtl: Controller;
  private readonly connectionCtl: Controller;
  private readonly requestCtl: Controller;
  private readonly recordCtl: Controller;

  constructor(o: ManagerOptions, private readonly policies: Informer<PolicyObject>, private readonly connections: Informer<ConnectionObject>) {
    const deps = { client: o.client, events: o.events, log: o.log };
    const common = { resyncPeriodMs: o.resyncPeriodMs, metrics: o.metrics, log: o.log, workers: o.workers };
    const keys = (inf: { list: () => Array<{ metadata?: { name?: string; namespace?: string } }> }) => () => inf.list().map(objectKey);

    this.secrets = new SecretWatcher(o.client, o.log, (ns, name) => {
      for (const k of this.connectionBySecret.owners(`${ns}/${name}`)) this.connectionCtl.enqueue(k);
    });
    this.requests = new Informer<AccessRequestObject>({ client: o.client, ref: R.accessRequests, log: o.log });
    this.records = new Informer<SessionRecordObject>({ client: o.client, ref: R.sessionRecords, log: o.log });

    this.policyCtl = new Controller('accesspolicy', accessPolicyReconciler(deps, policies, connections), { ...common, listKeys: keys(policies) });
    this.connectionCtl = new Controller('connection', connectionReconciler(deps, connections, this.secrets), { ...common, listKeys: keys(connections) });
    this.requestCtl = new Controller('accessrequest', accessRequestReconciler(deps, this.requests), { ...common, listKeys: keys(this.requests) });
    this.recordCtl = new Controller('sessionrecord', sessionRecordReconciler(deps, this.records, o.sessionRecordTtlMs), { ...common, listKeys: keys(this.records) });

    const enq = (ctl: Controller) => (obj: { metadata?: { name?: string; namespace?: string } }) => ctl.enqueue(objectKey(obj));
    this.requests.on('add', enq(this.requestCtl));
    this.requests.on('update', enq(this.requestCtl));
    this.records.on('add', enq(this.recordCtl));
    this.records.on('update', enq(this.recordCtl));
  }

  get synced(): boolean {
    return this.requests.synced && this.records.synced;
  }

  async start(): Promise<void> {
    for (const p of this.policies.list()) this.indexPolicy(p);
    for (const c of this.connections.list()) this.indexConnection(c);
    await Promise.all([this.requests.start(), this.records.start()]);
    for (const ctl of [this.policyCtl, this.connectionCtl, this.requestCtl, this.recordCtl]) ctl.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.policyCtl, this.connectionCtl, this.requestCtl, this.recordCtl].map((c) => c.stop()));
    await Promise.all([this.requests.stop(), this.records.stop(), this.secrets.stop()]);
  }

  onPolicy(p: PolicyObject): void {
    this.indexPolicy(p);
    this.policyCtl.enqueue(objectKey(p));
  }
  onPolicyDeleted(p: PolicyObject): void {
    this.policyByConnection.delete(objectKey(p));
  }
  onConnection(c: ConnectionObject, added: boolean): void {
    this.indexConnection(c);
    this.connectionCtl.enqueue(objectKey(c));
    if (added) this.requeuePoliciesOf(c);
  }
  onConnectionDeleted(c: ConnectionObject): void {
    this.connectionBySecret.delete(objectKey(c));
    this.requeuePoliciesOf(c);
    const ns = c.metadata?.namespace;
    // Last Connection in the namespace gone: stop watching its Secrets.
    if (ns && this.connections.list(ns).length === 0) void this.secrets.unwatch(ns);
  }

  private requeuePoliciesOf(c: ConnectionObject): void {
    for (const k of this.policyByConnection.owners(objectKey(c))) this.policyCtl.enqueue(k);
  }
  private indexPolicy(p: PolicyObject): void {
    const ns = p.metadata?.namespace ?? '';
    this.policyByConnection.set(objectKey(p), (p.spec?.connections ?? []).map((n) => `${ns}/${n}`));
  }
  private indexConnection(c: ConnectionObject): void {
    const ns = c.metadata?.namespace ?? '';
    this.connectionBySecret.set(objectKey(c), secretRequirements(c.spec).map((r) => `${ns}/${r.name}`));
  }
}
