import { describe, it, expect } from '@jest/globals';
import { selectorMatches, selectorToString } from './label-selector.js';
import type { LabelSelector } from './types.js';

describe('selectorMatches', () => {
  const labels = { app: 'agent', tier: 'ai', team: 'data' };
  const cases: Array<[string, LabelSelector | null | undefined, Record<string, string> | undefined, boolean]> = [
    ['null selector matches nothing', null, labels, false],
    ['undefined selector matches nothing', undefined, labels, false],
    ['empty selector matches everything', {}, labels, true],
    ['empty selector matches unlabeled pods', {}, undefined, true],
    ['matchLabels equal', { matchLabels: { app: 'agent' } }, labels, true],
    ['matchLabels differ', { matchLabels: { app: 'web' } }, labels, false],
    ['matchLabels missing key', { matchLabels: { missing: 'x' } }, labels, false],
    ['In matches', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['ai', 'ml'] }] }, labels, true],
    ['In without label', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels, false],
    ['NotIn excludes', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['ai'] }] }, labels, false],
    ['NotIn matches absent label', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels, true],
    ['Exists', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels, true],
    ['Exists absent', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels, false],
    ['unknown operator fails closed', { matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, labels, false],
    ['labels and expressions are ANDed', { matchLabels: { app: 'agent' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['web'] }] }, labels, false],
  ];
  it.each(cases)('%s', (_name, selector, l, want) => {
    expect(selectorMatches(selector, l)).toBe(want);
  });
});

describe('selectorToString', () => {
  it('renders the query syntax', () => {
    expect(selectorToString({
      matchLabels: { a: 'b' },
      matchExpressions: [
        { key: 'c', operator: 'In', values: ['d', 'e'] },
        { key: 'f', operator: 'NotIn', values: ['g'] },
        { key: 'h', operator: 'Exists' },
        { key: 'i', operator: 'DoesNotExist' },
      ],
    })).toBe('a=b,c in (d,e),f notin (g),h,!i');
  });
});
