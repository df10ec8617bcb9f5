import { describe, it, expect } from '@jest/globals';
import { canonicalJson } from './canonical-json.js';

// The definition, written the slow and obvious way.
function reference(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => reference(x)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

// A small deterministic generator (no Math.random: failures reproduce).
function* values(seed: number, count: number): Generator<unknown> {
  let x = seed;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return (x >>> 16) % n; // the high bits: the low ones of this LCG cycle quickly
  };
  const keys = ['a', 'b', 'text', 'Z', '10', '9', 'é', 'k_1', '', 'data', 'ref'];
  const gen = (depth: number): unknown => {
    switch (rnd(depth > 3 ? 5 : 8)) {
      case 0:
        return null;
      case 1:
        return rnd(2) === 0;
      case 2:
        return rnd(1000) - 500 + (rnd(2) === 0 ? 0.5 : 0);
      case 3:
        return ['x', 'a"b', 'line\nbreak', 'ü', '\u2028'][rnd(5)];
      case 4:
        return undefined;
      case 5:
        return Array.from({ length: rnd(4) }, () => {
          const item = gen(depth + 1);
          return item === undefined ? 0 : item;
        });
      default: {
        const o: Record<string, unknown> = {};
        for (let i = rnd(5); i > 0; i--) o[keys[rnd(keys.length)] as string] = gen(depth + 1);
        return o;
      }
    }
  };
  for (let i = 0; i < count; i++) yield gen(0);
}

describe('canonicalJson', () => {
  it('equals the definition on thousands of generated values (sorted, unsorted, integer-like and non-ASCII keys)', () => {
    let objects = 0;
    for (const v of values(42, 5000)) {
      if (v === undefined) continue;
      if (v !== null && typeof v === 'object') objects++;
      expect(canonicalJson(v)).toBe(reference(v));
    }
    expect(objects).toBeGreaterThan(1000);
  });

  it('takes the JSON.stringify path only when keys are in order, and still sorts otherwise', () => {
    expect(canonicalJson({ a: 1, b: { c: [1, 'x'], d: null }, e: undefined })).toBe('{"a":1,"b":{"c":[1,"x"],"d":null}}');
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ '9': 1, '10': 2 })).toBe('{"10":2,"9":1}');
  });

  it('refuses what is not JSON: non-finite numbers, undefined in a list, class instances, functions', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson([undefined])).toThrow(TypeError);
    expect(() => canonicalJson({ when: new Date(0) })).toThrow(TypeError);
    expect(() => canonicalJson({ toJSON: () => 'x' })).toThrow(TypeError);
  });
});
