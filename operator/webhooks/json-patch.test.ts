import { describe, it, expect } from '@jest/globals';
import { applyPatch, diff, type Json } from './json-patch.js';

describe('diff', () => {
  const cases: Array<[string, Json, Json]> = [
    ['equal', { a: 1 }, { a: 1 }],
    ['add key', { a: 1 }, { a: 1, b: { c: [1] } }],
    ['remove key', { a: 1, b: 2 }, { a: 1 }],
    ['replace scalar', { a: 1 }, { a: 'x' }],
    ['escape keys', { metadata: { annotations: { 'x/y': '1' } } }, { metadata: { annotations: { 'x/y': '2', 'a~b/c': '3' } } }],
    ['prepend to array', { l: [{ n: 'a' }, { n: 'b' }] }, { l: [{ n: 's' }, { n: 'a' }, { n: 'b' }] }],
    ['append to array', { l: [1, 2] }, { l: [1, 2, 3, 4] }],
    ['insert in middle', { l: [1, 2, 3] }, { l: [1, 9, 2, 3] }],
    ['remove from middle', { l: [1, 2, 3, 4] }, { l: [1, 4] }],
    ['edit inside element', { l: [{ env: [] }, { env: [{ name: 'A' }] }] }, { l: [{ env: [{ name: 'X' }] }, { env: [{ name: 'A' }, { name: 'B' }] }] }],
    ['array to object', { l: [1] }, { l: { a: 1 } }],
    ['root replace', [1], { a: 1 }],
  ];
  it.each(cases)('%s: applying diff(a, b) to a gives b', (_n, a, b) => {
    const ops = diff(a, b);
    expect(applyPatch(a, ops)).toEqual(b);
    if (JSON.stringify(a) === JSON.stringify(b)) expect(ops).toEqual([]);
  });

  it('prepends with a single add at index 0', () => {
    expect(diff({ l: ['a'] }, { l: ['s', 'a'] })).toEqual([{ op: 'add', path: '/l/0', value: 's' }]);
  });

  it('escapes ~ and / in paths', () => {
    expect(diff({ m: {} }, { m: { 'agentgate.dev/inject': 'x' } })).toEqual([{ op: 'add', path: '/m/agentgate.dev~1inject', value: 'x' }]);
  });

  it('round-trips random documents', () => {
    let seed = 42;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const gen = (depth: number): Json => {
      const k = rnd(depth > 2 ? 3 : 5);
      if (k === 0) return rnd(5);
      if (k === 1) return ['a', 'b', 'c'][rnd(3)] as string;
      if (k === 2) return null;
      if (k === 3) return Array.from({ length: rnd(4) }, () => gen(depth + 1));
      return Object.fromEntries(Array.from({ length: rnd(4) }, () => [`k${rnd(4)}`, gen(depth + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const a = gen(0);
      const b = gen(0);
      expect(applyPatch(a, diff(a, b))).toEqual(b);
    }
  });
});

describe('applyPatch', () => {
  it('refuses paths that do not exist', () => {
    expect(() => applyPatch({ a: {} }, [{ op: 'replace', path: '/a/b', value: 1 }])).toThrow(/not found/);
    expect(() => applyPatch({ a: [] }, [{ op: 'remove', path: '/a/0' }])).toThrow(/index/);
  });
});
