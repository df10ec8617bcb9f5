import { describe, it, expect, beforeEach, afterEach } from '@jest/globals';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEvent } from '../../core/recording/session-recorder.js';
import { genesisHash } from '../../core/recording/hash-chain.js';
import type { EventDataMap, RecordEvent, RecordEventType } from '../../core/recording/events.js';
import { FsTranscriptStore } from './fs-transcript-store.js';
import { EventIngest } from './event-ingest.js';
import { IngestError } from './errors.js';
import { sessionRecordName, sessionRecordSpec } from './session-record-writer.js';
import { emptySummary, foldEvent } from './session-summary.js';

const POD = { namespace: 'team-a', name: 'agent-0', serviceAccount: 'agent' };
const SID = '0193a6f2-7c1e-7000-8000-000000000001';

function chain(sessionId: string, items: Array<[RecordEventType, unknown]>): RecordEvent[] {
  const out: RecordEvent[] = [];
  let prev = genesisHash(sessionId);
  items.forEach(([type, data], i) => {
    const e = buildEvent(sessionId, i + 1, prev, Date.UTC(2026, 10, 21, 10, 0, i), type, data as EventDataMap[typeof type]);
    out.push(e);
    prev = e.hash;
  });
  return out;
}

const allow = { action: 'allow' as const, policy: 'team-a/orders', rule: 'reads' };
const deny = { action: 'deny' as const, policy: 'team-a/orders', rule: 'no-ddl' };
const events = chain(SID, [
  ['session.start', { identity: { sub: 'system:serviceaccount:team-a:agent', iss: 'kubernetes', groups: [] }, pod: POD, connection: 'orders-db', protocol: 'postgres' }],
  ['statement', { text: 'SELECT 1', decision: allow, maskedFields: 2 }],
  ['statement', { text: 'DROP TABLE x', decision: deny }],
  ['approval.decided', { approvalId: 'ar-1', outcome: 'approved', approver: 'bob' }],
  ['session.end', { outcome: 'ok', durationMs: 5 }],
]);

describe('FsTranscriptStore + EventIngest', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentgate-records-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores each event once under a retried, overlapping batch and acknowledges the contiguous head', async () => {
    const store = new FsTranscriptStore(dir);
    const ingest = new EventIngest({ store });
    expect(await ingest.ingest(POD, SID, events.slice(0, 3))).toEqual({ ackedThrough: 3 });
    expect(await ingest.ingest(POD, SID, events.slice(0, 3))).toEqual({ ackedThrough: 3 }); // the same batch again
    expect(await ingest.ingest(POD, SID, events.slice(1, 5))).toEqual({ ackedThrough: 5 });
    const lines = (await readFile(store.locate({ namespace: 'team-a', sessionId: SID }), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as RecordEvent).seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('two stores on one directory (leadership moved away and back) never store an event twice', async () => {
    const key = { namespace: 'team-a', sessionId: SID };
    const a = new FsTranscriptStore(dir);
    const b = new FsTranscriptStore(dir);
    expect((await a.append(key, events.slice(0, 2))).events).toBe(2); // a caches its head at 2
    expect((await b.append(key, events.slice(2, 4))).events).toBe(4); // the other replica led meanwhile
    // Back on a: the sidecar resends from its cursor; a must see 4 in the file, not its cached 2.
    const r = await a.append(key, events.slice(2, 5));
    expect(r.events).toBe(5);
    expect(r.appended.map((e) => e.seq)).toEqual([5]);
    const lines = (await readFile(a.locate(key), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as RecordEvent).seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('acknowledges only up to a gap', async () => {
    const ingest = new EventIngest({ store: new FsTranscriptStore(dir) });
    expect(await ingest.ingest(POD, SID, [events[0], events[1], events[3]])).toEqual({ ackedThrough: 2 });
  });

  it('refuses a batch that breaks the chain, storing none of it', async () => {
    const store = new FsTranscriptStore(dir);
    const ingest = new EventIngest({ store });
    await ingest.ingest(POD, SID, events.slice(0, 2));
    const tampered = { ...events[2], data: { text: 'SELECT 2', decision: allow } } as RecordEvent;
    await expect(ingest.ingest(POD, SID, [tampered, events[3]])).rejects.toMatchObject({ code: 'AG_INGEST_CHAIN_CONFLICT', status: 409 });
    const forgedHead = { ...events[1], hash: 'f'.repeat(64) } as RecordEvent;
    await expect(ingest.ingest(POD, SID, [forgedHead])).rejects.toMatchObject({ code: 'AG_INGEST_CHAIN_CONFLICT' });
    expect((await store.head({ namespace: 'team-a', sessionId: SID })).events).toBe(2);
  });

  it("refuses another pod's session and events of another session", async () => {
    const ingest = new EventIngest({ store: new FsTranscriptStore(dir) });
    await expect(ingest.ingest({ ...POD, name: 'agent-1' }, SID, events.slice(0, 2))).rejects.toMatchObject({ code: 'AG_INGEST_NOT_YOURS', status: 403 });
    await ingest.ingest(POD, SID, events.slice(0, 2));
    await expect(ingest.ingest({ ...POD, name: 'agent-1' }, SID, events.slice(2, 3))).rejects.toBeInstanceOf(IngestError);
    await expect(ingest.ingest(POD, 'other-session', events.slice(2, 3))).rejects.toMatchObject({ code: 'AG_INGEST_BAD_EVENT' });
    await expect(ingest.ingest(POD, SID, [{ nope: true }])).rejects.toMatchObject({ status: 400 });
    await expect(ingest.ingest(POD, SID, 'x')).rejects.toMatchObject({ status: 400 });
  });

  it('after a restart rebuilds the head from the file and cuts a torn tail', async () => {
    const first = new FsTranscriptStore(dir);
    await new EventIngest({ store: first }).ingest(POD, SID, events.slice(0, 3));
    const path = first.locate({ namespace: 'team-a', sessionId: SID });
    await appendFile(path, '{"v":1,"id":"torn');
    const second = new EventIngest({ store: new FsTranscriptStore(dir) });
    expect(await second.ingest(POD, SID, events.slice(2))).toEqual({ ackedThrough: 5 });
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain('torn');
    expect(text.trim().split('\n')).toHaveLength(5);
  });

  it('folds counts from the events into the SessionRecord spec', () => {
    const s = emptySummary(SID, genesisHash(SID));
    for (const e of events) foldEvent(s, e);
    const spec = sessionRecordSpec(s, 'file', '/x.jsonl');
    expect(spec).toMatchObject({
      sessionId: SID, connection: 'orders-db', protocol: 'postgres', pod: POD, outcome: 'ok',
      counts: { statements: 2, denied: 1, masked: 2, approvals: 1 },
      transcript: { store: 'file', path: '/x.jsonl', events: 5, lastHash: events[4]?.hash },
    });
    expect(sessionRecordName(SID)).toBe(SID);
    expect(sessionRecordName('Mixed_Case')).toMatch(/^s-[0-9a-f]{40}$/);
  });
});
