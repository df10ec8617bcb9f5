// A controller: a work queue of `namespace/name` keys fed by informer events
// and a periodic resync, drained by a few workers that call a reconciler.
// Success forgets the key's backoff (and may ask to be called again after a
// delay); an error retries with per-key exponential backoff; a TerminalError
// is logged and not retried until the object changes.
import type { Logger } from 'pino';
import { WorkQueue, ExponentialBackoff } from '../kube/work-queue.js';
import type { OperatorMetrics } from '../ops/metrics.js';
import { errorMessage } from '../errors.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
}
export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export class TerminalError extends Error {
  readonly code = 'AG_OPERATOR_TERMINAL';
}

export interface ControllerOptions {
  workers?: number;
  resyncPeriodMs: number;
  /** All keys the controller owns (for resync). */
  listKeys: () => string[];
  metrics: OperatorMetrics;
  log: Logger;
  backoff?: { baseMs: number; maxMs: number };
}

export class Controller {
  private readonly queue: WorkQueue;
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(readonly name: string, private readonly reconcile: Reconciler, private readonly o: ControllerOptions) {
    this.queue = new WorkQueue({ rateLimiter: new ExponentialBackoff(o.backoff?.baseMs ?? 100, o.backoff?.maxMs ?? 300_000) });
  }

  enqueue(key: string): void {
    if (this.running) this.queue.add(key);
  }

  /** A retry or requeue of `key` is waiting (for tests and diagnostics). */
  hasPendingRetry(key: string): boolean {
    return this.queue.hasPendingDelay(key);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const k of this.o.listKeys()) this.queue.add(k);
    for (let i = 0; i < (this.o.workers ?? 2); i++) this.workers.push(this.work());
    this.resyncTimer = setInterval(() => {
      for (const k of this.o.listKeys()) this.queue.add(k);
    }, this.o.resyncPeriodMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async work(): Promise<void> {
    const { metrics, log } = this.o;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        const r = await this.reconcile(key);
        this.queue.forget(key);
        if (r?.requeueAfterMs !== undefined) {
          metrics.reconcileTotal.inc({ controller: this.name, result: 'requeue' });
          this.queue.addAfter(key, r.requeueAfterMs);
        } else {
          metrics.reconcileTotal.inc({ controller: this.name, result: 'success' });
        }
      } catch (err) {
        metrics.reconcileTotal.inc({ controller: this.name, result: 'error' });
        metrics.reconcileErrors.inc({ controller: this.name });
        if (err instanceof TerminalError) {
          this.queue.forget(key);
          log.error({ controller: this.name, key, err: errorMessage(err) }, 'reconcile failed (not retried)');
        } else {
          const retries = this.queue.rateLimiter.retries(key);
          log.warn({ controller: this.name, key, err: errorMessage(err), retries }, 'reconcile failed; retrying with backoff');
          this.queue.addRateLimited(key);
        }
      } finally {
        this.queue.done(key);
      }
    }
  }
}
