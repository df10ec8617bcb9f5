import { describe, it, expect } from '@jest/globals';
import { canonicalJson } from './canonical-json.js';
import { isEventId, newEventId } from './event-id.js';
import type { RecordEvent } from './events.js';
import { computeEventHash, genesisHash, sha256Hex, verifyChain } from './hash-chain.js';
import { buildEvent } from './session-recorder.js';

function chain(sessionId: string, n: number): RecordEvent[] {
  const events: RecordEvent[] = [];
  let prev = genesisHash(sessionId);
  events.push(
    buildEvent(sessionId, 1, prev, 1_700_000_000_000, 'session.start', {
      identity: { sub: 'system:serviceaccount:ns:agent', iss: 'pod', groups: [] },
      connection: 'orders-db',
      protocol: 'postgres',
    }),
  );
  prev = events[0]!.hash;
  for (let i = 2; i <= n; i++) {
    const e = buildEvent(sessionId, i, prev, 1_700_000_000_000 + i, 'statement', {
      text: `select ${i}`,
      decision: { action: 'allow', policy: 'p', rule: 'r' },
      rows: i,
    });
    events.push(e);
    prev = e.hash;
  }
  return events;
}

describe('newEventId pool', () => {
  it('stays unique, valid and ordered across many pool refills', () => {
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) ids.push(newEventId(10_000 + Math.floor(i / 1000)));
    expect(ids.every(isEventId)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined properties', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true }, u: undefined })).toBe(
      '{"a":{"c":true,"d":[1,"x",null]},"b":1}',
    );
  });
  it('refuses values that do not survive JSON', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(/plain objects/);
    expect(() => canonicalJson([undefined])).toThrow(/undefined/);
  });
  it('gives the same text after a JSON round trip', () => {
    const v = { z: 'é\u2028"\\', a: [0.1, -0, 1e21], m: { y: 2, x: 1 } };
    expect(canonicalJson(JSON.parse(JSON.stringify(v)))).toBe(canonicalJson(v));
  });
});

describe('event ids', () => {
  it('are UUIDv7 and strictly increasing within one millisecond and across a clock step back', () => {
    const ids = [newEventId(5_000), newEventId(5_000), newEventId(5_000), newEventId(4_000), newEventId(6_000)];
    for (const id of ids) expect(isEventId(id)).toBe(true);
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain whose first prevHash is sha256(sessionId)', () => {
    const events = chain('s-1', 5);
    expect(events[0]!.prevHash).toBe(sha256Hex('s-1'));
    const r = verifyChain(events);
    expect(r).toEqual({ ok: true, count: 5, lastHash: events[4]!.hash, lastSeq: 5 });
  });

  it('finds edited content', () => {
    const events = chain('s-2', 5);
    const tampered = structuredClone(events);
    (tampered[2] as RecordEvent<'statement'>).data.text = 'select 1 -- edited';
    expect(verifyChain(tampered)).toMatchObject({ ok: false, brokenSeq: 3 });
  });

  it('finds an edit that recomputed the hash (the next prevHash no longer matches)', () => {
    const events = chain('s-3', 5);
    const tampered = structuredClone(events);
    const e = tampered[1] as RecordEvent<'statement'>;
    e.data.rows = 999;
    e.hash = computeEventHash(e);
    expect(verifyChain(tampered)).toMatchObject({ ok: false, brokenSeq: 3 });
  });

  it('finds a removed, reordered or foreign event', () => {
    const events = chain('s-4', 5);
    expect(verifyChain([...events.slice(0, 2), ...events.slice(3)])).toMatchObject({ ok: false, brokenSeq: 3 });
    expect(verifyChain([events[0]!, events[2]!, events[1]!])).toMatchObject({ ok: false, brokenSeq: 2 });
    const other = chain('s-5', 2);
    expect(verifyChain([events[0]!, other[1]!])).toMatchObject({ ok: false, brokenSeq: 2 });
  });

  it('refuses a chain moved to another session id', () => {
    const moved = chain('s-6', 3).map((e) => ({ ...e, sessionId: 's-7' }));
    expect(verifyChain(moved)).toMatchObject({ ok: false, brokenSeq: 1 });
  });

  it('verifies a continuation from a known point', () => {
    const events = chain('s-8', 6);
    const r = verifyChain(events.slice(3), { seq: 3, hash: events[2]!.hash });
    expect(r).toMatchObject({ ok: true, lastSeq: 6 });
    expect(verifyChain(events.slice(3), { seq: 3, hash: events[1]!.hash })).toMatchObject({ ok: false, brokenSeq: 4 });
  });
});
