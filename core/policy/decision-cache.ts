// Storage for the engine's decision cache (what may be cached, and when, is
// decided in engine.ts): one bounded cache per identity object and
// connection, all under one global bound, so neither a session flooding new
// facts nor many identities can grow memory without limit.
//
// Each cache keeps two generations, an approximation of LRU that costs a hit
// one Map lookup (moving an entry to the end of a Map on every hit, or
// evicting one entry at a time from its front, cost more than the lookup):
// new entries go to the young generation; when it holds half the bound, it
// becomes the old one and the old one is dropped; a hit in the old
// generation is copied to the young one. Over the global bound, whole caches
// go, least recently used first, down to 90% of the bound (so the scan that
// finds them is paid once per many entries); a cache of an identity that is
// gone is never used again, so it goes first.
//
// Facts are stored the second time they are missed (a "doorkeeper" of recent
// hashes): facts seen once, as with ad-hoc queries, cost a hash and no
// snapshot, which keeps a miss close to an uncached decision.
import type { Decision } from './engine.js';
import { sameStatements, type FactsLimits, type FactsSnapshot } from './facts-match.js';

export interface DecisionCacheLimits {
  /** entries per identity object and connection (two generations of half this, rounded down, at least 1 each); 0 turns the cache off */
  maxEntriesPerConnection: number;
  /** over every identity and connection: snapshot sizes plus ENTRY_OVERHEAD per entry (roughly bytes) */
  maxTotalSize: number;
  /** facts larger than this (values plus string characters, texts left out) are not cached */
  maxFactsSize: number;
}

export const DEFAULT_DECISION_CACHE_LIMITS: Readonly<DecisionCacheLimits> = Object.freeze({
  maxEntriesPerConnection: 4096,
  // ~20k entries of pgbench-sized facts (a snapshot of ~200 values and characters)
  maxTotalSize: 8_000_000,
  maxFactsSize: 4096,
});

/** What one entry costs besides its snapshot (the Decision, the slot), for the global bound. */
export const ENTRY_OVERHEAD = 256;

export interface DecisionCacheStats {
  /** decisions answered from the cache */
  hits: number;
  /** cacheable requests that were evaluated (and stored unless they had errors) */
  misses: number;
  /** requests the cache could not answer: a rule that may read text, now or session; an invalid policy; unusual facts */
  bypassed: number;
  /** entries dropped to keep the bounds */
  evictions: number;
  /** entries held now */
  entries: number;
}

// Entries per hash in one generation. The hash samples a few characters per
// string, so facts can be crafted to collide; a bounded chain keeps a lookup cheap.
const MAX_CHAIN = 8;

interface Slot {
  readonly facts: FactsSnapshot;
  readonly decision: Decision;
  readonly size: number;
  /** another entry with the same hash */
  readonly next: Slot | undefined;
}

class Generation {
  readonly byHash = new Map<number, Slot>();
  entries = 0;
  size = 0;

  find(hash: number, statements: readonly unknown[], limits: FactsLimits): Slot | undefined {
    for (let s = this.byHash.get(hash); s !== undefined; s = s.next) {
      if (sameStatements(s.facts, statements, limits)) return s;
    }
    return undefined;
  }

  /** False when the hash already has MAX_CHAIN entries (nothing stored). */
  add(hash: number, facts: FactsSnapshot, decision: Decision, size: number): boolean {
    const head = this.byHash.get(hash);
    let chain = 0;
    for (let s = head; s !== undefined; s = s.next) if (++chain >= MAX_CHAIN) return false;
    this.byHash.set(hash, { facts, decision, size, next: head });
    this.entries++;
    this.size += size;
    return true;
  }
}

/** The cache of one identity object and connection. */
export class ConnectionDecisionCache {
  #young = new Generation();
  #old = new Generation();
  // hashes missed once (30 bits: small integers need no allocation in a Set)
  readonly #seen = new Set<number>();
  /** the pool's clock at the last use */
  lastUsed = 0;
  attached = false;

  constructor(
    private readonly pool: DecisionCachePool,
    private readonly half: number,
  ) {}

  get entries(): number {
    return this.#young.entries + this.#old.entries;
  }

  get size(): number {
    return this.#young.size + this.#old.size;
  }

  get(hash: number, statements: readonly unknown[], limits: FactsLimits): Decision | undefined {
    this.lastUsed = ++this.pool.clock;
    const young = this.#young.find(hash, statements, limits);
    if (young !== undefined) return young.decision;
    const old = this.#old.find(hash, statements, limits);
    if (old === undefined) return undefined;
    this.#add(hash, old.facts, old.decision, old.size); // keep it through the next turnover
    return old.decision;
  }

  /** Whether facts with this hash were missed before (recently); remembers them otherwise. */
  admit(hash: number): boolean {
    const h = hash & 0x3fffffff;
    if (this.#seen.has(h)) return true;
    if (this.#seen.size >= this.half) this.#seen.clear();
    this.#seen.add(h);
    return false;
  }

  set(hash: number, facts: FactsSnapshot, decision: Decision): void {
    this.lastUsed = ++this.pool.clock;
    this.#add(hash, facts, decision, facts.size + ENTRY_OVERHEAD);
  }

  #add(hash: number, facts: FactsSnapshot, decision: Decision, size: number): void {
    if (this.#young.entries >= this.half) this.dropOld(true);
    if (this.#young.add(hash, facts, decision, size)) this.pool.added(this, size);
  }

  /** Drops the old generation; with `turn`, the young one becomes the old one. */
  dropOld(turn: boolean): void {
    const old = this.#old;
    this.pool.removed(old.size, old.entries);
    if (turn) {
      this.#old = this.#young;
      this.#young = new Generation();
    } else {
      this.#old = new Generation();
    }
  }

  /** Empties the cache (its sizes are taken off the pool by the caller). */
  clear(): void {
    this.#young = new Generation();
    this.#old = new Generation();
    this.#seen.clear();
  }
}

/** Every per-connection cache of one engine, under the global bound. */
export class DecisionCachePool {
  readonly #caches = new Set<ConnectionDecisionCache>();
  readonly #half: number;
  #size = 0;
  #entries = 0;
  /** counts uses; a cache's lastUsed is a reading of it */
  clock = 0;
  readonly stats: Omit<DecisionCacheStats, 'entries'> = { hits: 0, misses: 0, bypassed: 0, evictions: 0 };

  constructor(readonly limits: Readonly<DecisionCacheLimits>) {
    this.#half = Math.max(1, Math.floor(limits.maxEntriesPerConnection / 2));
  }

  get entries(): number {
    return this.#entries;
  }

  get size(): number {
    return this.#size;
  }

  create(): ConnectionDecisionCache {
    return new ConnectionDecisionCache(this, this.#half);
  }

  /** Called by a cache after it stored an entry: keeps the global bound. */
  added(cache: ConnectionDecisionCache, size: number): void {
    if (!cache.attached) {
      cache.attached = true;
      this.#caches.add(cache);
    }
    this.#size += size;
    this.#entries++;
    if (this.#size > this.limits.maxTotalSize) this.#shrink(cache);
  }

  /** Called by a cache after it dropped entries. */
  removed(size: number, entries: number): void {
    this.#size -= size;
    this.#entries -= entries;
    this.stats.evictions += entries;
  }

  /** A cache whose identity or connection changed: forget it and its entries. */
  detach(cache: ConnectionDecisionCache): void {
    if (!cache.attached) return;
    cache.attached = false;
    this.#caches.delete(cache);
    this.#size -= cache.size;
    this.#entries -= cache.entries;
    cache.clear();
  }

  // Drops other caches, least recently used first, to 90% of the bound; then,
  // if `keep` alone is over the bound, its old generation and then its young one.
  #shrink(keep: ConnectionDecisionCache): void {
    const target = Math.floor(this.limits.maxTotalSize * 0.9);
    const others = [...this.#caches].filter((c) => c !== keep).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const c of others) {
      if (this.#size <= target) break;
      this.#caches.delete(c);
      c.attached = false;
      this.removed(c.size, c.entries);
      c.clear();
    }
    if (this.#size > this.limits.maxTotalSize) keep.dropOld(false);
    if (this.#size > this.limits.maxTotalSize) keep.dropOld(true);
    if (this.#size > this.limits.maxTotalSize) keep.dropOld(false);
  }
}
