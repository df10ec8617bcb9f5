import { describe, it, expect, afterAll } from '@jest/globals';
import { appendFile, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FileRecordSink } from './file-record-sink.js';
import { computeEventHash, genesisHash, verifyChain } from './hash-chain.js';
import { buildEvent, Recorder } from './session-recorder.js';
import { Shipper, type RecordSink, type ShipBatch } from './shipper.js';
import { Spool } from './spool.js';
import { readJsonl, START, tempDir } from './test-helpers.js';
import type { RecordingError } from './errors.js';

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

/** Stores through a FileRecordSink, then fails on chosen calls: the sink has the data but the ack is lost. */
class AckLosingSink implements RecordSink {
  calls = 0;
  constructor(
    private readonly inner: RecordSink,
    private readonly loseOnCall: number,
  ) {}
  async ship(batch: ShipBatch): Promise<{ ackedThrough: number }> {
    this.calls++;
    const r = await this.inner.ship(batch);
    if (this.calls === this.loseOnCall) throw new Error('connection reset after the sink stored the batch');
    return r;
  }
}

describe('Spool', () => {
  it('acknowledges appends after they are on disk, in order, with concurrent appends grouped', async () => {
    const d = await dir('spool-order');
    const spool = await Spool.open({ dir: d });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-a' });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => rec.record('statement', { text: `select ${i}`, decision: allow })),
    );
    expect(results.every((e) => e !== null)).toBe(true);
    const onDisk = await readJsonl(join(d, 'sess-a.jsonl'));
    expect(onDisk.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(verifyChain(onDisk)).toMatchObject({ ok: true, count: 51 });
    expect(spool.session('sess-a')).toMatchObject({ durableSeq: 51, ackedSeq: 0, ended: false });
    // Group commit: the 50 concurrent appends share at most two fsyncs (session.start had its own).
    expect(spool.stats.appends).toBe(51);
    expect(spool.stats.fsyncs).toBeLessThanOrEqual(3);
    await spool.close();
  });

  it('refuses an out-of-order event synchronously without queueing it', async () => {
    const d = await dir('spool-seq');
    const spool = await Spool.open({ dir: d });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-b' });
    const bad = { ...(await rec.record('statement', { text: 'select 1', decision: allow }))!, seq: 7 };
    expect(() => spool.enqueue(bad)).toThrow(expect.objectContaining({ code: 'RECORD_OUT_OF_ORDER' }));
    expect(spool.session('sess-b')?.durableSeq).toBe(2);
    await spool.close();
  });

  it('is bounded: past maxBytes an append fails with RECORD_SPOOL_FULL and the chain stays intact', async () => {
    const d = await dir('spool-full');
    const spool = await Spool.open({ dir: d, maxBytes: 4096 });
    const rec = await new Recorder({ spool, strict: true }).startSession(START, { sessionId: 'sess-c' });
    let error: unknown = null;
    for (let i = 0; i < 100 && error === null; i++) {
      await rec.record('statement', { text: `select '${'x'.repeat(200)}'`, decision: allow }).catch((e: unknown) => {
        error = e;
      });
    }
    expect(error).toMatchObject({ code: 'RECORD_SPOOL_FULL' });
    expect(String((error as Error).message)).toMatch(/spool .* is full/);
    expect(spool.bytes).toBeLessThanOrEqual(4096);
    expect(verifyChain(await readJsonl(join(d, 'sess-c.jsonl')))).toMatchObject({ ok: true });
    await spool.close();
  });

  it('refuses a second process-level owner only when that owner is alive', async () => {
    const d = await dir('spool-lock');
    await appendFile(join(d, 'spool.lock'), '1\n'); // pid 1 is always alive
    await expect(Spool.open({ dir: d })).rejects.toMatchObject({ code: 'RECORD_SPOOL_LOCKED' });
    await rm(join(d, 'spool.lock'));
    await appendFile(join(d, 'spool.lock'), '999999999\n'); // no such process: stale
    const spool = await Spool.open({ dir: d });
    expect((await readFile(join(d, 'spool.lock'), 'utf8')).trim()).toBe(String(process.pid));
    await spool.close();
  });
});

describe('group commit with a window', () => {
  it('writes at enqueue, resolves appends only after a sync, and loses nothing written when the process crashes first', async () => {
    const d = await dir('spool-window');
    // A window far longer than the test: nothing is synced unless drain() asks.
    const spool1 = await Spool.open({ dir: d, syncDelayMs: 600_000 });
    let prev = genesisHash('sess-w');
    const events = [buildEvent('sess-w', 1, prev, 1_700_000_000_000, 'session.start', START)];
    prev = events[0]!.hash;
    for (let i = 2; i <= 6; i++) {
      const e = buildEvent('sess-w', i, prev, 1_700_000_000_000 + i, 'statement', { text: `select ${i}`, decision: allow });
      expect(e.hash).toBe(computeEventHash(e));
      events.push(e);
      prev = e.hash;
    }
    let settled = 0;
    const pending = events.map((e) => spool1.enqueue(e).then(() => settled++));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(0);
    expect(spool1.stats.fsyncs).toBe(0);
    expect(spool1.session('sess-w')).toMatchObject({ durableSeq: 0 });
    // Every line is in the file already (page cache), before any fsync.
    expect((await readJsonl(join(d, 'sess-w.jsonl'))).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);

    // The crash: spool1 is dropped without close; a new process opens the directory.
    const spool2 = await Spool.open({ dir: d });
    expect(spool2.session('sess-w')).toMatchObject({ durableSeq: 6, ended: false });
    expect(spool2.orphans()).toEqual([expect.objectContaining({ sessionId: 'sess-w', lastSeq: 6, lastHash: prev })]);
    const read = await spool2.readBatch('sess-w', 0);
    expect(read.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(verifyChain(read)).toMatchObject({ ok: true, count: 6 });
    await spool2.close();

    // The dropped object's appends settle only once a sync ran (one for all six).
    expect(settled).toBe(0);
    await spool1.drain();
    await Promise.all(pending);
    expect(settled).toBe(6);
    expect(spool1.stats.fsyncs).toBe(1);
    await spool1.close();
  });

  it('refuses at enqueue, synchronously, an event whose bytes cannot be written', async () => {
    const d = await dir('spool-write-fail');
    const spool = await Spool.open({ dir: d, syncDelayMs: 600_000 });
    await symlink('/dev/full', join(d, 'sess-x.jsonl'));
    const e = buildEvent('sess-x', 1, genesisHash('sess-x'), 1_700_000_000_000, 'session.start', START);
    expect(() => spool.enqueue(e)).toThrow(expect.objectContaining({ code: 'RECORD_SPOOL_WRITE' }));
    expect(spool.session('sess-x')).toMatchObject({ broken: true, durableSeq: 0 });
    await spool.close();
  });
});

describe('strict recording', () => {
  it('rejects session start when the disk is full (ENOSPC), and lenient mode carries on', async () => {
    const d = await dir('spool-enospc');
    const spool = await Spool.open({ dir: d });
    await symlink('/dev/full', join(d, 'sess-full.jsonl'));
    const strict = new Recorder({ spool, strict: true });
    await expect(strict.startSession(START, { sessionId: 'sess-full' })).rejects.toMatchObject({
      code: 'RECORD_SPOOL_WRITE',
      message: expect.stringMatching(/ENOSPC/),
    });

    await symlink('/dev/full', join(d, 'sess-lenient.jsonl'));
    const errors: RecordingError[] = [];
    const lenient = new Recorder({ spool, strict: false, onError: (e) => errors.push(e) });
    const rec = await lenient.startSession(START, { sessionId: 'sess-lenient' });
    expect(await rec.record('statement', { text: 'select 1', decision: allow })).toBeNull();
    expect(rec.failed?.code).toBe('RECORD_SPOOL_WRITE');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    await spool.close();
  });

  it('rejects when the spool directory disappeared', async () => {
    const d = await dir('spool-gone');
    const spool = await Spool.open({ dir: join(d, 'spool') });
    await rm(join(d, 'spool'), { recursive: true });
    await expect(new Recorder({ spool, strict: true }).startSession(START)).rejects.toMatchObject({
      code: 'RECORD_SPOOL_WRITE',
    });
  });

  it('never records a credential-named field', async () => {
    const d = await dir('spool-secret');
    const spool = await Spool.open({ dir: d });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-s' });
    const data = { text: 'select 1', decision: allow, extra: { dbPassword: 'hunter2' } };
    await expect(rec.record('statement', data)).rejects.toMatchObject({ code: 'RECORD_SECRET_FIELD' });
    expect(await readFile(join(d, 'sess-s.jsonl'), 'utf8')).not.toContain('hunter2');
    await spool.close();
  });
});

describe('crash safety', () => {
  it('after a crash (object dropped, torn tail, lost ack) reopening ships every event exactly once', async () => {
    const spoolDir = await dir('crash-spool');
    const recordDir = await dir('crash-record');

    // Process 1: two sessions; one ends, one is cut off by the crash.
    const spool1 = await Spool.open({ dir: spoolDir });
    const recorder1 = new Recorder({ spool: spool1 });
    const a = await recorder1.startSession(START, { sessionId: 'sess-ended' });
    for (let i = 0; i < 4; i++) await a.record('statement', { text: `select ${i}`, decision: allow, rows: i });
    await a.end('ok');
    const b = await recorder1.startSession(START, { sessionId: 'sess-cut' });
    await b.record('statement', { text: 'delete from t', decision: { action: 'deny', policy: 'p', rule: 'no-delete' } });

    // Ship in batches of 2; the second call stores but loses its ack.
    const lossy = new AckLosingSink(new FileRecordSink(recordDir), 2);
    const failures: unknown[] = [];
    let lostAck!: () => void;
    const ackLost = new Promise<void>((r) => (lostAck = r));
    const shipper1 = new Shipper({
      spool: spool1,
      sink: lossy,
      maxBatchEvents: 2,
      initialBackoffMs: 1_000_000, // never retried in process 1
      onError: (e) => {
        failures.push(e);
        lostAck();
      },
    });
    shipper1.start();
    await ackLost;
    await shipper1.stop();
    expect(failures).toHaveLength(1);
    // The crash: nothing closed, and a half-written line at the end of a spool file.
    await appendFile(join(spoolDir, 'sess-cut.jsonl'), '{"v":1,"id":"0190');

    // Process 2.
    const spool2 = await Spool.open({ dir: spoolDir });
    expect(spool2.orphans().map((o) => o.sessionId)).toEqual(['sess-cut']);
    const recorder2 = new Recorder({ spool: spool2 });
    expect(await recorder2.closeOrphans()).toBe(1);
    const sink = new FileRecordSink(recordDir);
    const shipper2 = new Shipper({ spool: spool2, sink, maxBatchEvents: 2, initialBackoffMs: 1 });
    expect(await shipper2.flush()).toBe(true);
    await shipper2.stop();

    const ended = await readJsonl(join(recordDir, 'sess-ended.jsonl'));
    expect(ended.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(ended.map((e) => e.id)).size).toBe(6);
    expect(verifyChain(ended)).toMatchObject({ ok: true, count: 6 });
    const cut = await readJsonl(join(recordDir, 'sess-cut.jsonl'));
    expect(cut.map((e) => e.type)).toEqual(['session.start', 'statement', 'session.end']);
    expect(verifyChain(cut)).toMatchObject({ ok: true });

    const summary = await sink.readSummary('sess-cut');
    expect(summary).toMatchObject({
      outcome: 'terminated',
      connection: 'orders-db',
      counts: { statements: 1, denied: 1, masked: 0, approvals: 0 },
      transcript: { events: 3, lastHash: cut[2]!.hash },
    });
    // Fully acknowledged, ended sessions leave the spool.
    const left = (await readdir(spoolDir)).filter((n) => n.endsWith('.jsonl') || n.endsWith('.ack'));
    expect(left).toEqual([]);
    await spool2.close();
  });
});
