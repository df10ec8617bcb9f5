// The data path's recording: write() without a promise per event, deferred
// outcome lines, batches served from memory with their stored lines, the
// memory bound, throttled ack files, and failures reported to listeners.
import { describe, it, expect, afterAll } from '@jest/globals';
import { closeSync, readFileSync } from 'node:fs';
import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileRecordSink } from './file-record-sink.js';
import { computeEventHash, verifyChain } from './hash-chain.js';
import { buildEventLine, Recorder } from './session-recorder.js';
import { Shipper } from './shipper.js';
import { Spool } from './spool.js';
import { readJsonl, START, tempDir } from './test-helpers.js';
import type { RecordEvent } from './events.js';

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

// Synchronous on purpose: no timer (a sync) can run between a write and this check.
function lineCount(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').length;
}

describe('buildEventLine', () => {
  it('stores the hashed canonical text plus the hash, and parses back to an event whose hash checks', () => {
    const { event, line } = buildEventLine('sess-x', 1, 'a'.repeat(64), Date.UTC(2026, 0, 1), 'statement', {
      text: 'select "ü", \'\\n\'',
      decision: allow,
      kinds: ['SELECT'],
      tables: undefined,
    });
    const parsed = JSON.parse(line) as RecordEvent;
    expect(parsed).toEqual(JSON.parse(JSON.stringify(event)) as RecordEvent);
    expect(parsed.hash).toBe(event.hash);
    expect(computeEventHash(parsed)).toBe(event.hash);
    expect(line).not.toContain('tables'); // undefined is left out, as JSON leaves it out
  });

  it('stores a Date as JSON would (not plain JSON data is converted, not refused)', () => {
    const data = { text: 'x', decision: allow, when: new Date(Date.UTC(2026, 0, 2)) } as unknown as { text: string; decision: typeof allow };
    const { event, line } = buildEventLine('sess-x', 1, 'b'.repeat(64), 0, 'statement', data);
    const parsed = JSON.parse(line) as { data: { when: string } };
    expect(parsed.data.when).toBe('2026-01-02T00:00:00.000Z');
    expect(computeEventHash(JSON.parse(line) as RecordEvent)).toBe(event.hash);
  });
});

describe('SessionRecording.write', () => {
  it('puts a write-ahead event in the file at once, and a deferred one with the next line', async () => {
    const d = await dir('write-defer');
    const spool = await Spool.open({ dir: d, syncDelayMs: 5 }); // checks below are synchronous: no sync runs between them
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-d' });
    const file = join(d, 'sess-d.jsonl');
    const seq = rec.write('statement', { text: 'select 1', decision: allow });
    expect(seq).toBe(2);
    expect(lineCount(file)).toBe(2); // write-ahead: in the file before write() returned
    expect(rec.write('statement.result', { ref: seq, durationMs: 1, maskedFields: 0 }, { defer: true })).toBe(3);
    expect(lineCount(file)).toBe(2); // deferred
    rec.write('statement', { text: 'select 2', decision: allow });
    expect(lineCount(file)).toBe(4); // the outcome went out with the next line, in order
    rec.write('statement.result', { ref: 4, durationMs: 1, maskedFields: 0 }, { defer: true });
    expect(lineCount(file)).toBe(4);
    await spool.drain(); // a sync writes what was deferred first
    const onDisk = await readJsonl(file);
    expect(onDisk.map((e) => [e.seq, e.type])).toEqual([
      [1, 'session.start'],
      [2, 'statement'],
      [3, 'statement.result'],
      [4, 'statement'],
      [5, 'statement.result'],
    ]);
    expect(verifyChain(onDisk)).toMatchObject({ ok: true, count: 5 });
    expect(spool.session('sess-d')).toMatchObject({ durableSeq: 5 });
    await spool.close();
  });

  it('a deferred line becomes durable within the sync window without another write', async () => {
    const d = await dir('write-defer-sync');
    const spool = await Spool.open({ dir: d, syncDelayMs: 2 });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-w' });
    rec.write('statement.result', { ref: 1, durationMs: 1, maskedFields: 0 }, { defer: true });
    await spool.whenDurable('sess-w', 2);
    expect(lineCount(join(d, 'sess-w.jsonl'))).toBe(2);
    await spool.close();
  });

  it('tells onFailure listeners when the file cannot be written, and strict write() throws', async () => {
    const d = await dir('write-fail');
    const spool = await Spool.open({ dir: d, syncDelayMs: 5 });
    const strict = await new Recorder({ spool, strict: true }).startSession(START, { sessionId: 'sess-s' });
    const failures: string[] = [];
    strict.onFailure((e) => failures.push((e as { code?: string }).code ?? '?'));
    strict.write('statement.result', { ref: 1, durationMs: 1, maskedFields: 0 }, { defer: true });
    // Make the file unwritable underneath: the next write fails, taking the deferred line with it.
    const fd = (spool as unknown as { sessionsById: Map<string, { fd: number | null }> }).sessionsById.get('sess-s');
    if (fd?.fd == null) throw new Error('test set-up: the session file is not open');
    closeSync(fd.fd);
    expect(() => strict.write('statement', { text: 'select 1', decision: allow })).toThrow(
      expect.objectContaining({ code: 'RECORD_SPOOL_WRITE' }),
    );
    expect(failures).toEqual(['RECORD_SPOOL_WRITE']);
    // A listener added after the failure hears about it at once.
    const late: string[] = [];
    strict.onFailure((e) => late.push((e as { code?: string }).code ?? '?'));
    expect(late).toEqual(['RECORD_SPOOL_WRITE']);
    fd.fd = null;
    await spool.close();
  });

  it('lenient write() returns 0 once broken, reports each dropped event, and the session goes on', async () => {
    const d = await dir('write-lenient');
    const errors: string[] = [];
    const spool = await Spool.open({ dir: d, syncDelayMs: 5 });
    const rec = await new Recorder({ spool, onError: (e) => errors.push(e.code) }).startSession(START, { sessionId: 'sess-l' });
    const state = (spool as unknown as { sessionsById: Map<string, { fd: number | null }> }).sessionsById.get('sess-l');
    if (state?.fd == null) throw new Error('test set-up: the session file is not open');
    closeSync(state.fd);
    expect(rec.write('statement', { text: 'select 1', decision: allow })).toBe(0);
    expect(rec.write('statement', { text: 'select 2', decision: allow })).toBe(0);
    expect(rec.failed?.code).toBe('RECORD_SPOOL_WRITE');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    state.fd = null;
    await spool.close();
  });
});

describe('Spool batches from memory', () => {
  it('serves durable events with their stored lines, and the file sink stores those lines as they are', async () => {
    const d = await dir('mem-batch');
    const spool = await Spool.open({ dir: join(d, 'spool') });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-m' });
    for (let i = 0; i < 10; i++) rec.write('statement', { text: `select ${i}`, decision: allow });
    await spool.drain();
    const batch = await spool.takeBatch('sess-m', 3, 4);
    expect(batch.events.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(batch.lines).toHaveLength(4);
    const spoolLines = (await readFile(join(d, 'spool', 'sess-m.jsonl'), 'utf8')).split('\n');
    expect(batch.lines).toEqual(spoolLines.slice(3, 7));
    const sink = new FileRecordSink(join(d, 'records'));
    const shipper = new Shipper({ spool, sink, batchDelayMs: 1 });
    await rec.end('ok');
    expect(await shipper.flush(10_000)).toBe(true);
    await shipper.stop();
    await sink.close();
    const transcript = await readFile(sink.transcriptPath('sess-m'), 'utf8');
    // Byte for byte what the spool stored (11 lines before session.end).
    expect(transcript.split('\n').slice(0, 11)).toEqual(spoolLines.slice(0, 11));
    expect(verifyChain(await readJsonl(sink.transcriptPath('sess-m')))).toMatchObject({ ok: true, count: 12 });
    await spool.close();
  });

  it('past the memory bound a session is read from its file, and keeps lines again once caught up', async () => {
    const d = await dir('mem-bound');
    const spool = await Spool.open({ dir: d, maxMemoryBytes: 2048 });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-b' });
    for (let i = 0; i < 20; i++) rec.write('statement', { text: `select ${i} -- ${'x'.repeat(100)}`, decision: allow });
    await spool.drain();
    const fromFile = await spool.takeBatch('sess-b', 0, 500);
    expect(fromFile.lines).toBeUndefined(); // over the bound: read back from the file
    expect(fromFile.events.map((e) => e.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    await spool.ack('sess-b', 21);
    rec.write('statement', { text: 'select after', decision: allow });
    await spool.drain();
    const again = await spool.takeBatch('sess-b', 21);
    expect(again.events.map((e) => e.seq)).toEqual([22]);
    expect(again.lines).toHaveLength(1);
    await spool.close();
  });

  it('writes the ack file at most once per interval, and the latest ack at close', async () => {
    const d = await dir('ack-throttle');
    const spool = await Spool.open({ dir: d, ackIntervalMs: 60_000 });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-a' });
    for (let i = 0; i < 3; i++) rec.write('statement', { text: `select ${i}`, decision: allow });
    await spool.drain();
    await spool.ack('sess-a', 2);
    expect((await readFile(join(d, 'sess-a.ack'), 'utf8')).trim()).toBe('2');
    await spool.ack('sess-a', 4);
    expect((await readFile(join(d, 'sess-a.ack'), 'utf8')).trim()).toBe('2'); // within the interval
    expect(spool.session('sess-a')).toMatchObject({ ackedSeq: 4 });
    await spool.close();
    expect((await readFile(join(d, 'sess-a.ack'), 'utf8')).trim()).toBe('4');
    expect((await stat(join(d, 'sess-a.ack'))).mode & 0o777).toBe(0o600);
    // A restarted spool resumes from the stored ack.
    const again = await Spool.open({ dir: d });
    expect(again.session('sess-a')).toMatchObject({ ackedSeq: 4, durableSeq: 4 });
    await again.close();
    await chmod(d, 0o700);
  });
});
