import { describe, expect, it } from '@jest/globals';
import { DecisionCachePool, ENTRY_OVERHEAD, type DecisionCacheLimits } from './decision-cache.js';
import type { Decision } from './engine.js';
import { hashStatements, snapshotStatements, type FactsLimits } from './facts-match.js';

const FACTS: FactsLimits = { maxStringLength: 1000, maxDepth: 32, maxSnapshotSize: 4096 };

const facts = (i: number): Record<string, unknown>[] => [{ kind: 'SELECT', tables: [`t${i}`], hasWhere: true }];
const decision = (i: number): Decision => Object.freeze({ action: 'allow', message: `d${i}`, matched: [] });

function put(pool: DecisionCachePool, cache: ReturnType<DecisionCachePool['create']>, i: number): void {
  const f = facts(i);
  const hash = hashStatements(f, FACTS);
  const snap = snapshotStatements(f, FACTS);
  if (hash === undefined || snap === undefined) throw new Error('not cacheable');
  cache.set(hash, snap, decision(i));
}

function get(cache: ReturnType<DecisionCachePool['create']>, i: number): Decision | undefined {
  const f = facts(i);
  const hash = hashStatements(f, FACTS);
  if (hash === undefined) throw new Error('not cacheable');
  return cache.get(hash, f, FACTS);
}

const limits = (over: Partial<DecisionCacheLimits>): DecisionCacheLimits => ({
  maxEntriesPerConnection: 100,
  maxTotalSize: 1_000_000,
  maxFactsSize: 4096,
  ...over,
});

describe('DecisionCachePool', () => {
  it('finds what it stored, and only that', () => {
    const pool = new DecisionCachePool(limits({}));
    const c = pool.create();
    put(pool, c, 1);
    put(pool, c, 2);
    expect(get(c, 1)?.message).toBe('d1');
    expect(get(c, 2)?.message).toBe('d2');
    expect(get(c, 3)).toBeUndefined();
    expect(pool.entries).toBe(2);
  });

  it('keeps each cache within its entry bound, and keeps recently used entries', () => {
    const pool = new DecisionCachePool(limits({ maxEntriesPerConnection: 10 }));
    const c = pool.create();
    for (let i = 0; i < 1000; i++) {
      put(pool, c, i);
      expect(get(c, 0)?.message).toBe('d0'); // used all along: it survives every turnover
      expect(c.entries).toBeLessThanOrEqual(10);
    }
    expect(get(c, 999)?.message).toBe('d999');
    expect(get(c, 5)).toBeUndefined();
    expect(pool.entries).toBe(c.entries);
    expect(pool.stats.evictions).toBeGreaterThan(900);
  });

  it('keeps the global bound over many caches, dropping the least recently used first', () => {
    const entrySize = (snapshotStatements(facts(100), FACTS)?.size ?? 0) + ENTRY_OVERHEAD;
    const pool = new DecisionCachePool(limits({ maxEntriesPerConnection: 1000, maxTotalSize: entrySize * 50 }));
    const hot = pool.create();
    put(pool, hot, 100);
    const caches = [];
    for (let k = 0; k < 40; k++) {
      const c = pool.create();
      caches.push(c);
      for (let i = 0; i < 10; i++) {
        put(pool, c, 100 + i);
        expect(pool.size).toBeLessThanOrEqual(entrySize * 50);
        // a session in use keeps its cache
        expect(get(hot, 100)?.message).toBe('d100');
      }
    }
    expect(pool.entries).toBeLessThanOrEqual(50);
    expect(caches.filter((c) => c.entries === 0).length).toBeGreaterThan(30);
    // the newest caches are the ones kept
    expect(caches.at(-1)?.entries).toBe(10);
  });

  it('bounds a single cache by the global size too', () => {
    const entrySize = (snapshotStatements(facts(100), FACTS)?.size ?? 0) + ENTRY_OVERHEAD;
    const pool = new DecisionCachePool(limits({ maxEntriesPerConnection: 1000, maxTotalSize: entrySize * 7 }));
    const c = pool.create();
    for (let i = 100; i < 400; i++) {
      put(pool, c, i);
      expect(pool.size).toBeLessThanOrEqual(entrySize * 7);
    }
    expect(get(c, 399)?.message).toBe('d399');
  });

  it('forgets a detached cache and its entries', () => {
    const pool = new DecisionCachePool(limits({}));
    const c = pool.create();
    put(pool, c, 1);
    pool.detach(c);
    expect(pool.entries).toBe(0);
    expect(pool.size).toBe(0);
    expect(get(c, 1)).toBeUndefined();
  });

  it('admits facts the second time they are missed', () => {
    const pool = new DecisionCachePool(limits({}));
    const c = pool.create();
    expect(c.admit(12345)).toBe(false);
    expect(c.admit(12345)).toBe(true);
    expect(c.admit(777)).toBe(false);
  });
});

describe('DecisionCachePool: colliding hashes', () => {
  it('keeps a bounded number of entries per hash', () => {
    const pool = new DecisionCachePool(limits({ maxEntriesPerConnection: 1000 }));
    const c = pool.create();
    // every entry under one hash, as crafted facts could do
    for (let i = 0; i < 50; i++) {
      const f = facts(i);
      const snap = snapshotStatements(f, FACTS);
      if (snap === undefined) throw new Error('not cacheable');
      c.set(42, snap, decision(i));
    }
    expect(c.entries).toBeLessThanOrEqual(8);
    expect(c.get(42, facts(0), FACTS)?.message).toBe('d0');
    expect(c.get(42, facts(49), FACTS)).toBeUndefined();
  });
});
