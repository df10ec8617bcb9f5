// The catalog lineage resolver against a real PostgreSQL: what it resolves,
// and that its synchronous cache answers exactly what `resolve` does, only for
// tables that are cached and fresh.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startPostgres, type PgServer } from '../../../testkit/postgres.js';
import type { BackendTarget } from './backend-connector.js';
import { CatalogLineageResolver } from './catalog-lineage.js';

describe('CatalogLineageResolver', () => {
  let server: PgServer;
  let target: BackendTarget;
  let customers: number;
  let orders: number;

  beforeAll(async () => {
    server = await startPostgres();
    await server.sql("CREATE ROLE app_user LOGIN PASSWORD 'app-pw'");
    await server.sql('CREATE DATABASE app OWNER app_user');
    await server.psql(['-c', 'CREATE TABLE customers (id int, ssn text); CREATE SCHEMA sales; CREATE TABLE sales.orders (id int, dropped int, card text); ALTER TABLE sales.orders DROP COLUMN dropped'], {
      database: 'app', user: 'app_user', password: 'app-pw',
    });
    customers = Number(await server.sql("SELECT 'public.customers'::regclass::oid", { database: 'app' }));
    orders = Number(await server.sql("SELECT 'sales.orders'::regclass::oid", { database: 'app' }));
    target = { host: '127.0.0.1', port: server.port, database: 'app', user: 'app_user', password: 'app-pw', tls: { mode: 'disable' } };
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('resolves columns by table OID and attribute number, skipping dropped columns', async () => {
    const r = new CatalogLineageResolver(target);
    try {
      const lineage = await r.resolve([customers, orders]);
      expect(Object.fromEntries(lineage)).toEqual({
        [`${customers}:1`]: { table: 'public.customers', column: 'id' },
        [`${customers}:2`]: { table: 'public.customers', column: 'ssn' },
        [`${orders}:1`]: { table: 'sales.orders', column: 'id' },
        [`${orders}:3`]: { table: 'sales.orders', column: 'card' },
      });
    } finally {
      r.close();
    }
  });

  it('answers from the cache synchronously only once every table is cached, with what resolve returns', async () => {
    const r = new CatalogLineageResolver(target);
    try {
      expect(r.cached([customers])).toBeUndefined();
      const resolved = await r.resolve([customers]);
      expect(r.cached([customers])).toEqual(resolved);
      // One table not fetched yet: no partial answer.
      expect(r.cached([customers, orders])).toBeUndefined();
      await r.resolve([orders]);
      expect(r.cached([customers, orders])).toEqual(await r.resolve([customers, orders]));
    } finally {
      r.close();
    }
  });

  it('hands out the same map while the tables are unchanged in its cache, a new one once they are fetched again', async () => {
    const r = new CatalogLineageResolver(target);
    try {
      const resolved = await r.resolve([customers, orders]);
      expect(r.cached([customers, orders])).toBe(resolved);
      expect(r.cached([customers, orders])).toBe(resolved);
      expect(r.cached([customers])).not.toBe(resolved);
      expect(r.cached([customers])).toBe(r.cached([customers]));
      expect(Object.fromEntries(r.cached([customers]) ?? [])).toEqual({
        [`${customers}:1`]: { table: 'public.customers', column: 'id' },
        [`${customers}:2`]: { table: 'public.customers', column: 'ssn' },
      });
    } finally {
      r.close();
    }
    // Every entry stale at once: each resolve fetches again, and the map is new.
    const stale = new CatalogLineageResolver(target, { ttlMs: -1 });
    try {
      const first = await stale.resolve([customers]);
      const second = await stale.resolve([customers]);
      expect(second).not.toBe(first);
      expect(second).toEqual(first);
    } finally {
      stale.close();
    }
  });

  it('never answers from a stale cache', async () => {
    // A TTL below zero: every entry is stale as soon as it is written.
    const r = new CatalogLineageResolver(target, { ttlMs: -1 });
    try {
      const resolved = await r.resolve([customers]);
      expect(resolved.size).toBe(2);
      expect(r.cached([customers])).toBeUndefined();
    } finally {
      r.close();
    }
  });
});
