import { describe, it, expect } from '@jest/globals';
import { conditionUnchanged, setCondition } from './conditions.js';

describe('setCondition', () => {
  const t1 = new Date('2026-01-01T00:00:00.123Z');
  const t2 = new Date('2026-01-02T00:00:00Z');

  it('adds a condition with a second-precision transition time', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Valid', message: 'ok', observedGeneration: 1 }, t1);
    expect(list).toEqual([{ type: 'Ready', status: 'True', reason: 'Valid', message: 'ok', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
  });

  it('keeps lastTransitionTime when only reason or message change', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'SecretNotFound', message: 'x' }, t1);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'SecretKeyMissing', message: 'y' }, t2);
    expect(b[0]?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(b[0]?.reason).toBe('SecretKeyMissing');
  });

  it('moves lastTransitionTime when the status flips, and keeps other types', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'R', message: '' }, t1);
    const a2 = setCondition(a, { type: 'Other', status: 'True', reason: 'R', message: '' }, t1);
    const b = setCondition(a2, { type: 'Ready', status: 'True', reason: 'Valid', message: '' }, t2);
    expect(b.map((c) => c.type)).toEqual(['Other', 'Ready']);
    expect(b.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-01-02T00:00:00Z');
  });

  it('conditionUnchanged compares status, reason, message and generation', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Valid', message: 'm', observedGeneration: 2 }, t1);
    expect(conditionUnchanged(list, { type: 'Ready', status: 'True', reason: 'Valid', message: 'm', observedGeneration: 2 })).toBe(true);
    expect(conditionUnchanged(list, { type: 'Ready', status: 'True', reason: 'Valid', message: 'm', observedGeneration: 3 })).toBe(false);
    expect(conditionUnchanged(list, { type: 'Ready', status: 'False', reason: 'Valid', message: 'm', observedGeneration: 2 })).toBe(false);
  });
});
