import { describe, it, expect } from '@jest/globals';
import { percentile, round, summarize } from './stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted

  it.each([
    [50, 50],
    [99, 99],
    [100, 100],
    [1, 1],
    [0, 1],
  ])('p%d of 1..100 is %d', (p, want) => {
    expect(percentile(hundred, p)).toBe(want);
  });

  it('takes the higher sample when the rank falls between two', () => {
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 51)).toBe(30);
    expect(percentile([10, 20, 30, 40], 99)).toBe(40);
  });

  it('is NaN without samples and refuses p outside 0..100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('does not reorder the caller\'s array', () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('summarize', () => {
  it('gives min, p50, p99, max and mean', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toEqual({ n: 4, min: 1, p50: 2, p90: 4, p99: 4, max: 4, mean: 2.5 });
  });
});

describe('round', () => {
  it('keeps more decimals for small figures', () => {
    expect(round(1.23456)).toBe(1.235);
    expect(round(12.3456)).toBe(12.35);
    expect(round(123.456)).toBe(123.5);
    expect(round(Number.NaN)).toBeNaN();
  });
});
