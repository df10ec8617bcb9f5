// Output-column lineage and predicate columns, parsed by the real parser.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { classifySql, initSqlParser, type ColumnRef, type OutputColumn, type SqlStatement } from './classify.js';

beforeAll(async () => {
  await initSqlParser();
});

function one(sql: string): SqlStatement {
  const c = classifySql(sql);
  expect(c.error).toBeUndefined();
  const s = c.statements[0];
  if (!s || c.statements.length !== 1) throw new Error(`expected one statement for ${sql}`);
  return s;
}

const col = (table: string | undefined, column: string): ColumnRef => (table === undefined ? { column } : { table, column });
const sortRefs = (refs: readonly ColumnRef[]): ColumnRef[] =>
  [...refs].sort((a, b) => `${a.table ?? ''}.${a.column}`.localeCompare(`${b.table ?? ''}.${b.column}`));

function outputs(sql: string): OutputColumn[] {
  const s = one(sql);
  if (!s.outputColumns) throw new Error(`no output columns for ${sql}`);
  return s.outputColumns.map((c) => ({ ...c, refs: sortRefs(c.refs) }));
}

describe('output columns', () => {
  it.each<[string, OutputColumn[]]>([
    ['SELECT ssn FROM customers', [{ name: 'ssn', refs: [col('customers', 'ssn')], direct: true }]],
    ['SELECT c.ssn AS x FROM customers c', [{ name: 'x', refs: [col('customers', 'ssn')], direct: true }]],
    ['SELECT c.ssn FROM public.customers AS c', [{ name: 'ssn', refs: [col('public.customers', 'ssn')], direct: true }]],
    ['SELECT public.customers.ssn FROM public.customers', [{ name: 'ssn', refs: [col('public.customers', 'ssn')], direct: true }]],
    ['SELECT customers.ssn FROM public.customers', [{ name: 'ssn', refs: [col('public.customers', 'ssn')], direct: true }]],
    ['SELECT upper(ssn) FROM customers', [{ name: 'upper', refs: [col('customers', 'ssn')], direct: false }]],
    ["SELECT ssn || 'x' AS y FROM customers", [{ name: 'y', refs: [col('customers', 'ssn')], direct: false }]],
    ["SELECT encode(ssn::bytea, 'hex') FROM customers", [{ name: 'encode', refs: [col('customers', 'ssn')], direct: false }]],
    ['SELECT ssn::text FROM customers', [{ name: 'ssn', refs: [col('customers', 'ssn')], direct: false }]],
    ['SELECT row_to_json(c) FROM customers c', [{ name: 'row_to_json', refs: [col('customers', '*')], direct: false }]],
    ['SELECT c FROM customers c', [{ name: 'c', refs: [col('customers', '*')], direct: false }]],
    ['SELECT * FROM customers', [{ name: '*', refs: [col('customers', '*')], direct: true, star: true }]],
    ['SELECT c.*, o.total FROM customers c JOIN orders o ON o.cid = c.id', [
      { name: '*', refs: [col('customers', '*')], direct: true, star: true },
      { name: 'total', refs: [col('orders', 'total')], direct: true },
    ]],
    ['SELECT * FROM customers c, orders o', [
      { name: '*', refs: [col('customers', '*')], direct: true, star: true },
      { name: '*', refs: [col('orders', '*')], direct: true, star: true },
    ]],
    // Two candidate tables for an unqualified column: no table can be told.
    ['SELECT name FROM customers c JOIN orders o ON o.cid = c.id', [{ name: 'name', refs: [col(undefined, 'name')], direct: true }]],
    ['SELECT 1 AS one, now()', [
      { name: 'one', refs: [], direct: false },
      { name: 'now', refs: [], direct: false },
    ]],
    ['SELECT count(*) FILTER (WHERE ssn LIKE $$1%$$) FROM customers', [{ name: 'count', refs: [col('customers', 'ssn')], direct: false }]],
    ['SELECT sum(x) OVER (PARTITION BY ssn) FROM customers', [{ name: 'sum', refs: [col('customers', 'ssn'), col('customers', 'x')], direct: false }]],
    ['SELECT CASE WHEN vip THEN ssn END FROM customers', [{ name: 'case', refs: [col('customers', 'ssn'), col('customers', 'vip')], direct: false }]],
  ])('%s', (sql, expected) => {
    expect(outputs(sql)).toEqual(expected);
  });

  describe('through subqueries, CTEs and set operations', () => {
    it.each<[string, OutputColumn[]]>([
      ['SELECT x FROM (SELECT ssn AS x FROM customers) s', [{ name: 'x', refs: [col('customers', 'ssn')], direct: true }]],
      ['SELECT s.x FROM (SELECT upper(ssn) AS x FROM customers) s', [{ name: 'x', refs: [col('customers', 'ssn')], direct: false }]],
      ['SELECT * FROM (SELECT a, b AS bb FROM t) s(x)', [
        { name: 'x', refs: [col('t', 'a')], direct: true },
        { name: 'bb', refs: [col('t', 'b')], direct: true },
      ]],
      ['SELECT ssn FROM (SELECT * FROM customers) s', [{ name: 'ssn', refs: [col('customers', 'ssn')], direct: true }]],
      // Renamed through a star: which column `x` is needs the catalog, so the whole row.
      ['SELECT s.x FROM (SELECT * FROM customers) s(x)', [{ name: 'x', refs: [col('customers', '*')], direct: false }]],
      ['SELECT upper(x) FROM customers AS c(x, y)', [{ name: 'upper', refs: [col('customers', '*')], direct: false }]],
      ['WITH c AS (SELECT ssn AS s FROM customers) SELECT s FROM c', [{ name: 's', refs: [col('customers', 'ssn')], direct: true }]],
      ['WITH c(k) AS (SELECT ssn FROM customers) SELECT lower(k) FROM c', [{ name: 'lower', refs: [col('customers', 'ssn')], direct: false }]],
      ['WITH d AS (DELETE FROM t WHERE x = 1 RETURNING *) SELECT * FROM d', [{ name: '*', refs: [col('t', '*')], direct: true, star: true }]],
      ['WITH RECURSIVE r(n, v) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, v FROM r WHERE n < 3) SELECT v FROM r',
        [{ name: 'v', refs: [col('customers', 'ssn')], direct: false }]],
      ['SELECT a FROM t UNION SELECT upper(b) FROM u', [{ name: 'a', refs: [col('t', 'a'), col('u', 'b')], direct: false }]],
      ['SELECT (SELECT max(ssn) FROM customers) AS m', [{ name: 'm', refs: [col('customers', 'ssn')], direct: false }]],
      ['SELECT ARRAY(SELECT ssn FROM customers)', [{ name: 'array', refs: [col('customers', 'ssn')], direct: false }]],
      ['SELECT v FROM customers c, LATERAL unnest(ARRAY[c.ssn]) u(v)', [{ name: 'v', refs: [col('customers', 'ssn')], direct: false }]],
      ['SELECT j.ssn FROM (customers c JOIN orders o ON c.id = o.cid) AS j', [{ name: 'ssn', refs: [col('customers', 'ssn'), col('orders', 'ssn')], direct: false }]],
      ['SELECT id FROM customers JOIN orders USING (id)', [{ name: 'id', refs: [col('customers', 'id'), col('orders', 'id')], direct: true }]],
      ["SELECT * FROM (VALUES (1, 'a')) v(id, name)", [
        { name: 'id', refs: [], direct: false },
        { name: 'name', refs: [], direct: false },
      ]],
    ])('%s', (sql, expected) => {
      expect(outputs(sql)).toEqual(expected);
    });

    it('attributes a correlated subquery column to no table when the outer query could also supply it', () => {
      const [o] = outputs('SELECT (SELECT ssn FROM customers c2 WHERE c2.id = o.cid) FROM orders o');
      expect(o?.refs).toEqual([col(undefined, 'ssn')]);
    });
  });

  describe('RETURNING, COPY, PREPARE, DECLARE', () => {
    it.each<[string, OutputColumn[]]>([
      ['INSERT INTO t (a, b) VALUES (1, 2) RETURNING a, b AS bb', [
        { name: 'a', refs: [col('t', 'a')], direct: true },
        { name: 'bb', refs: [col('t', 'b')], direct: true },
      ]],
      ['UPDATE customers c SET name = $1 WHERE id = 1 RETURNING c.ssn', [{ name: 'ssn', refs: [col('customers', 'ssn')], direct: true }]],
      ['DELETE FROM t USING u WHERE t.id = u.id RETURNING t.*, u.name', [
        { name: '*', refs: [col('t', '*')], direct: true, star: true },
        { name: 'name', refs: [col('u', 'name')], direct: true },
      ]],
      ['UPDATE t SET a = 1 WHERE id = 2 RETURNING old.a AS before, new.a AS after', [
        { name: 'before', refs: [col('t', 'a')], direct: true },
        { name: 'after', refs: [col('t', 'a')], direct: true },
      ]],
      ['COPY customers TO STDOUT', [{ name: '*', refs: [col('customers', '*')], direct: true, star: true }]],
      ['COPY customers (id, ssn) TO STDOUT', [
        { name: 'id', refs: [col('customers', 'id')], direct: true },
        { name: 'ssn', refs: [col('customers', 'ssn')], direct: true },
      ]],
      ['COPY (SELECT upper(ssn) FROM customers) TO STDOUT', [{ name: 'upper', refs: [col('customers', 'ssn')], direct: false }]],
      ['PREPARE q AS SELECT ssn FROM customers WHERE id = $1', [{ name: 'ssn', refs: [col('customers', 'ssn')], direct: true }]],
      ['DECLARE c CURSOR FOR SELECT md5(ssn) FROM customers', [{ name: 'md5', refs: [col('customers', 'ssn')], direct: false }]],
    ])('%s', (sql, expected) => {
      expect(outputs(sql)).toEqual(expected);
    });

    it.each(['UPDATE t SET a = 1', 'COPY t FROM STDIN', 'SELECT a INTO n FROM t', 'EXPLAIN SELECT ssn FROM customers', 'EXECUTE p', 'SET ROLE x'])(
      '%s has no output columns',
      (sql) => {
        expect(one(sql).outputColumns).toBeUndefined();
      },
    );
  });
});

describe('predicate columns', () => {
  const preds = (sql: string): ColumnRef[] => sortRefs(one(sql).predicateColumns);

  it.each<[string, ColumnRef[]]>([
    ["SELECT id FROM customers WHERE ssn LIKE '1%'", [col('customers', 'ssn')]],
    ["SELECT id FROM customers c WHERE c.ssn LIKE '1%' AND c.region = 'eu'", [col('customers', 'region'), col('customers', 'ssn')]],
    ['SELECT id FROM customers ORDER BY ssn DESC LIMIT 1', [col('customers', 'ssn')]],
    ['SELECT upper(ssn) AS u FROM customers ORDER BY u', [col('customers', 'ssn'), col('customers', 'u')]],
    ['SELECT ssn FROM customers ORDER BY 1', [col('customers', 'ssn')]],
    ['SELECT region, count(*) FROM customers GROUP BY region HAVING max(ssn) > $1', [col('customers', 'region'), col('customers', 'ssn')]],
    ['SELECT DISTINCT ON (ssn) id FROM customers', [col('customers', 'ssn')]],
    ['SELECT o.id FROM orders o JOIN customers c ON c.id = o.cid AND c.ssn > $1', [col('customers', 'id'), col('customers', 'ssn'), col('orders', 'cid')]],
    ['SELECT 1 FROM customers JOIN orders USING (ssn)', [col('customers', 'ssn'), col('orders', 'ssn')]],
    ["SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.cid AND c.ssn LIKE '9%')",
      [col('customers', 'id'), col('customers', 'ssn'), col('orders', 'cid')]],
    // Unqualified inside a subquery: the outer `orders` could supply them too, so no table.
    ["SELECT id FROM orders WHERE cid IN (SELECT id FROM customers WHERE ssn LIKE '9%')", [col(undefined, 'id'), col(undefined, 'ssn'), col('orders', 'cid')]],
    ["SELECT * FROM (SELECT id FROM customers WHERE ssn LIKE '9%') s", [col('customers', 'ssn')]],
    ["SELECT id FROM customers c WHERE c::text LIKE '%123%'", [col('customers', '*')]],
    ["UPDATE customers SET vip = true WHERE ssn LIKE '9%'", [col('customers', 'ssn')]],
    ["DELETE FROM customers c USING blocked b WHERE b.ssn = c.ssn", [col('blocked', 'ssn'), col('customers', 'ssn')]],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.flag THEN DELETE', [col('s', 'flag'), col('s', 'id'), col('t', 'id')]],
    ["EXPLAIN ANALYZE SELECT 1 FROM customers WHERE ssn LIKE '1%'", [col('customers', 'ssn')]],
    ["SELECT 1 WHERE EXISTS (SELECT 1 FROM customers WHERE ssn = '078-05-1120')", [col('customers', 'ssn')]],
    ['SELECT 1 FROM t', []],
    // Windows decide the order and grouping rows come back in, inline or named.
    ['SELECT id, row_number() OVER (ORDER BY ssn) FROM customers', [col('customers', 'ssn')]],
    ['SELECT id, count(*) OVER (PARTITION BY card) FROM customers', [col('customers', 'card')]],
    ['SELECT id, rank() OVER w FROM customers WINDOW w AS (ORDER BY ssn)', [col('customers', 'ssn')]],
    // LIMIT / OFFSET decide how many rows come back.
    // (Unqualified in a subquery whose outer query also reads customers: no table.)
    ['SELECT id FROM customers LIMIT (SELECT ascii(ssn) FROM customers WHERE id = 2)', [col(undefined, 'id'), col(undefined, 'ssn')]],
    ['SELECT id FROM orders OFFSET (SELECT length(c.card) FROM customers c LIMIT 1)', [col('customers', 'card')]],
    ['SELECT a FROM t UNION SELECT b FROM u LIMIT (SELECT length(ssn) FROM customers)', [col('customers', 'ssn'), col('t', 'a'), col('u', 'b')]],
    // Set operations other than UNION ALL, and DISTINCT, compare the rows they return.
    ["SELECT 1 FROM (SELECT ssn FROM customers INTERSECT SELECT '987-65-4321') x", [col('customers', 'ssn')]],
    ["SELECT ssn FROM customers EXCEPT ALL SELECT 'x'", [col('customers', 'ssn')]],
    ["SELECT count(*) FROM (SELECT ssn FROM customers UNION SELECT 'x') x", [col('customers', 'ssn')]],
    ['SELECT count(*) FROM (SELECT DISTINCT card FROM customers) x', [col('customers', 'card')]],
    ["SELECT ssn FROM customers UNION ALL SELECT 'x'", []],
    ['SELECT ssn FROM customers', []],
    // A function in FROM decides how many rows come back from its arguments.
    ['SELECT 1 FROM customers c, generate_series(1, ascii(c.ssn))', [col('customers', 'ssn')]],
    ['SELECT g FROM generate_series(1, 3) g', []],
    // NATURAL JOIN compares the columns both sides share: whole rows, without the catalog.
    ["SELECT id FROM customers NATURAL JOIN (VALUES ('x')) v(ssn)", [col('customers', '*')]],
  ])('%s', (sql, expected) => {
    expect(preds(sql)).toEqual(expected);
  });
});
