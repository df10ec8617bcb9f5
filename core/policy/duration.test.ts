import { describe, expect, it } from '@jest/globals';
import { formatDuration, parseDuration } from './duration.js';
import { DurationError } from './errors.js';

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['2h0m5s', 7_205_000],
    ['90s', 90_000],
    ['250us', 0.25],
    [' 10m ', 600_000],
  ];
  it.each(good)('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 6);
  });

  const bad = ['', '15', 'm', '-5m', '1d', '1 h', '1h 30m', 'soon', '1e3s', '10mm', '999999999h'];
  it.each(bad)('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(DurationError);
    try {
      parseDuration(text);
    } catch (err) {
      expect((err as DurationError).code).toBe('INVALID_DURATION');
    }
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [900_000, '15m'],
    [5_400_000, '1h30m'],
    [3_661_001, '1h1m1s1ms'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
