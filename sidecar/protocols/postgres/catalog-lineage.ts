// Column lineage for masking: RowDescription names a column by table OID and
// attribute number; this resolves those to "schema.table" and column name
// through the catalog, on a separate backend connection of the proxy's own
// (never inside the agent's session, whose transaction state it must not
// touch). Results are cached for a short time, so a renamed table is seen
// again soon; unknown OIDs (dropped tables) resolve to nothing.
import { B, errorField, isBackendType, parseDataRow, parseErrorFields } from './backend-messages.js';
import { connectBackend, type BackendConnection, type BackendTarget } from './backend-connector.js';
import { encodeQuery, encodeTerminate } from './frontend-messages.js';
import { backendProtocolError, PgProxyError } from './protocol-errors.js';
import { SocketMessageReader } from './socket-reader.js';

export interface ColumnOrigin {
  /** "schema.table" */
  table: string;
  column: string;
}

/**
 * Keys are `${tableOid}:${attnum}`. Read-only: the resolver hands the same
 * map to every caller asking for the same tables while their catalog entries
 * are unchanged, so a masker may cache what it planned from it by identity.
 */
export type Lineage = ReadonlyMap<string, ColumnOrigin>;

/** No lineage (no table OIDs, or masking without column rules): one shared empty map. */
export const EMPTY_LINEAGE: Lineage = new Map();

export interface LineageResolver {
  /** Lineage of every column of the given tables (OIDs). Rejects when the catalog cannot be read. */
  resolve(tableOids: readonly number[]): Promise<Lineage>;
  /**
   * The same lineage as `resolve`, synchronously, when every table is fresh in
   * the cache; undefined otherwise (then call `resolve`). Lets the relay send a
   * result without waiting a turn of the event loop per statement.
   */
  cached?(tableOids: readonly number[]): Lineage | undefined;
  close(): void;
}

interface CacheEntry {
  at: number;
  columns: Array<[number, ColumnOrigin]>;
}

/** A lineage built for a list of tables, valid while each table's cache entry is still this one. */
interface BuiltLineage {
  entries: CacheEntry[];
  lineage: Lineage;
}

/** Lists of tables whose lineage is kept built (beyond it the memo starts over). */
const MAX_BUILT = 1000;

export class CatalogLineageResolver implements LineageResolver {
  private conn: Promise<{ backend: BackendConnection; reader: SocketMessageReader }> | undefined;
  private readonly cache = new Map<number, CacheEntry>();
  /** By table list (one OID, or OIDs joined by ','): the lineage last built for it. */
  private readonly built = new Map<number | string, BuiltLineage>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly target: BackendTarget,
    private readonly opts: { ttlMs?: number; maxTables?: number; maxCachedTables?: number } = {},
  ) {}

  async resolve(tableOids: readonly number[]): Promise<Lineage> {
    const missing = this.stale(tableOids);
    if (missing.length > 0) {
      const run = this.queue.then(() => this.fetch(missing));
      this.queue = run.catch(() => undefined);
      await run;
    }
    return this.fromCache(tableOids);
  }

  cached(tableOids: readonly number[]): Lineage | undefined {
    const ttl = this.opts.ttlMs ?? 60_000;
    const now = Date.now();
    for (const oid of tableOids) {
      const e = this.cache.get(oid);
      if (e === undefined || now - e.at > ttl) return undefined;
    }
    return this.fromCache(tableOids);
  }

  /** Tables not in the cache or older than the TTL. */
  private stale(tableOids: readonly number[]): number[] {
    const ttl = this.opts.ttlMs ?? 60_000;
    const now = Date.now();
    return [...new Set(tableOids)].filter((oid) => {
      const e = this.cache.get(oid);
      return e === undefined || now - e.at > ttl;
    });
  }

  /** The lineage of cached tables: the same map as last time while their entries are unchanged. */
  private fromCache(tableOids: readonly number[]): Lineage {
    const key = tableOids.length === 1 ? (tableOids[0] as number) : tableOids.join(',');
    const last = this.built.get(key);
    if (last !== undefined && last.entries.length === tableOids.length && last.entries.every((e, i) => this.cache.get(tableOids[i] as number) === e)) {
      return last.lineage;
    }
    const out = new Map<string, ColumnOrigin>();
    const entries: CacheEntry[] = [];
    for (const oid of tableOids) {
      const entry = this.cache.get(oid);
      if (entry === undefined) continue; // fetched, yet not there: the table is gone (nothing to resolve)
      entries.push(entry);
      for (const [attnum, origin] of entry.columns) out.set(`${oid}:${attnum}`, origin);
    }
    if (entries.length === tableOids.length) {
      if (this.built.size >= MAX_BUILT) this.built.clear();
      this.built.set(key, { entries, lineage: out });
    }
    return out;
  }

  close(): void {
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    void c?.then(({ backend }) => {
      backend.socket.end(encodeTerminate());
      backend.socket.destroy();
    }, () => undefined);
  }

  private async connection(): Promise<{ backend: BackendConnection; reader: SocketMessageReader }> {
    if (this.closed) throw new PgProxyError('PG_BACKEND_UNAVAILABLE', 'lineage resolver is closed');
    if (this.conn === undefined) {
      this.conn = connectBackend(this.target, { params: { application_name: 'agentgate-catalog' } }).then((backend) => {
        const reader = new SocketMessageReader(
          backend.socket,
          { maxLength: () => 64 * 1024 * 1024, knownType: isBackendType, malformed: (m) => backendProtocolError(m) },
          () => new PgProxyError('PG_BACKEND_UNAVAILABLE', 'catalog connection closed'),
        );
        backend.socket.on('close', () => {
          this.conn = undefined;
        });
        return { backend, reader };
      });
      this.conn.catch(() => {
        this.conn = undefined;
      });
    }
    return await this.conn;
  }

  private async fetch(oids: number[]): Promise<void> {
    const max = this.opts.maxTables ?? 1000;
    for (let i = 0; i < oids.length; i += max) {
      const batch = oids.slice(i, i + max);
      for (const oid of batch) if (!Number.isInteger(oid) || oid <= 0 || oid > 0xffffffff) throw new Error('invalid table OID');
      const { backend, reader } = await this.connection();
      // OIDs are validated integers, so the list is safe to inline.
      backend.socket.write(
        encodeQuery(
          'SELECT a.attrelid::int8, a.attnum, n.nspname, c.relname, a.attname ' +
            'FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid ' +
            'JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
            `WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (${batch.join(',')})`,
        ),
      );
      const found = new Map<number, Array<[number, ColumnOrigin]>>();
      const deadline = AbortSignal.timeout(30_000);
      let failure: string | undefined;
      for (;;) {
        const m = await reader.next(deadline);
        if (m.type === B.DataRow) {
          const v = parseDataRow(m.body).map((b) => (b === null ? '' : b.toString('utf8')));
          const oid = Number(v[0]);
          const list = found.get(oid) ?? [];
          list.push([Number(v[1]), { table: `${v[2] ?? ''}.${v[3] ?? ''}`, column: v[4] ?? '' }]);
          found.set(oid, list);
        } else if (m.type === B.ErrorResponse) {
          failure = errorField(parseErrorFields(m.body), 'M') ?? 'catalog query failed';
        } else if (m.type === B.ReadyForQuery) {
          break;
        }
      }
      if (failure !== undefined) throw new PgProxyError('PG_BACKEND_UNAVAILABLE', `cannot read column lineage: ${failure}`);
      const at = Date.now();
      // Bounded: a database with more tables than this just refetches.
      if (this.cache.size + batch.length > (this.opts.maxCachedTables ?? 10_000)) this.cache.clear();
      for (const oid of batch) this.cache.set(oid, { at, columns: found.get(oid) ?? [] });
    }
  }
}
