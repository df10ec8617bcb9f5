// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it:
// a candidate takes the Lease when it is free or its holder has not renewed it
// for leaseDuration (measured on our own clock from when we last saw the
// record change, so clock skew between nodes does not matter); the leader
// renews every retryPeriod and steps down if it could not renew within
// renewDeadline; on shutdown it releases the Lease so a successor need not
// wait. Writes are compare-and-swap on resourceVersion.
import type { Logger } from 'pino';
import type { KubeClient } from './kube-client.js';
import { R } from './resources.js';
import type { KubeObject } from './types.js';
import { errorMessage, isAlreadyExists, isConflict, isNotFound } from '../errors.js';
import { microTime } from './event-recorder.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}
export const DEFAULT_TIMING: LeaderElectionTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** What we remember about the last Lease record we saw, and when (our clock). */
export interface Observed {
  record: string; // holder + renewTime + transitions: changes on every renewal
  holder: string;
  at: number;
  durationMs: number;
}

/**
 * Pure decision: may `identity` write itself into the Lease now?
 * Yes when it is unheld, ours, or its holder stopped renewing for a full
 * lease duration since we saw its last change.
 */
export function canAcquire(identity: string, lease: Lease | undefined, observed: Observed | undefined, now: number): boolean {
  const holder = lease?.spec?.holderIdentity ?? '';
  if (!lease || holder === '' || holder === identity) return true;
  if (!observed) return false;
  return observed.at + observed.durationMs <= now;
}

export function recordOf(lease: Lease): string {
  const s = lease.spec ?? {};
  return `${s.holderIdentity ?? ''}|${s.renewTime ?? ''}|${s.leaseTransitions ?? 0}|${s.leaseDurationSeconds ?? 0}`;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
}

export class LeaderElector {
  private observed: Observed | undefined;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRenew = 0;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Leadership callbacks run one after another, off the renew loop (a slow start must not delay renewals). */
  private transitions: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
    readonly identity: string,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
    private readonly timing: LeaderElectionTiming = DEFAULT_TIMING,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops campaigning; a leader steps down and releases the Lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      this.enqueue(this.callbacks.onStoppedLeading);
      await this.transitions;
      await this.release();
    }
    await this.transitions;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err: errorMessage(err), lease: `${this.namespace}/${this.name}` }, 'lease update failed');
      }
      const now = Date.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.log.info({ identity: this.identity, lease: `${this.namespace}/${this.name}` }, 'became leader');
          this.enqueue(this.callbacks.onStartedLeading);
        }
      } else if (this.leading && now - this.lastRenew >= this.timing.renewDeadlineMs) {
        this.leading = false;
        this.log.warn({ identity: this.identity }, 'could not renew the lease in time; stepping down');
        this.enqueue(this.callbacks.onStoppedLeading);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, this.timing.retryPeriodMs);
      });
    }
  }

  private enqueue(cb: () => void | Promise<void>): void {
    this.transitions = this.transitions.then(cb).catch((err: unknown) => {
      this.log.error({ err: errorMessage(err) }, 'leadership callback failed');
    });
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    let lease: Lease | undefined;
    try {
      lease = await this.client.get<Lease>(R.leases, this.namespace, this.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const seconds = Math.ceil(this.timing.leaseDurationMs / 1000);
    const stamp = microTime(new Date(now));
    if (!lease) {
      try {
        await this.client.create<Lease>(R.leases, this.namespace, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
          metadata: { name: this.name, namespace: this.namespace },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: seconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
    }
    const rec = recordOf(lease);
    if (!this.observed || this.observed.record !== rec) {
      this.observed = {
        record: rec, holder: lease.spec?.holderIdentity ?? '', at: now,
        durationMs: (lease.spec?.leaseDurationSeconds ?? seconds) * 1000,
      };
    }
    if (!canAcquire(this.identity, lease, this.observed, now)) return false;
    const spec = lease.spec ?? {};
    const ours = spec.holderIdentity === this.identity;
    const next: Lease = {
      ...lease,
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: seconds,
        acquireTime: ours ? spec.acquireTime ?? stamp : stamp,
        renewTime: stamp,
        leaseTransitions: ours ? spec.leaseTransitions ?? 0 : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const updated = await this.client.replace<Lease>(R.leases, this.namespace, this.name, next);
      this.observed = { record: recordOf(updated), holder: this.identity, at: now, durationMs: seconds * 1000 };
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** Clears the holder (client-go's ReleaseOnCancel) so a successor takes over at once. */
  private async release(): Promise<void> {
    try {
      const lease = await this.client.get<Lease>(R.leases, this.namespace, this.name);
      if (lease.spec?.holderIdentity !== this.identity) return;
      const stamp = microTime(new Date());
      await this.client.replace<Lease>(R.leases, this.namespace, this.name, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, acquireTime: stamp, renewTime: stamp },
      });
      this.log.info({ identity: this.identity }, 'released the lease');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not release the lease');
    }
  }
}
