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
    expect(end.data).toEqual({ outcome: 'ok', durationMs: 2500, counts: { statements: 3, denied: 1, masked: 4, approvals: 1 } });
    expect(events[0]!.data).toMatchObject({ strictRecording: true });
    expect(seen).toEqual(events.map((e) => e.type));
    await spool.close();
  });
});
