import { describe, expect, it } from '@jest/globals';
import { encodeDataRow, encodeErrorResponse, encodeReadyForQuery } from './backend-messages.js';
import { frame } from './body-reader.js';
import { FrameScanner, type ScanItem } from './frame-scanner.js';
import { encodeParse, encodeQuery, encodeSync, F, isFrontendType } from './frontend-messages.js';

class Malformed extends Error {}

function scanner(collect: (t: number) => boolean, max = 1 << 20, known: (t: number) => boolean = () => true): FrameScanner {
  return new FrameScanner({ maxLength: () => max, collect, knownType: known, malformed: (m) => new Malformed(m) });
}

function drain(s: FrameScanner): ScanItem[] {
  const out: ScanItem[] = [];
  for (let item = s.next(); item !== null; item = s.next()) out.push(item);
  return out;
}

/** Reassembles what a relay would send: message frames and streamed bytes, in order. */
function replay(items: ScanItem[]): Buffer {
  return Buffer.concat(items.map((i) => (i.kind === 'message' ? i.frame : i.bytes)));
}

const D = 0x44;

const stream = Buffer.concat([
  encodeQuery('SELECT 1'),
  encodeDataRow([Buffer.from('a'), null, Buffer.from('ccc')]),
  encodeDataRow([Buffer.from('bb')]),
  encodeDataRow([]),
  encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'no' }),
  encodeDataRow([Buffer.alloc(300, 1)]),
  encodeReadyForQuery('I'),
  frame('Z', Buffer.alloc(0)),
]);

describe('FrameScanner', () => {
  it('yields the same messages and bytes however the input is split (every split in two, and byte by byte)', () => {
    const whole = drain(((s) => (s.push(stream), s))(scanner(() => true)));
    const wholeTypes = whole.map((i) => i.type);
    for (let at = 0; at <= stream.length; at++) {
      for (const collectD of [true, false]) {
        const s = scanner((t) => t !== D || collectD);
        s.push(stream.subarray(0, at));
        const items = drain(s);
        s.push(stream.subarray(at));
        items.push(...drain(s));
        expect(replay(items).equals(stream)).toBe(true);
        expect(s.atBoundary()).toBe(true);
        if (collectD) expect(items.map((i) => i.type)).toEqual(wholeTypes);
        const rows = items.reduce((n, i) => n + (i.type === D ? (i.kind === 'message' ? 1 : i.completed) : 0), 0);
        expect(rows).toBe(4);
      }
    }
    const s = scanner((t) => t !== D);
    const items: ScanItem[] = [];
    for (const b of stream) {
      s.push(Buffer.from([b]));
      items.push(...drain(s));
    }
    expect(replay(items).equals(stream)).toBe(true);
  });

  it('never fails on an incomplete buffer, and reports where it is', () => {
    for (let at = 0; at < stream.length; at++) {
      const s = scanner(() => true);
      s.push(stream.subarray(0, at));
      expect(() => drain(s)).not.toThrow();
    }
    const s = scanner(() => true);
    s.push(encodeQuery('SELECT 1').subarray(0, 7));
    expect(s.next()).toBeNull();
    expect(s.atBoundary()).toBe(false);
  });

  it('coalesces consecutive streamed messages of one type into one slice of the input', () => {
    const rows = Buffer.concat([encodeDataRow([Buffer.from('x')]), encodeDataRow([Buffer.from('y')]), encodeDataRow([Buffer.from('z')])]);
    const s = scanner((t) => t !== D);
    s.push(Buffer.concat([rows, encodeReadyForQuery('T')]));
    const items = drain(s);
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ kind: 'bytes', type: D, completed: 3 });
    expect(items[1]).toMatchObject({ kind: 'message', type: 0x5a });
  });

  it('lets the caller change what it collects between items', () => {
    let collect = false;
    const s = scanner((t) => t !== D || collect);
    s.push(Buffer.concat([encodeDataRow([Buffer.from('1')]), encodeReadyForQuery('I'), encodeDataRow([Buffer.from('2')])]));
    expect(s.next()).toMatchObject({ kind: 'bytes' });
    expect(s.next()).toMatchObject({ kind: 'message', type: 0x5a });
    collect = true;
    expect(s.next()).toMatchObject({ kind: 'message', type: D });
  });

  it.each([
    ['a length below 4', Buffer.from([0x51, 0, 0, 0, 3])],
    ['a negative length', Buffer.from([0x51, 0xff, 0xff, 0xff, 0xf0])],
    ['a length over the limit', Buffer.from([0x51, 0, 0x20, 0, 0])],
    ['an unknown type', Buffer.from([0x7a, 0, 0, 0, 4])],
  ])('fails on %s, even split before the header completes', (_name, bytes) => {
    const s = new FrameScanner({ maxLength: () => 1024, collect: () => true, knownType: isFrontendType, malformed: (m) => new Malformed(m) });
    s.push(bytes.subarray(0, 3));
    expect(s.next()).toBeNull();
    s.push(bytes.subarray(3));
    expect(() => s.next()).toThrow(Malformed);
  });

  it('applies the per-type limit to streamed messages too', () => {
    const s = new FrameScanner({
      maxLength: (t) => (t === F.CopyData ? 100 : 1000),
      collect: (t) => t !== F.CopyData,
      knownType: isFrontendType,
      malformed: (m) => new Malformed(m),
    });
    s.push(frame('d', Buffer.alloc(200)));
    expect(() => s.next()).toThrow(/exceeds the limit/);
  });

  it('copies held bytes and hands back the rest at a boundary', () => {
    const s = scanner(() => true, 1 << 20, isFrontendType);
    const msg = encodeParse('s', 'SELECT 1');
    const first = Buffer.from(msg.subarray(0, 8));
    s.push(first);
    expect(s.next()).toBeNull();
    first.fill(0);
    s.push(msg.subarray(8));
    const item = s.next();
    expect(item?.kind === 'message' && item.frame.equals(msg)).toBe(true);
    s.push(encodeSync());
    expect(s.takePending().equals(encodeSync())).toBe(true);
    expect(s.pending()).toBe(0);
  });
});
