import { describe, it, expect } from '@jest/globals';
import { ExponentialBackoff, WorkQueue, type Scheduler } from './work-queue.js';

/** A scheduler driven by hand: advance(ms) fires what is due, in order. */
function manualClock(): Scheduler & { now: () => number; advance: (ms: number) => void; pending: () => number } {
  let t = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    schedule(fn, ms) {
      const id = seq++;
      timers.set(id, { at: t + ms, fn });
      return () => timers.delete(id);
    },
    advance(ms) {
      const end = t + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = end;
    },
    pending: () => timers.size,
  };
}

describe('ExponentialBackoff', () => {
  it('doubles per failure, caps at max, and starts over after forget', () => {
    const b = new ExponentialBackoff(5, 100);
    expect([1, 2, 3, 4, 5, 6].map(() => b.when('a'))).toEqual([5, 10, 20, 40, 80, 100]);
    expect(b.retries('a')).toBe(6);
    expect(b.when('b')).toBe(5); // per key
    b.forget('a');
    expect(b.retries('a')).toBe(0);
    expect(b.when('a')).toBe(5);
  });

  it('stays at the cap for very many failures (no overflow to NaN)', () => {
    const b = new ExponentialBackoff(5, 1000);
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.when('k');
    expect(last).toBe(1000);
  });
});

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.length).toBe(0);
  });

  it('never hands a key in processing to a second worker, and re-queues it on done', async () => {
    const q = new WorkQueue();
    q.add('k');
    const k = await q.get();
    expect(k).toBe('k');
    q.add('k'); // change arrives while processing
    expect(q.length).toBe(0);
    q.done('k');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('k');
    q.done('k');
    expect(q.length).toBe(0);
  });

  it('wakes a waiting worker', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
  });

  it('delays rate-limited retries with growing backoff', () => {
    const clock = manualClock();
    const q = new WorkQueue({ rateLimiter: new ExponentialBackoff(10, 1000), scheduler: clock, now: clock.now });
    q.addRateLimited('k');
    expect(q.length).toBe(0);
    clock.advance(9);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    void q.get();
    q.done('k');
    q.addRateLimited('k'); // second failure: 20 ms
    clock.advance(19);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
  });

  it('keeps the earliest deadline for a key added after different delays', () => {
    const clock = manualClock();
    const q = new WorkQueue({ scheduler: clock, now: clock.now });
    q.addAfter('k', 1000);
    q.addAfter('k', 100);
    q.addAfter('k', 5000);
    expect(clock.pending()).toBe(1);
    clock.advance(100);
    expect(q.length).toBe(1);
  });

  it('returns undefined to waiters and drops timers on shutdown', async () => {
    const clock = manualClock();
    const q = new WorkQueue({ scheduler: clock, now: clock.now });
    const waiting = q.get();
    q.addAfter('later', 50);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(clock.pending()).toBe(0);
    q.add('after');
    expect(await q.get()).toBeUndefined();
  });
});
