import { beforeAll, describe, expect, it } from '@jest/globals';
import { compileMasking } from '../../../core/masking/masker.js';
import { classifySql, initSqlParser } from '../../../core/sql/classify.js';
import type { SqlStatement } from '../../../core/sql/types.js';
import { mergeForMasking, resultLineage, returnsRows, UNKNOWN_LINEAGE } from './masking-lineage.js';
import { MAX_HISTORY_CHARS, PreparedStatements } from './prepared-statements.js';
import { planRowMasking, type RowField } from './row-masker.js';

beforeAll(async () => {
  await initSqlParser();
});

const stmts = (sql: string): SqlStatement[] => {
  const c = classifySql(sql);
  if (c.error) throw new Error(c.error.message);
  return [...c.statements];
};
const one = (sql: string): SqlStatement => stmts(sql)[0] as SqlStatement;

const masking = compileMasking({ columns: [{ table: 'customers', column: 'ssn' }, { table: 'customers', column: 'card', strategy: 'partial', keep: 4 }] });
/** Computed text columns (table OID 0), as a RowDescription announces them. */
const computed = (n: number): RowField[] =>
  Array.from({ length: n }, (_, i) => ({ name: `c${i}`, tableOid: 0, attnum: 0, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 }));
const actions = (s: SqlStatement | undefined, n: number): Array<string | undefined> =>
  planRowMasking({ fields: computed(n), lineage: new Map(), outputColumns: s?.outputColumns, masking }).map((a) =>
    a === undefined ? undefined : a.kind === 'rule' ? a.strategy : a.kind,
  );

describe('mergeForMasking', () => {
  it('one candidate is itself; duplicates (same text) are one', () => {
    const s = one('SELECT reverse(ssn) FROM customers');
    expect(mergeForMasking([s])).toBe(s);
    expect(mergeForMasking([s, one('SELECT reverse(ssn) FROM customers')])).toBe(s);
    expect(mergeForMasking([])).toBeUndefined();
  });

  it('a harmless candidate beside a computed one masks like the computed one, position by position', () => {
    const real = one('SELECT reverse(ssn) AS r, upper(name) AS n FROM customers');
    const decoy = one("SELECT 'x' AS r, 'y' AS n");
    expect(actions(decoy, 2)).toEqual([undefined, undefined]);
    const merged = mergeForMasking([decoy, real]);
    expect(actions(merged, 2)).toEqual(['redact', undefined]);
  });

  it('candidates of different widths merge into one star over every reference', () => {
    const merged = mergeForMasking([one("SELECT 'x' AS r"), one('SELECT id, reverse(card) FROM customers')]);
    expect(merged?.outputColumns).toEqual([{ name: '*', refs: [{ table: 'customers', column: 'id' }, { table: 'customers', column: 'card' }], direct: false, star: true }]);
    expect(actions(merged, 1)).toEqual(['redact']);
  });

  it('is a COPY if any candidate is; options that differ make the format ambiguous', () => {
    const merged = mergeForMasking([one('COPY (SELECT 1) TO STDOUT'), one("COPY (SELECT ssn FROM customers) TO STDOUT WITH (FORMAT csv, DELIMITER '|')")]);
    expect(merged?.kind).toBe('COPY');
    expect(merged?.copyOptions).toEqual({ format: 'ambiguous' });
    const same = mergeForMasking([one('COPY (SELECT 1) TO STDOUT CSV'), one('COPY (SELECT ssn FROM customers) TO STDOUT (FORMAT csv)')]);
    expect(same?.copyOptions).toEqual({ format: 'csv' });
  });

  it('UNKNOWN_LINEAGE masks every computed column with the strictest rule', () => {
    expect(actions(UNKNOWN_LINEAGE, 3)).toEqual(['redact', 'redact', 'redact']);
  });
});

describe('resultLineage (simple Query result sets in order)', () => {
  const plan = (sql: string): Array<string | undefined> => {
    const s = stmts(sql);
    const at = resultLineage(s, s);
    return [0, 1, 2].map((i) => at(i)?.text);
  };

  it('aligns result sets with the statements that certainly return rows', () => {
    expect(plan("PREPARE h AS SELECT 'x' AS r; SELECT reverse(ssn) AS r FROM customers")).toEqual([
      'SELECT reverse(ssn) AS r FROM customers',
      '',
      '',
    ]);
    expect(plan("BEGIN; DECLARE h CURSOR FOR SELECT 1; SELECT 2; SELECT 3; COMMIT")).toEqual(['SELECT 2', 'SELECT 3', '']);
  });

  it('merges every statement when one of several may or may not return rows (SHOW, EXPLAIN, FETCH, EXECUTE)', () => {
    for (const sql of ['SHOW search_path; SELECT reverse(ssn) FROM customers', 'EXPLAIN SELECT 1; SELECT reverse(ssn) FROM customers', 'FETCH ALL FROM c; SELECT reverse(ssn) FROM customers']) {
      const s = stmts(sql);
      const at = resultLineage(s, s);
      expect(at(0)).toBe(at(1));
      expect(actions(at(1), 1)).toEqual(['redact']);
    }
  });

  it('one statement: its own result set if it sends one, UNKNOWN_LINEAGE for any other', () => {
    for (const sql of ['SELECT reverse(ssn) FROM customers', 'SHOW search_path', 'FETCH ALL FROM c']) {
      const [s] = stmts(sql);
      if (s === undefined) throw new Error(sql);
      const masking = { ...s, text: 'masked as' };
      const at = resultLineage([s], [masking]);
      expect([at(0), at(1), at(2)]).toEqual([masking, UNKNOWN_LINEAGE, UNKNOWN_LINEAGE]);
    }
    const [set] = stmts('SET search_path TO public');
    if (set === undefined) throw new Error('SET');
    const at = resultLineage([set], [set]);
    expect([at(0), at(1)]).toEqual([UNKNOWN_LINEAGE, UNKNOWN_LINEAGE]);
  });

  it('a single possible row source takes every result set; more than foreseen get UNKNOWN_LINEAGE', () => {
    const s = stmts('BEGIN; FETCH ALL FROM c; COMMIT');
    const at = resultLineage(s, s);
    expect(at(0)?.kind).toBe('FETCH');
    expect(at(1)).toBe(UNKNOWN_LINEAGE);
  });

  it.each([
    ['SELECT 1', 'yes'],
    ['DELETE FROM t RETURNING id', 'yes'],
    ['DELETE FROM t', 'no'],
    ['SELECT 1 INTO x', 'no'],
    ["PREPARE p AS SELECT 1", 'no'],
    ['DECLARE c CURSOR FOR SELECT 1', 'no'],
    ['SHOW x', 'maybe'],
    ['MOVE ALL IN c', 'maybe'],
    ['CALL p()', 'maybe'],
  ])('%s → %s', (sql, expected) => {
    expect(returnsRows(one(sql))).toBe(expected);
  });
});

describe('PreparedStatements.lineage (history for masking)', () => {
  it('keeps every body a name stood for, even after it was removed or cleared', () => {
    const p = new PreparedStatements();
    const real = one('SELECT reverse(ssn) AS r FROM customers');
    p.add('s', { origin: 'parse', statements: [real] });
    p.remove('s');
    p.add('s', { origin: 'parse', statements: [one("SELECT 'x' AS r")] });
    p.clear();
    expect(p.get('s')).toBeUndefined();
    expect(actions(p.lineage('s'), 1)).toEqual(['redact']);
    expect(p.lineage('never')).toBeUndefined();
  });

  it('the history holds a bounded amount of text: beyond it a name masks as UNKNOWN_LINEAGE', () => {
    const p = new PreparedStatements();
    const small = one('SELECT upper(name) FROM customers');
    p.add('a', { origin: 'parse', statements: [small] });
    p.add('big', { origin: 'parse', statements: [{ ...small, text: 'x'.repeat(MAX_HISTORY_CHARS + 1) }] });
    expect(p.lineage('big')).toBe(UNKNOWN_LINEAGE);
    expect(p.lineage('a')).toBe(small);
  });

  it('a name with too many bodies masks as UNKNOWN_LINEAGE', () => {
    const p = new PreparedStatements();
    for (let i = 0; i < 40; i++) {
      p.add('s', { origin: 'sql', statements: [one(`SELECT ${i} AS a`)] });
      p.remove('s');
    }
    expect(p.lineage('s')).toBe(UNKNOWN_LINEAGE);
  });
});
