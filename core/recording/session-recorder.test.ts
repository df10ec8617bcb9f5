import { describe, it, expect, afterAll } from '@jest/globals';
import { join } from 'node:path';
import { verifyChain } from './hash-chain.js';
import { OUTPUT_CHUNK_CHARS, Recorder } from './session-recorder.js';
import { Spool } from './spool.js';
import { readJsonl, START, tempDir } from './test-helpers.js';
import type { RecordEvent } from './events.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe('SessionRecording', () => {
  it('chains every event type, counts, splits long terminal output and closes on end', async () => {
    const d = await tempDir('recorder');
    cleanups.push(d.remove);
    const spool = await Spool.open({ dir: d.path });
    const seen: string[] = [];
    let clock = 1_700_000_000_000;
    const rec = await new Recorder({ spool, now: () => clock, onEvent: (e) => seen.push(e.type) }).startSession(
      { ...START, protocol: 'ssh' },
      { sessionId: 'sess-r', strict: true },
    );
    await rec.record('command', { command: 'ls -la', decision: { action: 'allow', policy: 'p', rule: 'ls' }, exitCode: 0 });
    await rec.record('request', { method: 'GET', host: 'api', path: '/v1/users', status: 200, decision: { action: 'allow', policy: 'p', rule: 'get' }, maskedFields: 4, maskedColumns: ['$.user.ssn'] });
    await rec.record('statement', { text: 'drop table t', decision: { action: 'deny', policy: 'p', rule: 'no-ddl' } });
    // An outcome adds rows and masked values; the statement it refers to was counted already.
    await rec.record('statement.result', { ref: rec.lastSeq, durationMs: 1.25, command: 'SELECT', rows: 3, maskedFields: 2, maskedColumns: ['public.customers.ssn'] });
    await rec.record('approval.requested', { approvalId: 'ar-x', policy: 'p', rule: 'r', operation: 'rm -rf /tmp/x', expiresAt: new Date(clock).toISOString() });
    await rec.record('approval.decided', { approvalId: 'ar-x', outcome: 'expired' });
    // A surrogate pair straddles the chunk boundary: it must not be split.
    const long = 'a'.repeat(OUTPUT_CHUNK_CHARS - 1) + '😀' + 'b'.repeat(10);
    await rec.record('ssh.output', { channel: 0, stream: 'o', t: 0.5, data: long });
    clock += 2500;
    await rec.end('ok');
    await rec.end('error'); // idempotent
    await expect(rec.record('command', { command: 'x', decision: { action: 'allow', policy: null, rule: null } })).rejects.toMatchObject({ code: 'RECORD_CLOSED' });

    const events = await readJsonl(join(d.path, 'sess-r.jsonl'));
    expect(verifyChain(events)).toMatchObject({ ok: true });
    const outputs = events.filter((e): e is RecordEvent<'ssh.output'> => e.type === 'ssh.output');
    expect(outputs).toHaveLength(2);
    expect(outputs.map((o) => o.data.data).join('')).toBe(long);
    expect(outputs[0]!.data.data.endsWith('a')).toBe(true);
    const end = events[events.length - 1] as RecordEvent<'session.end'>;
    expect(end.data).toEqual({ outcome: 'ok', durationMs: 2500, counts: { statements: 3, denied: 1, masked: 6, approvals: 1, rows: 3 } });
    expect(events[0]!.data).toMatchObject({ strictRecording: true });
    expect(seen).toEqual(events.map((e) => e.type));
    await spool.close();
  });

  it('takes the seq synchronously, so an outcome can refer to a statement not yet durable', async () => {
    const d = await tempDir('recorder-ref');
    cleanups.push(d.remove);
    const spool = await Spool.open({ dir: d.path });
    const rec = await new Recorder({ spool }).startSession(START, { sessionId: 'sess-ref' });
    expect(rec.lastSeq).toBe(1);
    const statement = rec.record('statement', { text: 'select 1', decision: { action: 'allow', policy: 'p', rule: 'r' } });
    expect(rec.lastSeq).toBe(2);
    const result = rec.record('statement.result', { ref: 2, durationMs: 0.5, command: 'SELECT', rows: 1, maskedFields: 0 });
    expect(rec.lastSeq).toBe(3);
    expect((await statement)?.seq).toBe(2);
    expect((await result)?.data).toMatchObject({ ref: 2, rows: 1 });
    // A secret-named key is refused in an outcome too, and takes no seq.
    await expect(
      rec.record('statement.result', { ref: 2, durationMs: 0, maskedFields: 0, error: { code: 'XX000', message: 'x', password: 'p' } as never }),
    ).rejects.toMatchObject({ code: 'RECORD_SECRET_FIELD' });
    expect(rec.lastSeq).toBe(3);
    await rec.end('ok');
    const events = await readJsonl(join(d.path, 'sess-ref.jsonl'));
    expect(verifyChain(events)).toMatchObject({ ok: true, count: 4 });
    expect(events.map((e) => e.type)).toEqual(['session.start', 'statement', 'statement.result', 'session.end']);
    await spool.close();
  });
});
