// Classification against PostgreSQL's real parser (libpg-query): every case
// is parsed for real, and the first describe pins the parse-tree shapes the
// classifier relies on, so a parser upgrade that moves them fails here first.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseSync } from 'libpg-query';
import { classifySql, initSqlParser, MAX_SQL_LENGTH, type SqlStatement } from './classify.js';
import { isWriteFunction } from './write-functions.js';

beforeAll(async () => {
  await initSqlParser();
});

function one(sql: string): SqlStatement {
  const c = classifySql(sql);
  expect(c.error).toBeUndefined();
  expect(c.statements).toHaveLength(1);
  const s = c.statements[0];
  if (!s) throw new Error('no statement');
  return s;
}

type Expectation = Partial<Pick<SqlStatement,
  'kind' | 'writes' | 'hasWhere' | 'innerKinds' | 'tables' | 'functions' | 'program' | 'copyDirection' | 'preparedName' |
  'locking' | 'setting' | 'cursorName' | 'copyOptions'>>;

function table(cases: [string, Expectation][]): void {
  it.each(cases)('%s', (sql, expected) => {
    const s = one(sql);
    // Only the fields a case names are compared; absent optional fields must stay absent.
    for (const [k, v] of Object.entries(expected)) {
      expect({ field: k, value: (s as Record<string, unknown>)[k] }).toEqual({ field: k, value: v });
    }
  });
}

describe('parse-tree shapes the classifier relies on', () => {
  const stmt = (sql: string, i = 0): Record<string, unknown> =>
    ((parseSync(sql) as { stmts: { stmt: Record<string, unknown> }[] }).stmts[i]?.stmt ?? {});

  it('keeps a data-modifying CTE inside the SELECT it belongs to', () => {
    const s = stmt('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d');
    expect(Object.keys(s)).toEqual(['SelectStmt']);
    const cte = (s.SelectStmt as { withClause: { ctes: { CommonTableExpr: { ctequery: object } }[] } }).withClause.ctes[0];
    expect(Object.keys(cte?.CommonTableExpr.ctequery ?? {})).toEqual(['DeleteStmt']);
  });

  it('holds set-operation arms as bare SelectStmt bodies', () => {
    const s = stmt('SELECT 1 UNION SELECT 2').SelectStmt as Record<string, unknown>;
    expect(s.op).toBe('SETOP_UNION');
    expect(s.larg).toHaveProperty('targetList');
  });

  it('marks EXPLAIN ANALYZE as an option, with and without an argument', () => {
    const bare = stmt('EXPLAIN ANALYZE DELETE FROM t').ExplainStmt as { options: { DefElem: { defname: string; arg?: unknown } }[] };
    expect(bare.options[0]?.DefElem).toMatchObject({ defname: 'analyze' });
    expect(bare.options[0]?.DefElem.arg).toBeUndefined();
    const off = stmt("EXPLAIN (ANALYZE 'off') DELETE FROM t").ExplainStmt as { options: { DefElem: { arg?: unknown } }[] };
    expect(off.options[0]?.DefElem.arg).toEqual({ String: { sval: 'off' } });
  });

  it('reports COPY PROGRAM and direction as flags, STDIN/STDOUT as no filename', () => {
    expect(stmt("COPY t TO PROGRAM 'gzip'").CopyStmt).toMatchObject({ is_program: true, filename: 'gzip' });
    const fromStdin = stmt('COPY t FROM STDIN').CopyStmt as Record<string, unknown>;
    expect(fromStdin.is_from).toBe(true);
    expect(fromStdin.filename).toBeUndefined();
  });

  it('gives statement locations in UTF-8 bytes and lengths up to the semicolon', () => {
    const tree = parseSync("SELECT 'é'; SELECT 2") as { stmts: { stmt_location?: number; stmt_len?: number }[] };
    expect(tree.stmts[0]?.stmt_len).toBe(11); // "SELECT 'é'" is 10 characters, 11 bytes
    expect(tree.stmts[1]?.stmt_location).toBe(13);
  });
});

describe('statement kinds, from the parse tree', () => {
  describe('reads', () => {
    table([
      ['SELECT id, name FROM customers WHERE id = 1', { kind: 'SELECT', writes: false, hasWhere: true, tables: ['customers'], innerKinds: [] }],
      ['SELECT 1', { kind: 'SELECT', writes: false, tables: [], functions: [] }],
      ['VALUES (1, 2)', { kind: 'SELECT', writes: false }],
      ['TABLE customers', { kind: 'SELECT', tables: ['customers'] }],
      ['SELECT * FROM public.customers c JOIN orders o ON o.cid = c.id', { kind: 'SELECT', tables: ['public.customers', 'orders'] }],
      ['SELECT * FROM "Customers"', { kind: 'SELECT', tables: ['customers'] }],
      ['SELECT * FROM (SELECT * FROM (SELECT id FROM deep) a) b', { kind: 'SELECT', tables: ['deep'] }],
      ['SELECT (SELECT max(total) FROM orders), EXISTS (SELECT 1 FROM refunds) FROM customers', { tables: ['orders', 'refunds', 'customers'], functions: ['max'] }],
      ['SELECT lower(name), now(), count(*) FROM customers GROUP BY 1', { writes: false, functions: ['lower', 'now', 'count'] }],
      ['SELECT EXTRACT(year FROM created) FROM orders', { functions: ['extract'] }],
      ['SELECT * FROM customers FOR UPDATE', { kind: 'SELECT', writes: false, locking: true }],
      ['SELECT * FROM customers FOR SHARE SKIP LOCKED', { kind: 'SELECT', writes: false, locking: true }],
      ['SELECT * FROM customers', { locking: false }],
      ['WITH x AS (SELECT 1) SELECT * FROM x', { kind: 'SELECT', writes: false, innerKinds: ['SELECT'], tables: [] }],
      // A CTE named like a table hides it; a qualified name does not refer to a CTE.
      ['WITH customers AS (SELECT * FROM orders) SELECT * FROM customers', { tables: ['orders'] }],
      ['WITH customers AS (SELECT 1) SELECT * FROM public.customers', { tables: ['public.customers'] }],
      // In a non-recursive WITH a CTE cannot see the ones after it: `b` there is a table.
      ['WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a', { tables: ['b'] }],
      ['WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r', { kind: 'SELECT', tables: [] }],
    ]);
  });

  describe('data-modifying CTEs take the modifying kind (a policy on kind SELECT must not pass them)', () => {
    table([
      ['WITH d AS (DELETE FROM orders WHERE created < now() RETURNING *) SELECT count(*) FROM d',
        { kind: 'DELETE', writes: true, innerKinds: ['DELETE'], tables: ['orders'], hasWhere: true }],
      ['WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d', { kind: 'DELETE', hasWhere: false }],
      ['WITH u AS (UPDATE accounts SET balance = 0 RETURNING id) SELECT * FROM u', { kind: 'UPDATE', writes: true, hasWhere: false }],
      ['WITH i AS (INSERT INTO log VALUES (1) RETURNING *), d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT 1',
        { kind: 'DELETE', innerKinds: ['INSERT', 'DELETE'], tables: ['log', 't'] }],
      ['WITH d AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM d', { kind: 'DELETE', innerKinds: ['DELETE', 'INSERT'], tables: ['a', 'b'], hasWhere: false }],
      ['WITH m AS (MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE RETURNING t.*) SELECT * FROM m', { kind: 'MERGE', writes: true }],
      // PostgreSQL refuses these when it analyses them; the classifier does not rely on that.
      ['SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s', { kind: 'DELETE', writes: true }],
    ]);
  });

  describe('EXPLAIN', () => {
    table([
      ['EXPLAIN DELETE FROM t WHERE id = 1', { kind: 'EXPLAIN', writes: false, innerKinds: ['DELETE'], tables: ['t'] }],
      ['EXPLAIN ANALYZE DELETE FROM t', { kind: 'DELETE', writes: true, innerKinds: ['DELETE'], hasWhere: false }],
      ['EXPLAIN (ANALYZE, FORMAT JSON) UPDATE t SET a = 1 WHERE id = 2', { kind: 'UPDATE', writes: true, hasWhere: true }],
      ['EXPLAIN (ANALYZE true, BUFFERS) INSERT INTO t VALUES (1)', { kind: 'INSERT', writes: true }],
      ["EXPLAIN (ANALYZE 'on') DELETE FROM t", { kind: 'DELETE' }],
      ['EXPLAIN (ANALYZE 1) DELETE FROM t', { kind: 'DELETE' }],
      ['EXPLAIN (ANALYZE false) DELETE FROM t', { kind: 'EXPLAIN', writes: false }],
      ["EXPLAIN (ANALYZE 'off') DELETE FROM t", { kind: 'EXPLAIN', writes: false }],
      ['EXPLAIN (ANALYZE 0) DELETE FROM t', { kind: 'EXPLAIN', writes: false }],
      ['EXPLAIN ANALYZE SELECT * FROM t', { kind: 'SELECT', writes: false, innerKinds: ['SELECT'] }],
      ["EXPLAIN ANALYZE SELECT nextval('s')", { kind: 'SELECT', writes: true }],
      ["EXPLAIN SELECT nextval('s')", { kind: 'EXPLAIN', writes: false, functions: ['nextval'] }],
      ['EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', { kind: 'DELETE', writes: true }],
      ['EXPLAIN WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', { kind: 'EXPLAIN', writes: false, innerKinds: ['DELETE'] }],
      ['EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1', { kind: 'CREATE', writes: true }],
      ['EXPLAIN ANALYZE EXECUTE p(1)', { kind: 'EXECUTE', writes: true, preparedName: 'p' }],
    ]);
  });

  describe('COPY', () => {
    table([
      ["COPY t TO PROGRAM 'gzip > /tmp/t.gz'", { kind: 'COPY', program: true, writes: true, copyDirection: 'to' }],
      ["COPY t FROM PROGRAM 'curl http://x'", { kind: 'COPY', program: true, writes: true, copyDirection: 'from' }],
      ['COPY t FROM STDIN', { kind: 'COPY', program: false, writes: true, copyDirection: 'from', tables: ['t'] }],
      ["COPY t FROM '/etc/passwd'", { kind: 'COPY', writes: true, copyDirection: 'from' }],
      ['COPY t (a, b) TO STDOUT WITH (FORMAT csv)', { kind: 'COPY', writes: false, copyDirection: 'to' }],
      ['COPY (SELECT a FROM t WHERE b > 1) TO STDOUT', { kind: 'COPY', writes: false, copyDirection: 'to', innerKinds: ['SELECT'], tables: ['t'] }],
      ["COPY t TO '/tmp/out.csv'", { kind: 'COPY', writes: true, copyDirection: 'to' }],
      ["COPY (SELECT nextval('s')) TO STDOUT", { kind: 'COPY', writes: true }],
      ['COPY (DELETE FROM t RETURNING *) TO STDOUT', { kind: 'DELETE', writes: true, copyDirection: 'to', hasWhere: false }],
      // Options as parsed (masking reads the format from them, never from the text).
      ["COPY t TO STDOUT CSV HEADER QUOTE AS '|' FORCE QUOTE *", { copyOptions: { format: 'csv', header: 'true', quote: '|', force_quote: '*' } }],
      [
        "COPY t TO STDOUT (FORMAT 'csv', DELIMITER E'\\t', FORCE_QUOTE (a, b), ENCODING 'SJIS', NULL 'x', HEADER)",
        { copyOptions: { format: 'csv', delimiter: '\t', force_quote: 'a,b', encoding: 'SJIS', null: 'x', header: '' } },
      ],
      ['COPY t TO STDOUT WITH BINARY', { copyOptions: { format: 'binary' } }],
    ]);
  });

  it('a COPY without options has none, whatever its text says (a column named csv)', () => {
    expect(one('COPY (SELECT a AS csv, b AS "DELIMITER" FROM t) TO STDOUT').copyOptions).toEqual({});
  });

  describe('opaque code, prepared statements, rules', () => {
    table([
      ['DO $$BEGIN DELETE FROM t; END$$', { kind: 'DO', writes: true }],
      ["DO LANGUAGE plpgsql 'BEGIN NULL; END'", { kind: 'DO', writes: true }],
      ['CALL archive_orders(30)', { kind: 'CALL', writes: true, functions: ['archive_orders'] }],
      ['PREPARE p(int) AS DELETE FROM t WHERE id = $1', { kind: 'PREPARE', writes: true, innerKinds: ['DELETE'], preparedName: 'p', tables: ['t'], hasWhere: true }],
      ['PREPARE q AS SELECT ssn FROM customers', { kind: 'PREPARE', writes: false, innerKinds: ['SELECT'], preparedName: 'q' }],
      ['PREPARE w AS WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', { kind: 'PREPARE', writes: true, innerKinds: ['DELETE'] }],
      ["PREPARE f AS SELECT pg_terminate_backend(1)", { kind: 'PREPARE', writes: true, innerKinds: ['SELECT'] }],
      ['EXECUTE p(1)', { kind: 'EXECUTE', preparedName: 'p', writes: true, tables: [] }],
      ['DEALLOCATE p', { kind: 'DEALLOCATE', preparedName: 'p', writes: false }],
      ['DEALLOCATE PREPARE p', { kind: 'DEALLOCATE', preparedName: 'p' }],
      ['DEALLOCATE ALL', { kind: 'DEALLOCATE', preparedName: undefined }],
      ['CREATE RULE r AS ON INSERT TO t DO ALSO (DELETE FROM u; NOTIFY x)', { kind: 'CREATE_RULE', writes: true, innerKinds: ['DELETE', 'NOTIFY'], tables: ['t', 'u'] }],
      ['CREATE RULE r AS ON SELECT TO t DO INSTEAD SELECT * FROM u', { kind: 'CREATE_RULE', writes: true, innerKinds: ['SELECT'] }],
      ['CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING', { kind: 'CREATE_RULE', writes: true, innerKinds: [] }],
      ['DECLARE c CURSOR FOR SELECT ssn FROM customers', { kind: 'DECLARE', writes: false, innerKinds: ['SELECT'], cursorName: 'c', tables: ['customers'] }],
      ['FETCH 10 FROM c', { kind: 'FETCH', writes: false, cursorName: 'c' }],
      ['MOVE NEXT IN c', { kind: 'FETCH', cursorName: 'c' }],
      ['CLOSE c', { kind: 'CLOSE', cursorName: 'c' }],
      ['CLOSE ALL', { kind: 'CLOSE', cursorName: 'all' }],
    ]);
  });

  describe('SELECT INTO is CREATE TABLE AS', () => {
    table([
      ['SELECT a INTO newt FROM t', { kind: 'CREATE', writes: true, innerKinds: ['SELECT'], tables: ['newt', 't'] }],
      ['SELECT * INTO TEMP scratch FROM t', { kind: 'CREATE', writes: true }],
      ['CREATE TABLE n AS SELECT * FROM customers', { kind: 'CREATE', writes: true, innerKinds: ['SELECT'], tables: ['customers', 'n'] }],
      ['CREATE MATERIALIZED VIEW mv AS SELECT * FROM t', { kind: 'CREATE', writes: true }],
    ]);
  });

  describe('DML', () => {
    table([
      ['INSERT INTO t (a) VALUES (1)', { kind: 'INSERT', writes: true, hasWhere: true, tables: ['t'] }],
      ['INSERT INTO t (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = excluded.b', { kind: 'INSERT', writes: true, tables: ['t'] }],
      ['INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING', { kind: 'INSERT', writes: true }],
      ['INSERT INTO archive SELECT * FROM orders WHERE created < now()', { kind: 'INSERT', tables: ['archive', 'orders'] }],
      ['UPDATE t SET a = 1', { kind: 'UPDATE', writes: true, hasWhere: false }],
      ['UPDATE t SET a = 1 WHERE id = 2', { kind: 'UPDATE', hasWhere: true }],
      ['UPDATE t SET a = 1 WHERE true', { kind: 'UPDATE', hasWhere: false }],
      ['UPDATE t SET a = 1 WHERE 1 = 1', { kind: 'UPDATE', hasWhere: false }],
      ['UPDATE t SET a = 1 WHERE CURRENT OF c', { kind: 'UPDATE', hasWhere: true }],
      ['UPDATE t SET a = u.x FROM u WHERE t.id = u.id', { kind: 'UPDATE', tables: ['t', 'u'], hasWhere: true }],
      ['DELETE FROM t', { kind: 'DELETE', writes: true, hasWhere: false }],
      ['DELETE FROM t USING u WHERE t.id = u.id', { kind: 'DELETE', tables: ['t', 'u'], hasWhere: true }],
      ['DELETE FROM ONLY public.t WHERE id IN (SELECT id FROM stale)', { kind: 'DELETE', tables: ['public.t', 'stale'], hasWhere: true }],
      ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)',
        { kind: 'MERGE', writes: true, hasWhere: true, tables: ['t', 's'] }],
      ['MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE', { kind: 'MERGE', hasWhere: false }],
    ]);
  });

  describe('DDL, privileges and maintenance', () => {
    table([
      ['GRANT SELECT ON customers, public.orders TO bob', { kind: 'GRANT', writes: true, tables: ['customers', 'public.orders'] }],
      ['GRANT admin TO bob', { kind: 'GRANT', writes: true }],
      ['REVOKE ALL ON customers FROM bob', { kind: 'REVOKE', writes: true, tables: ['customers'] }],
      ['REVOKE admin FROM bob', { kind: 'REVOKE', writes: true }],
      ['TRUNCATE a, b.c', { kind: 'TRUNCATE', writes: true, tables: ['a', 'b.c'] }],
      ['DROP TABLE IF EXISTS a, s.b CASCADE', { kind: 'DROP', writes: true, tables: ['a', 's.b'] }],
      ['DROP VIEW v', { kind: 'DROP', tables: ['v'] }],
      ['DROP FUNCTION f(int)', { kind: 'DROP', writes: true, tables: [] }],
      ['DROP ROLE bob', { kind: 'DROP', writes: true }],
      ['DROP DATABASE prod', { kind: 'DROP', writes: true }],
      ['ALTER TABLE a ADD COLUMN x int', { kind: 'ALTER', writes: true, tables: ['a'] }],
      ['ALTER TABLE a RENAME TO b', { kind: 'ALTER', writes: true, tables: ['a'] }],
      ['ALTER ROLE bob SUPERUSER', { kind: 'ALTER', writes: true }],
      ["ALTER SYSTEM SET work_mem = '1GB'", { kind: 'ALTER', writes: true }],
      ['CREATE TABLE x (id int REFERENCES y (id))', { kind: 'CREATE', writes: true, tables: ['x', 'y'] }],
      ['CREATE INDEX ON t (upper(name))', { kind: 'CREATE', writes: true, functions: ['upper'] }],
      ['CREATE VIEW v AS SELECT a FROM t', { kind: 'CREATE', writes: true, innerKinds: ['SELECT'] }],
      ["CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", { kind: 'CREATE', writes: true }],
      ['CREATE EXTENSION dblink', { kind: 'CREATE', writes: true }],
      ["COMMENT ON TABLE t IS 'x'", { kind: 'COMMENT', writes: true, tables: ['t'] }],
      ['REFRESH MATERIALIZED VIEW mv', { kind: 'REFRESH', writes: true, tables: ['mv'] }],
      ['VACUUM (ANALYZE) a, b', { kind: 'VACUUM', writes: true, tables: ['a', 'b'] }],
      ['VACUUM FULL', { kind: 'VACUUM', writes: true }],
      ['ANALYZE a', { kind: 'ANALYZE', writes: true, tables: ['a'] }],
      ['LOCK TABLE a IN ACCESS EXCLUSIVE MODE', { kind: 'LOCK', writes: true, tables: ['a'] }],
      ['CHECKPOINT', { kind: 'OTHER', writes: true }],
      ["LOAD 'plugin'", { kind: 'OTHER', writes: true }],
      ['REINDEX TABLE t', { kind: 'OTHER', writes: true }],
    ]);
  });

  describe('session state', () => {
    table([
      ['SET ROLE admin', { kind: 'SET', writes: true, setting: 'role' }],
      ['SET LOCAL ROLE admin', { kind: 'SET', writes: true, setting: 'role' }],
      ["SET SESSION AUTHORIZATION 'bob'", { kind: 'SET', writes: true, setting: 'session_authorization' }],
      ['SET search_path = evil, public', { kind: 'SET', writes: true, setting: 'search_path' }],
      ['SET standard_conforming_strings = off', { kind: 'SET', writes: true }],
      ['SET statement_timeout = 5000', { kind: 'SET', writes: false, setting: 'statement_timeout' }],
      ["SET TIME ZONE 'UTC'", { kind: 'SET', writes: false, setting: 'timezone' }],
      ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', { kind: 'SET', writes: false, setting: 'transaction' }],
      ['SET CONSTRAINTS ALL DEFERRED', { kind: 'SET', writes: false }],
      ['RESET ROLE', { kind: 'RESET', writes: true, setting: 'role' }],
      ['RESET ALL', { kind: 'RESET', writes: true, setting: 'all' }],
      ['RESET work_mem', { kind: 'RESET', writes: false, setting: 'work_mem' }],
      ['SHOW search_path', { kind: 'SHOW', writes: false, setting: 'search_path' }],
      ['BEGIN', { kind: 'TRANSACTION', writes: false }],
      ['START TRANSACTION READ ONLY', { kind: 'TRANSACTION', writes: false }],
      ['COMMIT', { kind: 'TRANSACTION' }],
      ['ROLLBACK TO SAVEPOINT a', { kind: 'TRANSACTION' }],
      ['LISTEN ch', { kind: 'LISTEN', writes: false }],
      ["NOTIFY ch, 'payload'", { kind: 'NOTIFY', writes: true }],
      ['UNLISTEN *', { kind: 'UNLISTEN', writes: false }],
      ['DISCARD ALL', { kind: 'DISCARD', writes: true }],
      ['DISCARD PLANS', { kind: 'DISCARD', writes: false }],
    ]);
  });
});

describe('functions', () => {
  const writers = [
    'pg_terminate_backend(123)', 'pg_cancel_backend(123)', "set_config('role', 'admin', false)",
    "pg_catalog.set_config('search_path', 'x', true)", "lo_import('/etc/passwd')", "lo_export(16400, '/tmp/x')",
    'lo_unlink(16400)', "pg_read_file('/etc/passwd')", "pg_read_binary_file('x')", "pg_ls_dir('.')",
    "dblink('host=x', 'select 1')", "dblink_exec('host=x', 'drop table t')", "nextval('s')", "setval('s', 1)",
    'pg_reload_conf()', 'pg_rotate_logfile()', 'pg_promote()', 'txid_current()', 'pg_advisory_lock(1)',
    'pg_try_advisory_xact_lock(1)', "query_to_xml('delete from t returning *', true, false, '')", "pg_notify('c', 'x')",
    "ts_stat('select to_tsvector(ssn) from customers')", "ts_rewrite('a'::tsquery, 'select q, s from aliases')",
  ];
  it.each(writers)('SELECT %s writes', (call) => {
    const s = one(`SELECT ${call}`);
    expect(s.kind).toBe('SELECT');
    expect(s.writes).toBe(true);
    expect(s.functions).toHaveLength(1);
  });

  it.each(['lower(name)', 'now()', 'count(*)', 'coalesce(a, b)', "to_char(now(), 'YYYY')", 'json_agg(t)'])('SELECT %s does not write', (call) => {
    expect(one(`SELECT ${call} FROM t`).writes).toBe(false);
  });

  it('finds write functions anywhere in the statement', () => {
    expect(one('SELECT 1 FROM pg_stat_activity WHERE pg_terminate_backend(pid)').writes).toBe(true);
    expect(one("SELECT * FROM pg_ls_dir('.')").writes).toBe(true);
    expect(one("SELECT (SELECT nextval('s'))").writes).toBe(true);
  });

  it('lists every function, lowercase, qualified as written', () => {
    expect(one('SELECT Lower(x), pg_catalog.UPPER(y), public.my_fn(z) FROM t').functions).toEqual(['lower', 'pg_catalog.upper', 'public.my_fn']);
  });

  it('matches the write list on the unqualified name', () => {
    expect(isWriteFunction('other_schema.nextval')).toBe(true);
    expect(isWriteFunction('dblink_connect')).toBe(true);
    expect(isWriteFunction('nextval_report')).toBe(false);
    expect(isWriteFunction('upper')).toBe(false);
  });
});

describe('statement texts', () => {
  it('classifies every statement of a multi-statement string, with its own text', () => {
    const c = classifySql('SELECT 1; DELETE FROM t;\n  UPDATE t SET a = 1 WHERE id = 2;');
    expect(c.error).toBeUndefined();
    expect(c.statements.map((s) => [s.kind, s.text])).toEqual([
      ['SELECT', 'SELECT 1'],
      ['DELETE', 'DELETE FROM t'],
      ['UPDATE', 'UPDATE t SET a = 1 WHERE id = 2'],
    ]);
    expect(c.statements[1]?.hasWhere).toBe(false);
  });

  it('is not fooled by SQL inside comments', () => {
    const c = classifySql('/* DROP TABLE x; */ SELECT 1 -- ; DELETE FROM t\n');
    expect(c.statements.map((s) => s.kind)).toEqual(['SELECT']);
    expect(c.statements[0]?.tables).toEqual([]);
  });

  it('is not fooled by semicolons inside dollar-quoted and escaped strings', () => {
    const c = classifySql("SELECT $$a; DROP TABLE x$$, $tag$;DELETE FROM t;$tag$, E'it\\'s; DROP TABLE y'");
    expect(c.statements.map((s) => s.kind)).toEqual(['SELECT']);
    expect(c.statements[0]?.tables).toEqual([]);
  });

  it('cuts statement texts at character, not byte, offsets', () => {
    const c = classifySql("SELECT 'héllo'; SELECT '日本😀' ; SELECT 3");
    expect(c.statements.map((s) => s.text)).toEqual(["SELECT 'héllo'", "SELECT '日本😀' ", 'SELECT 3']);
  });

  it('keeps the whole text on the classification', () => {
    const text = '  SELECT 1;  ';
    expect(classifySql(text).text).toBe(text);
  });
});

describe('unparseable input, never a throw', () => {
  it('reports the parser error and position as one UNPARSEABLE statement', () => {
    const c = classifySql('SELECT * FROM');
    expect(c.error).toEqual({ message: 'syntax error at end of input', cursorPosition: 13, code: 'SQL_SYNTAX' });
    expect(c.statements).toHaveLength(1);
    expect(c.statements[0]).toMatchObject({ kind: 'UNPARSEABLE', writes: true, hasWhere: false, text: 'SELECT * FROM' });
  });

  it('refuses the whole text when one statement is bad', () => {
    const c = classifySql('SELECT 1; SELEC 2');
    expect(c.error?.message).toBe('syntax error at or near "SELEC"');
    expect(c.error?.cursorPosition).toBe(10);
    expect(c.statements.map((s) => s.kind)).toEqual(['UNPARSEABLE']);
  });

  it('reports the error position in string indexes', () => {
    const text = "SELECT '😀é' FROM";
    expect(classifySql(text).error?.cursorPosition).toBe(text.length);
  });

  it.each([
    ['an unterminated string', "SELECT 'abc", 'SQL_SYNTAX'],
    ['an unterminated comment', 'SELECT 1 /* x', 'SQL_SYNTAX'],
    ['a NUL character (the parser would stop reading there)', 'SELECT 1\u0000; DROP TABLE t', 'SQL_INVALID_TEXT'],
    ['a lone surrogate', 'SELECT \ud800', 'SQL_INVALID_TEXT'],
    ['nesting deeper than the parser allows', `SELECT ${'('.repeat(30000)}1${')'.repeat(30000)}`, 'SQL_SYNTAX'],
    ['text over the length limit', `SELECT ${'1+'.repeat(MAX_SQL_LENGTH / 2)}1`, 'SQL_TOO_LONG'],
  ])('%s', (_what, text, code) => {
    const c = classifySql(text);
    expect(c.error?.code).toBe(code);
    expect(c.statements.map((s) => s.kind)).toEqual(['UNPARSEABLE']);
  });

  it('walks deep but valid trees or refuses them, without throwing', () => {
    const c = classifySql(`SELECT ${'-'.repeat(3000).split('').join(' ')} 1`);
    expect(['SELECT', 'UNPARSEABLE']).toContain(c.statements[0]?.kind);
  });

  it('returns no statements for empty, blank and comment-only text', () => {
    for (const text of ['', '   ', '-- nothing\n', '/* nothing */']) expect(classifySql(text).statements).toEqual([]);
  });

  it('returns frozen results', () => {
    const c = classifySql('SELECT a FROM t');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.statements[0]?.tables)).toBe(true);
  });
});
