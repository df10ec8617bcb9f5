import { describe, it, expect, afterAll } from '@jest/globals';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordEvent } from './events.js';
import { FileRecordSink } from './file-record-sink.js';
import { genesisHash, verifyChain } from './hash-chain.js';
import { buildEvent } from './session-recorder.js';
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

function session(sessionId: string): RecordEvent[] {
  const out: RecordEvent[] = [];
  let prev = genesisHash(sessionId);
  const push = (e: RecordEvent): void => {
    out.push(e);
    prev = e.hash;
  };
  const t = 1_700_000_000_000;
  push(buildEvent(sessionId, 1, prev, t, 'session.start', START));
  push(buildEvent(sessionId, 2, prev, t + 1, 'statement', { text: 'select * from customers', decision: { action: 'allow', policy: 'p', rule: 'read' }, rows: 3, maskedFields: 3, maskedColumns: ['public.customers.ssn'] }));
  push(buildEvent(sessionId, 3, prev, t + 2, 'approval.requested', { approvalId: 'ar-1', policy: 'p', rule: 'writes', operation: 'update t set x = 1', expiresAt: new Date(t + 600_000).toISOString() }));
  push(buildEvent(sessionId, 4, prev, t + 3, 'approval.decided', { approvalId: 'ar-1', outcome: 'denied', approver: 'alice', reason: 'no' }));
  push(buildEvent(sessionId, 5, prev, t + 4, 'statement', { text: 'update t set x = 1', decision: { action: 'deny', policy: 'p', rule: 'writes' }, approvalId: 'ar-1' }));
  push(buildEvent(sessionId, 6, prev, t + 5, 'session.end', { outcome: 'ok', durationMs: 5 }));
  return out;
}

describe('FileRecordSink', () => {
  it('stores each event once however often or overlapping it is shipped', async () => {
    const d = await dir('sink-dedupe');
    const sink = new FileRecordSink(d);
    const events = session('s1');
    expect(await sink.ship({ sessionId: 's1', events: events.slice(0, 3) })).toEqual({ ackedThrough: 3 });
    expect(await sink.ship({ sessionId: 's1', events: events.slice(0, 3) })).toEqual({ ackedThrough: 3 });
    expect(await sink.ship({ sessionId: 's1', events: events.slice(1, 5) })).toEqual({ ackedThrough: 5 });
    // A new sink instance (a restart) rebuilds its position from the transcript.
    const again = new FileRecordSink(d);
    expect(await again.ship({ sessionId: 's1', events })).toEqual({ ackedThrough: 6 });
    const stored = await readJsonl(join(d, 's1.jsonl'));
    expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(verifyChain(stored)).toMatchObject({ ok: true, count: 6 });
  });

  it('writes a summary with identity, connection, counts, outcome and last hash', async () => {
    const d = await dir('sink-summary');
    const sink = new FileRecordSink(d);
    const events = session('s2');
    await sink.ship({ sessionId: 's2', events: events.slice(0, 2) });
    expect(await sink.readSummary('s2')).toMatchObject({ outcome: null, endedAt: null, transcript: { events: 2 } });
    await sink.ship({ sessionId: 's2', events: events.slice(2) });
    const summary = JSON.parse(await readFile(join(d, 's2.summary.json'), 'utf8')) as unknown;
    expect(summary).toEqual({
      sessionId: 's2',
      identity: START.identity,
      pod: START.pod,
      connection: 'orders-db',
      protocol: 'postgres',
      startedAt: events[0]!.ts,
      endedAt: events[5]!.ts,
      counts: { statements: 2, denied: 1, masked: 3, approvals: 1, rows: 0 },
      outcome: 'ok',
      transcript: { store: 'file', path: join(d, 's2.jsonl'), events: 6, lastHash: events[5]!.hash },
    });
  });

  it('counts rows and masked values from statement outcomes, statements once from their decisions', async () => {
    const d = await dir('sink-outcomes');
    const sink = new FileRecordSink(d);
    const sessionId = 's7';
    const t = 1_700_000_000_000;
    const events: RecordEvent[] = [];
    let prev = genesisHash(sessionId);
    const push = (type: Parameters<typeof buildEvent>[4], data: Parameters<typeof buildEvent>[5]): void => {
      const e = buildEvent(sessionId, events.length + 1, prev, t + events.length, type, data);
      events.push(e);
      prev = e.hash;
    };
    const allow = { action: 'allow' as const, policy: 'p', rule: 'r' };
    push('session.start', START);
    push('statement', { text: 'select 1; update t set x = 1', decision: allow, kinds: ['SELECT', 'UPDATE'] });
    push('statement.result', { ref: 2, index: 0, command: 'SELECT', durationMs: 0.4, rows: 3, maskedFields: 6, maskedColumns: ['public.customers.ssn', 'detector:email'] });
    push('statement.result', { ref: 2, index: 1, command: 'UPDATE', durationMs: 0.9, rows: 2, maskedFields: 0 });
    push('statement', { text: 'delete from t', decision: { action: 'deny', policy: 'p', rule: 'no-deletes' } });
    push('statement', { text: 'select 1/0', decision: allow });
    push('statement.result', { ref: 6, index: 0, durationMs: 0.2, rows: 0, maskedFields: 1, error: { code: '22012', message: 'division by zero' } });
    push('session.end', { outcome: 'ok', durationMs: 8 });
    expect(await sink.ship({ sessionId, events: events.slice(0, 4) })).toEqual({ ackedThrough: 4 });
    expect((await sink.readSummary(sessionId))?.counts).toEqual({ statements: 1, denied: 0, masked: 6, approvals: 0, rows: 5 });
    // The rest through a new sink (a restart): its counts are rebuilt from the transcript, then continued.
    expect(await new FileRecordSink(d).ship({ sessionId, events })).toEqual({ ackedThrough: 8 });
    expect((await sink.readSummary(sessionId))?.counts).toEqual({ statements: 3, denied: 1, masked: 7, approvals: 0, rows: 5 });
    expect(verifyChain(await readJsonl(join(d, 's7.jsonl')))).toMatchObject({ ok: true, count: 8 });
  });

  it('acknowledges only the contiguous part when a batch skips ahead', async () => {
    const d = await dir('sink-gap');
    const sink = new FileRecordSink(d);
    const events = session('s3');
    await sink.ship({ sessionId: 's3', events: events.slice(0, 2) });
    expect(await sink.ship({ sessionId: 's3', events: events.slice(3) })).toEqual({ ackedThrough: 2 });
    expect(await readJsonl(join(d, 's3.jsonl'))).toHaveLength(2);
  });

  it('refuses an event that does not continue the stored chain', async () => {
    const d = await dir('sink-conflict');
    const sink = new FileRecordSink(d);
    const events = session('s4');
    await sink.ship({ sessionId: 's4', events: events.slice(0, 2) });
    const forged = structuredClone(events[2]!) as RecordEvent<'approval.requested'>;
    forged.data.operation = 'drop table t';
    await expect(sink.ship({ sessionId: 's4', events: [forged] })).rejects.toMatchObject({ code: 'RECORD_CHAIN_CONFLICT' });
    await expect(sink.ship({ sessionId: 's4', events: [events[0]!, events[2]!].map((e) => ({ ...e, sessionId: 's5' })) })).rejects.toMatchObject({
      code: 'RECORD_CHAIN_CONFLICT',
    });
    expect(await readJsonl(join(d, 's4.jsonl'))).toHaveLength(2);
  });

  it('truncates a torn transcript tail on restart and continues', async () => {
    const d = await dir('sink-torn');
    const events = session('s6');
    await new FileRecordSink(d).ship({ sessionId: 's6', events: events.slice(0, 3) });
    await appendFile(join(d, 's6.jsonl'), JSON.stringify(events[3]).slice(0, 40));
    expect(await new FileRecordSink(d).ship({ sessionId: 's6', events: events.slice(3) })).toEqual({ ackedThrough: 6 });
    expect(verifyChain(await readJsonl(join(d, 's6.jsonl')))).toMatchObject({ ok: true, count: 6 });
  });

  it('refuses a session id that is not a safe file name', async () => {
    const sink = new FileRecordSink(await dir('sink-name'));
    await expect(sink.ship({ sessionId: '../etc/x', events: [] })).rejects.toMatchObject({ code: 'RECORD_BAD_SESSION_ID' });
  });
});
