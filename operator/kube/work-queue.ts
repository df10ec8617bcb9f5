// A per-key work queue in the manner of client-go's workqueue: a key is queued
// at most once; a key being processed is never handed to a second worker, and
// an add during processing re-queues it when the worker is done. Retries are
// rate-limited per key with exponential backoff; success forgets the key.

export interface RateLimiter {
  /** Delay before the next retry of `key`; counts the retry. */
  when(key: string): number;
  forget(key: string): void;
  retries(key: string): number;
}

/** base·2^n ms, capped at max (controller-runtime's per-item limiter uses 5 ms … 1000 s). */
export class ExponentialBackoff implements RateLimiter {
  private readonly failures = new Map<string, number>();
  constructor(private readonly baseMs = 5, private readonly maxMs = 300_000) {}

  when(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    // 2^n overflows to Infinity for large n; min() keeps the cap.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }
  forget(key: string): void {
    this.failures.delete(key);
  }
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/** Timer functions, injectable so tests drive time by hand. */
export interface Scheduler {
  schedule(fn: () => void, ms: number): () => void;
}
export const realScheduler: Scheduler = {
  schedule(fn, ms) {
    // setTimeout fires at once past 2^31-1 ms; firing early is safe (reconcilers recompute).
    const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
    t.unref();
    return () => clearTimeout(t);
  },
};

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; cancel: () => void }>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  readonly rateLimiter: RateLimiter;
  private readonly scheduler: Scheduler;
  private readonly now: () => number;

  constructor(opts: { rateLimiter?: RateLimiter; scheduler?: Scheduler; now?: () => number } = {}) {
    this.rateLimiter = opts.rateLimiter ?? new ExponentialBackoff();
    this.scheduler = opts.scheduler ?? realScheduler;
    this.now = opts.now ?? Date.now;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    this.push(key);
  }

  /** Add after `ms`; an earlier pending deadline for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.cancel();
    const cancel = this.scheduler.schedule(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, cancel });
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.rateLimiter.when(key));
  }

  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  /** Next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  get length(): number {
    return this.queue.length;
  }
  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }
  hasPendingDelay(key: string): boolean {
    return this.delayed.has(key);
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(this.take(key));
    else this.queue.push(key);
  }
  private take(key: string): string {
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }
}
