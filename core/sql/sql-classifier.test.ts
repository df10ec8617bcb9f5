// The caching classifier: exact hits, shape hits for statements that differ
// only in literals, and the keys it must never share.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { classifySql, initSqlParser, SqlClassifier } from './classify.js';
import { classifyDetailed } from './classify-text.js';

beforeAll(async () => {
  await initSqlParser();
});

describe('exact cache', () => {
  it('returns the cached classification for a repeated text', () => {
    const c = new SqlClassifier();
    const a = c.classify('SELECT * FROM customers WHERE id = 7');
    const b = c.classify('SELECT * FROM customers WHERE id = 7');
    expect(b).toBe(a);
    expect(c.stats()).toMatchObject({ hits: 1, exactHits: 1, misses: 1, size: 1 });
  });

  it('caches unparseable texts too, still unparseable', () => {
    const c = new SqlClassifier();
    c.classify('SELECT * FROM');
    const again = c.classify('SELECT * FROM');
    expect(again.statements[0]?.kind).toBe('UNPARSEABLE');
    expect(c.stats().exactHits).toBe(1);
  });

  it('is bounded (least recently used goes first)', () => {
    const c = new SqlClassifier({ maxEntries: 2, shapeCache: false });
    c.classify('SELECT 1');
    c.classify('SELECT 2');
    c.classify('SELECT 1'); // refresh
    c.classify('SELECT 3'); // evicts SELECT 2
    expect(c.stats().size).toBe(2);
    c.classify('SELECT 1');
    expect(c.stats().exactHits).toBe(2);
    c.classify('SELECT 2');
    expect(c.stats().misses).toBe(4);
  });

  it('caches nothing with maxEntries 0', () => {
    const c = new SqlClassifier({ maxEntries: 0 });
    c.classify('SELECT 1');
    c.classify('SELECT 1');
    expect(c.stats()).toMatchObject({ hits: 0, misses: 2, size: 0, shapeSize: 0 });
  });

  it('does not cache texts over the size limit', () => {
    const c = new SqlClassifier({ maxCachedTextLength: 20 });
    const long = `SELECT ${'1 + '.repeat(10)}1`;
    c.classify(long);
    c.classify(long);
    expect(c.stats().exactHits).toBe(0);
  });
});

describe('shape cache', () => {
  const pgbench = (aid: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`;

  it('shares a classification between statements that differ only in literals (pgbench -S)', () => {
    const c = new SqlClassifier();
    c.classify(pgbench(1));
    const hit = c.classify(pgbench(98765));
    expect(c.stats()).toMatchObject({ shapeHits: 1, misses: 1 });
    expect(hit).toEqual(classifySql(pgbench(98765)));
    expect(hit.text).toBe(pgbench(98765));
    expect(hit.statements[0]?.text).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = 98765');
    expect(Object.isFrozen(hit.statements[0])).toBe(true);
  });

  // [primer, probe, shared?]: the probe, classified after the primer, must equal a fresh parse of the probe.
  it.each<[string, string, boolean]>([
    ["SELECT * FROM t WHERE name = 'bob' AND age > 30", "SELECT * FROM t WHERE name = 'a much longer name' AND age > -7.5", true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = E'x\\';DELETE FROM t;--'", true],
    ["/* c */ SELECT 1 AS one ;  ", "/* c */ SELECT 22222 AS one ;  ", true],
    ["SELECT 'é' FROM t", "SELECT '日本😀' FROM t", true],
    ['UPDATE accounts SET balance = balance + 5 WHERE id = 3', 'UPDATE accounts SET balance = balance + -100 WHERE id = 99999', true],
    ["INSERT INTO log (msg) VALUES ('a')", "INSERT INTO log (msg) VALUES ('it''s; DROP TABLE log')", true],
    // `$` anywhere: parameters and dollar quoting are never shared.
    ['SELECT * FROM t WHERE a = 1', 'SELECT * FROM t WHERE a = $1', false],
    ['SELECT $$x$$', 'SELECT $$y; DELETE FROM t$$', false],
    // Comments are part of the key: SQL inside one cannot ride on another's entry.
    ['SELECT 1 /* a */', 'SELECT 2 /* ; DROP TABLE t */', false],
    // A UESCAPE string changes which identifier U&"..." names.
    [`SELECT * FROM U&"t!0061" UESCAPE '!'`, `SELECT * FROM U&"t!0061" UESCAPE '#'`, false],
    // The classification read a literal (EXPLAIN's ANALYZE argument): never shared.
    ["EXPLAIN (ANALYZE 'off') DELETE FROM t", "EXPLAIN (ANALYZE 'on') DELETE FROM t", false],
    ['EXPLAIN (ANALYZE 0) DELETE FROM t', 'EXPLAIN (ANALYZE 1) DELETE FROM t', false],
    ['SELECT a, b FROM t ORDER BY 1', 'SELECT a, b FROM t ORDER BY 2', false],
    // Several statements: not shared by shape.
    ['SELECT 1; SELECT 2', 'SELECT 3; SELECT 4', false],
    // The probe does not parse: no entry may answer for it.
    ['SELECT * FROM t WHERE a = 1', "SELECT * FROM t WHERE a = 'unterminated", false],
    ['SELECT * FROM t WHERE a = 1', 'SELECT * FROM t WHERE a = 1 1', false],
  ])('%s then %s', (primer, probe, shared) => {
    const c = new SqlClassifier();
    c.classify(primer);
    const got = c.classify(probe);
    expect(got).toEqual(classifySql(probe));
    expect(c.stats().shapeHits).toBe(shared ? 1 : 0);
  });

  it('never stores a classification that read a literal under a shape', () => {
    for (const text of ["EXPLAIN (ANALYZE 'off') DELETE FROM t", 'EXPLAIN (ANALYZE 1) DELETE FROM t', 'SELECT a FROM t ORDER BY 1', "COPY t TO STDOUT (FORMAT 'csv')"]) {
      expect(classifyDetailed(text).literalSensitive).toBe(true);
      const c = new SqlClassifier();
      c.classify(text);
      expect(c.stats().shapeSize).toBe(0);
    }
    const plain = new SqlClassifier();
    plain.classify('EXPLAIN ANALYZE DELETE FROM t WHERE id = 1');
    expect(plain.stats().shapeSize).toBe(1);
  });

  it('keeps what the literals decide apart: EXPLAIN ANALYZE off vs on', () => {
    const c = new SqlClassifier();
    expect(c.classify("EXPLAIN (ANALYZE 'off') DELETE FROM t").statements[0]?.kind).toBe('EXPLAIN');
    expect(c.classify("EXPLAIN (ANALYZE 'on') DELETE FROM t").statements[0]?.kind).toBe('DELETE');
  });

  it('keeps COPY formats apart (masking parses the data by them)', () => {
    const c = new SqlClassifier();
    expect(c.classify("COPY (SELECT a, b FROM t) TO STDOUT (FORMAT 'text')").statements[0]?.copyOptions).toEqual({ format: 'text' });
    expect(c.classify("COPY (SELECT a, b FROM t) TO STDOUT (FORMAT 'csv')").statements[0]?.copyOptions).toEqual({ format: 'csv' });
  });

  it('keeps UESCAPE-dependent identifiers apart', () => {
    const c = new SqlClassifier();
    expect(c.classify(`SELECT * FROM U&"t!0061" UESCAPE '!'`).statements[0]?.tables).toEqual(['ta']);
    expect(c.classify(`SELECT * FROM U&"t!0061" UESCAPE '#'`).statements[0]?.tables).toEqual(['t!0061']);
  });

  it('can be turned off', () => {
    const c = new SqlClassifier({ shapeCache: false });
    c.classify(pgbench(1));
    c.classify(pgbench(2));
    expect(c.stats()).toMatchObject({ shapeHits: 0, misses: 2, shapeSize: 0 });
  });

  it('shares across many literals with one entry', () => {
    const c = new SqlClassifier({ maxEntries: 10 });
    for (let i = 0; i < 200; i++) expect(c.classify(pgbench(i)).statements[0]?.tables).toEqual(['pgbench_accounts']);
    expect(c.stats()).toMatchObject({ misses: 1, shapeHits: 199, shapeSize: 1 });
  });
});
