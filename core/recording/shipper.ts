// The shipper moves durable, unacknowledged events from the spool to a
// RecordSink, one session batch at a time. A failure backs that session off
// exponentially (with jitter) without blocking the others; an ack is written
// to disk before the next batch, and a session that has ended and is fully
// acknowledged is deleted from the spool. Batches, not events: new durable
// events are shipped `batchDelayMs` after the first of them, or at once when a
// session has a full batch waiting or a session ended.

import type { RecordEvent } from './events.js';
import type { Spool, SpoolSessionInfo } from './spool.js';

export interface ShipBatch {
  sessionId: string;
  /** Consecutive events of one session, in seq order. */
  events: readonly RecordEvent[];
  /**
   * The stored JSON line of each event (same order, no newline), when the
   * spool had them in memory: this process built and hashed them, so a sink
   * may store them as they are.
   */
  lines?: readonly string[] | undefined;
}

/** Where recordings end up. Must be idempotent: the same event may arrive more than once. */
export interface RecordSink {
  /** Store the batch; return the highest seq now stored contiguously for the session. */
  ship(batch: ShipBatch): Promise<{ ackedThrough: number }>;
}

export interface ShipperOptions {
  spool: Spool;
  sink: RecordSink;
  maxBatchEvents?: number;
  maxBatchBytes?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Poll interval when idle (the spool also wakes the shipper when events become durable). */
  idleMs?: number;
  /**
   * How long new durable events wait for more to join their batch. Default
   * 100 ms: each batch costs the sink a write and an fdatasync, and a shorter
   * wait only makes transcripts appear sooner.
   */
  batchDelayMs?: number;
  onError?: (err: unknown, info: { sessionId: string; attempt: number; delayMs: number }) => void;
  onShipped?: (info: { sessionId: string; ackedThrough: number; events: number }) => void;
}

export interface ShipperStats {
  batches: number;
  events: number;
  failures: number;
  deletedSessions: number;
}

interface RetryState {
  attempt: number;
  at: number;
}

export class Shipper {
  private readonly spool: Spool;
  private readonly sink: RecordSink;
  private readonly maxBatchEvents: number;
  private readonly maxBatchBytes: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly idleMs: number;
  private readonly onError: ShipperOptions['onError'];
  private readonly onShipped: ShipperOptions['onShipped'];
  private readonly retries = new Map<string, RetryState>();
  private running: Promise<void> | null = null;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private progressWaiters: Array<() => void> = [];
  private readonly batchDelayMs: number;
  private batchTimer: NodeJS.Timeout | null = null;
  private readonly onDurable = (sessionId: string): void => {
    const info = this.spool.session(sessionId);
    if (info && (info.ended || info.durableSeq - info.ackedSeq >= this.maxBatchEvents)) {
      this.wake();
      return;
    }
    this.batchTimer ??= setTimeout(() => {
      this.batchTimer = null;
      this.wake();
    }, this.batchDelayMs);
  };
  readonly stats: ShipperStats = { batches: 0, events: 0, failures: 0, deletedSessions: 0 };

  constructor(opts: ShipperOptions) {
    this.spool = opts.spool;
    this.sink = opts.sink;
    this.maxBatchEvents = opts.maxBatchEvents ?? 500;
    this.maxBatchBytes = opts.maxBatchBytes ?? 1024 * 1024;
    this.initialBackoffMs = opts.initialBackoffMs ?? 200;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.idleMs = opts.idleMs ?? 5_000;
    this.batchDelayMs = opts.batchDelayMs ?? 100;
    this.onError = opts.onError;
    this.onShipped = opts.onShipped;
  }

  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.spool.on('durable', this.onDurable);
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.spool.off('durable', this.onDurable);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.wake();
    await this.running;
    this.running = null;
    this.releaseWaiters();
  }

  wake(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    this.woken = true;
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  /** True when every event queued so far is acknowledged by the sink. */
  caughtUp(): boolean {
    return this.spool.sessions().every((s) => s.ackedSeq >= s.durableSeq);
  }

  /** Caught up, and every ended session has been removed from the spool. */
  settled(): boolean {
    return this.spool.sessions().every((s) => s.ackedSeq >= s.durableSeq && !s.ended);
  }

  /**
   * Ship everything spooled so far (and remove finished sessions). Resolves true once caught up, false if
   * `timeoutMs` passes first (or the shipper stops). Used at shutdown.
   */
  async flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    await this.spool.drain();
    if (!this.running) this.start();
    let timedOut = false;
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          this.releaseWaiters();
        }, timeoutMs)
      : null;
    // Cut any pending backoff once: a flush is an explicit request to try now.
    for (const r of this.retries.values()) r.at = 0;
    try {
      while (!this.settled() && !timedOut && !this.stopped) {
        const progressed = new Promise<void>((resolve) => this.progressWaiters.push(resolve));
        this.wake();
        await progressed;
      }
      return this.caughtUp();
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private releaseWaiters(): void {
    const ws = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of ws) w();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      const now = Date.now();
      let nextAt = now + this.idleMs;
      for (const s of this.spool.sessions()) {
        if (this.stopped) break;
        const retry = this.retries.get(s.sessionId);
        if (retry && retry.at > now) {
          nextAt = Math.min(nextAt, retry.at);
          continue;
        }
        if (s.ackedSeq < s.durableSeq) {
          await this.shipOne(s);
          // More may be waiting in this session: a full batch or the end goes at once, a few wait to be joined.
          const after = this.spool.session(s.sessionId);
          if (after && (after.ackedSeq < after.durableSeq || after.ended)) {
            const full = after.ended || after.durableSeq - after.ackedSeq >= this.maxBatchEvents;
            nextAt = Math.min(nextAt, full ? now : Date.now() + this.batchDelayMs);
          }
        } else if (s.ended) {
          await this.spool.deleteSession(s.sessionId).then(
            () => {
              this.stats.deletedSessions++;
              this.retries.delete(s.sessionId);
            },
            (err: unknown) => this.fail(s.sessionId, err),
          );
        }
      }
      this.releaseWaiters();
      if (this.stopped) break;
      const delay = nextAt - Date.now();
      if (delay > 0 && !this.woken) await this.sleep(delay);
    }
  }

  private async shipOne(s: SpoolSessionInfo): Promise<void> {
    try {
      const { events, lines } = await this.spool.takeBatch(s.sessionId, s.ackedSeq, this.maxBatchEvents, this.maxBatchBytes);
      const last = events[events.length - 1];
      if (!last) return;
      const { ackedThrough } = await this.sink.ship({ sessionId: s.sessionId, events, lines });
      if (!Number.isSafeInteger(ackedThrough) || ackedThrough < 0) {
        throw new Error(`sink returned an invalid ackedThrough ${String(ackedThrough)}`);
      }
      // A sink never acknowledges more than it was given; a lower ack means it
      // lost events, so the cursor moves back and they are shipped again.
      const acked = Math.min(ackedThrough, last.seq);
      if (acked === s.ackedSeq) throw new Error(`sink made no progress for session ${s.sessionId} (acked through ${acked})`);
      await this.spool.ack(s.sessionId, acked);
      this.retries.delete(s.sessionId);
      this.stats.batches++;
      this.stats.events += Math.max(0, acked - s.ackedSeq);
      this.onShipped?.({ sessionId: s.sessionId, ackedThrough: acked, events: events.length });
    } catch (err) {
      this.fail(s.sessionId, err);
    }
  }

  private fail(sessionId: string, err: unknown): void {
    this.stats.failures++;
    const attempt = (this.retries.get(sessionId)?.attempt ?? 0) + 1;
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(attempt - 1, 30));
    const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
    this.retries.set(sessionId, { attempt, at: Date.now() + delayMs });
    this.onError?.(err, { sessionId, attempt, delayMs });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
