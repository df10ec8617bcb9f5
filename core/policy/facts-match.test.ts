import { describe, expect, it } from '@jest/globals';
import { hashStatements, sameStatements, snapshotStatements, type FactsLimits } from './facts-match.js';

const LIMITS: FactsLimits = { maxStringLength: 100, maxDepth: 32, maxSnapshotSize: 4096 };

type Facts = Record<string, unknown>[];

const base = (): Facts => [
  {
    kind: 'UPDATE',
    text: 'UPDATE t SET a = 1 WHERE id = 7',
    tables: ['public.t'],
    functions: [],
    hasWhere: true,
    predicateColumns: [{ table: 'public.t', column: 'id' }],
    n: 3,
  },
  { kind: 'SELECT', text: 'SELECT 1', tables: [], functions: ['now'], hasWhere: false, n: 1.5 },
];

// true when the cache would take `b` for the facts `a` was stored with
function matches(a: unknown, b: unknown): boolean {
  const snap = snapshotStatements(a, LIMITS);
  if (snap === undefined) throw new Error('not storable');
  if (!Array.isArray(b)) return false;
  const equal = sameStatements(snap, b, LIMITS);
  // the hash must find every match
  if (equal) expect(hashStatements(b, LIMITS)).toBe(hashStatements(a, LIMITS));
  return equal;
}

describe('facts matching', () => {
  it('matches the same facts with other texts', () => {
    const a = base();
    const b = base();
    (b[0] as Record<string, unknown>).text = 'UPDATE t SET a = 99999 WHERE id = 123456';
    (b[1] as Record<string, unknown>).text = '';
    expect(matches(a, b)).toBe(true);
    expect(matches(a, base())).toBe(true);
    expect(matches([], [])).toBe(true);
  });

  const changes: [string, (f: Facts) => void][] = [
    ['another kind', (f) => void ((f[0] as Record<string, unknown>).kind = 'DELETE')],
    ['another table', (f) => void ((f[0] as Record<string, unknown>).tables = ['public.u'])],
    ['one table more', (f) => void ((f[0] as Record<string, unknown>).tables = ['public.t', 'public.t'])],
    ['a nested value', (f) => void ((f[0] as Record<string, unknown>).predicateColumns = [{ table: 'public.t', column: 'ID' }])],
    ['a bool', (f) => void ((f[1] as Record<string, unknown>).hasWhere = true)],
    ['an int for a bigint', (f) => void ((f[0] as Record<string, unknown>).n = 3n)],
    ['a string for a number', (f) => void ((f[0] as Record<string, unknown>).n = '3')],
    ['null for a number', (f) => void ((f[0] as Record<string, unknown>).n = null)],
    ['another number', (f) => void ((f[1] as Record<string, unknown>).n = 1.25)],
    ['a key more', (f) => void ((f[1] as Record<string, unknown>).extra = 'x')],
    ['a key whose value is undefined', (f) => void ((f[1] as Record<string, unknown>).extra = undefined)],
    ['a key fewer', (f) => void delete (f[1] as Record<string, unknown>).functions],
    ['keys in another order', (f) => void (f[1] = { text: 'SELECT 1', kind: 'SELECT', tables: [], functions: ['now'], hasWhere: false, n: 1.5 })],
    ['the text missing', (f) => void delete (f[1] as Record<string, unknown>).text],
    ['a text that is not a string', (f) => void ((f[1] as Record<string, unknown>).text = 5)],
    ['a text over the string limit', (f) => void ((f[1] as Record<string, unknown>).text = 'x'.repeat(101))],
    ['a statement fewer', (f) => void f.pop()],
    ['a statement more', (f) => void f.push({ kind: 'SELECT' })],
    ['statements swapped', (f) => void f.reverse()],
    ['a Date for a map', (f) => void ((f[0] as Record<string, unknown>).predicateColumns = [new Date(0)])],
    ['a class instance for a map', (f) => void ((f[0] as Record<string, unknown>).predicateColumns = [new (class { table = 'public.t'; column = 'id'; })()])],
    ['a list for a map', (f) => void ((f[0] as Record<string, unknown>).predicateColumns = [['public.t', 'id']])],
    ['a hole in a list', (f) => void ((f[0] as Record<string, unknown>).tables = new Array(1))],
  ];
  it.each(changes)('tells apart %s', (_name, change) => {
    const b = base();
    change(b);
    expect(matches(base(), b)).toBe(false);
  });

  it('compares a nested text like any other value', () => {
    const a: Facts = [{ kind: 'SELECT', text: 'a', meta: { text: 'inner' } }];
    expect(matches(a, [{ kind: 'SELECT', text: 'b', meta: { text: 'inner' } }])).toBe(true);
    expect(matches(a, [{ kind: 'SELECT', text: 'a', meta: { text: 'other' } }])).toBe(false);
  });

  it('never matches NaN (CEL equality of NaN is false anyway; a miss is always safe)', () => {
    const a: Facts = [{ kind: 'SELECT', n: Number.NaN }];
    expect(matches(a, [{ kind: 'SELECT', n: Number.NaN }])).toBe(false);
  });

  it('keeps a null-prototype object apart from a plain one only by content', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { kind: 'SELECT' });
    expect(matches([{ kind: 'SELECT' }], [bare])).toBe(true);
  });

  it('does not store what the conversion would refuse or what is too large or deep', () => {
    expect(snapshotStatements('not a list', LIMITS)).toBeUndefined();
    expect(snapshotStatements([{ kind: 'SELECT', at: new Date(0) }], LIMITS)).toBeUndefined();
    expect(snapshotStatements([{ kind: 'SELECT', f: () => 1 }], LIMITS)).toBeUndefined();
    expect(snapshotStatements([{ kind: 'SELECT', tables: [undefined] }], LIMITS)).toBeUndefined();
    expect(snapshotStatements([{ kind: 'SELECT', text: 7 }], LIMITS)).toBeUndefined();
    expect(snapshotStatements([new Date(0)], LIMITS)).toBeUndefined();
    const big = [{ kind: 'SELECT', tables: Array.from({ length: 5000 }, (_, i) => `t${i}`) }];
    expect(snapshotStatements(big, LIMITS)).toBeUndefined();
    expect(hashStatements(big, LIMITS)).toBeUndefined();
    let deep: Record<string, unknown> = { kind: 'SELECT' };
    for (let i = 0; i < 40; i++) deep = { kind: 'SELECT', inner: deep };
    expect(snapshotStatements([deep], LIMITS)).toBeUndefined();
    expect(hashStatements([deep], LIMITS)).toBeUndefined();
  });

  it('does not loop on cyclic facts', () => {
    const cyclic: Record<string, unknown> = { kind: 'SELECT' };
    cyclic.self = cyclic;
    expect(hashStatements([cyclic], LIMITS)).toBeUndefined();
    expect(snapshotStatements([cyclic], LIMITS)).toBeUndefined();
    const snap = snapshotStatements([{ kind: 'SELECT', self: { kind: 'SELECT' } }], LIMITS);
    expect(snap).toBeDefined();
    if (snap !== undefined) expect(sameStatements(snap, [cyclic], LIMITS)).toBe(false);
  });

  it('snapshots are copies: changing the facts afterwards does not change them', () => {
    const a = base();
    const snap = snapshotStatements(a, LIMITS);
    expect(snap).toBeDefined();
    ((a[0] as Record<string, unknown>).tables as string[]).push('public.x');
    if (snap !== undefined) {
      expect(sameStatements(snap, base(), LIMITS)).toBe(true);
      expect(sameStatements(snap, a, LIMITS)).toBe(false);
    }
  });
});
