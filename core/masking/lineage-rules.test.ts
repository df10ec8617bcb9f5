import { describe, expect, it } from '@jest/globals';
import { alignOutputs, ruleForRefs, type OutputColumnLineage } from './lineage-rules.js';
import { compileMasking } from './masker.js';

const col = (column: string, direct = true): OutputColumnLineage => ({ refs: [{ table: 'customers', column }], direct });
const star: OutputColumnLineage = { refs: [{ table: 'customers', column: '*' }], direct: true, star: true };

describe('alignOutputs', () => {
  it('lines up equal lists one to one', () => {
    const outs = [col('id'), col('ssn', false)];
    expect(alignOutputs(outs, 2)).toEqual([
      { kind: 'exact', index: 0, lineage: outs[0] },
      { kind: 'exact', index: 1, lineage: outs[1] },
    ]);
  });

  it('merges everything when the counts differ without a star', () => {
    const slots = alignOutputs([col('id'), col('ssn')], 3);
    expect(slots).toHaveLength(3);
    for (const s of slots) expect(s).toEqual({ kind: 'merged', refs: [{ table: 'customers', column: 'id' }, { table: 'customers', column: 'ssn' }] });
  });

  it('with a star, lines up the prefix and the suffix and merges the middle', () => {
    const outs = [col('id'), star, col('ssn', false)];
    const slots = alignOutputs(outs, 5);
    expect(slots[0]).toEqual({ kind: 'exact', index: 0, lineage: outs[0] });
    expect(slots[1]).toEqual({ kind: 'merged', refs: star.refs });
    expect(slots[3]).toEqual({ kind: 'merged', refs: star.refs });
    expect(slots[4]).toEqual({ kind: 'exact', index: 2, lineage: outs[2] });
  });

  it('a star expanding to nothing still lines up both ends', () => {
    const outs = [col('id'), star, col('ssn')];
    expect(alignOutputs(outs, 2).map((s) => s.kind)).toEqual(['exact', 'exact']);
  });

  it('merges everything when the ends cannot fit', () => {
    expect(alignOutputs([col('a'), col('b'), star, col('c')], 2).every((s) => s.kind === 'merged')).toBe(true);
  });
});

describe('ruleForRefs', () => {
  const m = compileMasking({ columns: [{ table: 'customers', column: 'ssn', strategy: 'partial' }, { table: 'customers', column: 'email', strategy: 'hash' }] }, { hashKey: Buffer.alloc(32, 1) });

  it('takes the strictest rule; partial becomes redact through an expression', () => {
    expect(ruleForRefs([{ table: 'customers', column: 'ssn' }], true, m)?.strategy).toBe('partial');
    expect(ruleForRefs([{ table: 'customers', column: 'ssn' }], false, m)?.strategy).toBe('redact');
    expect(ruleForRefs([{ column: 'ssn' }, { column: 'email' }], true, m)?.strategy).toBe('hash');
    expect(ruleForRefs([{ table: 'customers', column: '*' }], false, m)?.strategy).toBe('redact');
    expect(ruleForRefs([{ table: 'orders', column: 'ssn' }], false, m)).toBeUndefined();
  });
});
