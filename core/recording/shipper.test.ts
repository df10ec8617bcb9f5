import { describe, it, expect, afterAll } from '@jest/globals';
import { join } from 'node:path';
import { FileRecordSink } from './file-record-sink.js';
import { verifyChain } from './hash-chain.js';
import { Recorder } from './session-recorder.js';
import { Shipper, type RecordSink, type ShipBatch } from './shipper.js';
import { Spool } from './spool.js';
import { readJsonl, START, tempDir } from './test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});
async function dir(prefix: string): Promise<string> {
  const d = await tempDir(prefix);
  cleanups.push(d.remove);
  return d.path;
}

const allow = { action: 'allow' as const, policy: 'p', rule: 'r' };

/** A sink that is down for its first `failures` calls (like an operator being restarted). */
class FlakySink implements RecordSink {
  calls = 0;
  constructor(
    private readonly inner: RecordSink,
    private readonly failures: number,
  ) {}
  async ship(batch: ShipBatch): Promise<{ ackedThrough: number }> {
    this.calls++;
    if (this.calls <= this.failures) throw new Error(`sink unavailable (call ${this.calls})`);
    return this.inner.ship(batch);
  }
}

/** A sink that stores at most `perCall` events a call and acknowledges only those. */
class SlowSink implements RecordSink {
  constructor(
    private readonly inner: RecordSink,
    private readonly perCall: number,
  ) {}
  ship(batch: ShipBatch): Promise<{ ackedThrough: number }> {
    return this.inner.ship({ sessionId: batch.sessionId, events: batch.events.slice(0, this.perCall) });
  }
}

class DownSink implements RecordSink {
  ship(): Promise<{ ackedThrough: number }> {
    return Promise.reject(new Error('down'));
  }
}

async function recordSession(spool: Spool, sessionId: string, statements: number): Promise<void> {
  const rec = await new Recorder({ spool }).startSession(START, { sessionId });
  for (let i = 0; i < statements; i++) await rec.record('statement', { text: `select ${i}`, decision: allow });
  await rec.end('ok');
}

describe('Shipper', () => {
  it('retries a failing sink with growing backoff and then delivers everything once', async () => {
    const spool = await Spool.open({ dir: await dir('ship-flaky') });
    const recordDir = await dir('ship-flaky-rec');
    await recordSession(spool, 'sess-1', 9);
    const attempts: Array<{ attempt: number; delayMs: number }> = [];
    const sink = new FlakySink(new FileRecordSink(recordDir), 4);
    const shipper = new Shipper({
      spool,
      sink,
      initialBackoffMs: 2,
      maxBackoffMs: 8,
      onError: (_e, info) => attempts.push({ attempt: info.attempt, delayMs: info.delayMs }),
    });
    shipper.start();
    expect(await shipper.flush()).toBe(true);
    await shipper.stop();
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
    // Delay = base/2..base with base = min(max, initial * 2^(attempt-1)).
    const bases = [2, 4, 8, 8];
    attempts.forEach((a, i) => {
      expect(a.delayMs).toBeGreaterThanOrEqual(bases[i]! / 2);
      expect(a.delayMs).toBeLessThanOrEqual(bases[i]!);
    });
    expect(sink.calls).toBe(5);
    const events = await readJsonl(join(recordDir, 'sess-1.jsonl'));
    expect(events).toHaveLength(11);
    expect(verifyChain(events)).toMatchObject({ ok: true });
    expect(spool.sessions()).toEqual([]);
    await spool.close();
  });

  it('follows partial acknowledgements until the session is stored', async () => {
    const spool = await Spool.open({ dir: await dir('ship-partial') });
    const recordDir = await dir('ship-partial-rec');
    await recordSession(spool, 'sess-2', 10);
    await recordSession(spool, 'sess-3', 3);
    const shipper = new Shipper({ spool, sink: new SlowSink(new FileRecordSink(recordDir), 3), maxBatchEvents: 5 });
    expect(await shipper.flush()).toBe(true);
    await shipper.stop();
    expect(shipper.stats.batches).toBe(4 + 2);
    expect(verifyChain(await readJsonl(join(recordDir, 'sess-2.jsonl')))).toMatchObject({ ok: true, count: 12 });
    expect(verifyChain(await readJsonl(join(recordDir, 'sess-3.jsonl')))).toMatchObject({ ok: true, count: 5 });
    await spool.close();
  });

  it('keeps events spooled while the sink stays down', async () => {
    const spool = await Spool.open({ dir: await dir('ship-down') });
    await recordSession(spool, 'sess-4', 2);
    let seen = 0;
    let enough!: () => void;
    const threeFailures = new Promise<void>((r) => (enough = r));
    const shipper = new Shipper({
      spool,
      sink: new DownSink(),
      initialBackoffMs: 1,
      maxBackoffMs: 2,
      onError: () => {
        if (++seen === 3) enough();
      },
    });
    shipper.start();
    await threeFailures;
    await shipper.stop();
    expect(spool.session('sess-4')).toMatchObject({ durableSeq: 4, ackedSeq: 0, ended: true });
    await spool.close();
  });
});
