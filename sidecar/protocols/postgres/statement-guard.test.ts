import { beforeAll, describe, expect, it } from '@jest/globals';
import { initSqlParser, SqlClassifier } from '../../../core/sql/classify.js';
import { MAX_BODIES_PER_NAME, PreparedStatements, preparedBodyText } from './prepared-statements.js';
import { bindNeedsDecision, expandWholeRowPredicates, guardSql, type GuardedSql } from './statement-guard.js';

let classifier: SqlClassifier;
beforeAll(async () => {
  await initSqlParser();
  classifier = new SqlClassifier();
});

const guard = (text: string, prepared: PreparedStatements, parseName?: string): ReturnType<typeof guardSql> =>
  guardSql(classifier.classify(text), prepared, classifier, parseName);

const kinds = (g: ReturnType<typeof guardSql>): string[] => {
  if (g.refused) throw new Error(`refused: ${g.message}`);
  return g.statements.map((s) => s.kind);
};

describe('preparedBodyText', () => {
  it.each([
    ['PREPARE x AS DELETE FROM t', 'DELETE FROM t'],
    ['prepare x (int, text) as select $1, $2', 'select $1, $2'],
    ['PREPARE "as" ("numeric"(10, 2)) AS /* AS */ UPDATE t SET a = 1', '/* AS */ UPDATE t SET a = 1'],
    ['PREPARE é AS SELECT \'naïve AS\'', "SELECT 'naïve AS'"],
    ['/* c */ PREPARE x AS SELECT 1', 'SELECT 1'],
  ])('%s → %s', (text, body) => {
    expect(preparedBodyText(text)).toBe(body);
  });

  it('is undefined for text that is not a PREPARE', () => {
    expect(preparedBodyText('SELECT 1 AS x')).toBeUndefined();
    expect(preparedBodyText('PREPARE x')).toBeUndefined();
  });
});

describe('guardSql', () => {
  it('decides EXECUTE on the PREPAREd body, in the same text and in later ones', () => {
    const p = new PreparedStatements();
    expect(kinds(guard('PREPARE d AS DELETE FROM t; EXECUTE d', p))).toEqual(['PREPARE', 'DELETE']);
    const prep = guard('PREPARE d AS DELETE FROM t', p) as GuardedSql;
    expect(p.get('d')).toBeUndefined();
    prep.commit();
    expect(kinds(guard('EXECUTE d', p))).toEqual(['DELETE']);
    expect(kinds(guard('EXPLAIN ANALYZE EXECUTE d', p))).toEqual(['DELETE']);
  });

  it('refuses what it cannot decide: unparseable text, unknown names, EXPLAIN of an unnamed EXECUTE', () => {
    const p = new PreparedStatements();
    expect(guard('SELEC 1', p)).toMatchObject({ refused: true, rule: 'unparseable' });
    expect(guard('EXECUTE nope', p)).toMatchObject({ refused: true, rule: 'unknown-prepared-statement' });
    expect(guard('CREATE TABLE y AS EXECUTE nope', p)).toMatchObject({ refused: true, rule: 'unknown-prepared-statement' });
  });

  it('forgets on DEALLOCATE, DEALLOCATE ALL, DISCARD ALL (also within one text)', () => {
    const p = new PreparedStatements();
    (guard('PREPARE a AS SELECT 1', p) as GuardedSql).commit();
    (guard('PREPARE b AS SELECT 2', p) as GuardedSql).commit();
    expect(guard('DEALLOCATE a; EXECUTE a', p)).toMatchObject({ refused: true });
    (guard('DEALLOCATE a', p) as GuardedSql).commit();
    expect(p.get('a')).toBeUndefined();
    expect(p.get('b')).toBeDefined();
    (guard('DISCARD ALL', p) as GuardedSql).commit();
    expect(p.size).toBe(0);
    (guard('PREPARE c AS SELECT 3', p) as GuardedSql).commit();
    (guard('DEALLOCATE ALL', p) as GuardedSql).commit();
    expect(p.size).toBe(0);
  });

  it('keeps every candidate body of a reused name and decides on all of them', () => {
    const p = new PreparedStatements();
    (guard('PREPARE x AS SELECT 1', p) as GuardedSql).commit();
    (guard('PREPARE x AS DELETE FROM t', p) as GuardedSql).commit();
    expect(kinds(guard('EXECUTE x', p))).toEqual(['SELECT', 'DELETE']);
    for (let i = 2; i < MAX_BODIES_PER_NAME; i++) (guard('PREPARE x AS SELECT 1', p) as GuardedSql).commit();
    expect(guard('PREPARE x AS SELECT 1', p)).toMatchObject({ refused: true, rule: 'prepared-statement-limit' });
  });

  it('registers named Parse statements as decided, SQL PREPAREs as to be decided at Bind', () => {
    const p = new PreparedStatements();
    (guard('SELECT $1::int', p, 'q1') as GuardedSql).commit();
    (guard('PREPARE s AS DELETE FROM t', p) as GuardedSql).commit();
    expect(bindNeedsDecision(p, 'q1')).toBe('known');
    expect(bindNeedsDecision(p, '')).toBe('known');
    expect(bindNeedsDecision(p, 'never')).toBe('unknown');
    const s = bindNeedsDecision(p, 's');
    expect(typeof s === 'object' && s.bodies[0]?.statements[0]?.kind).toBe('DELETE');
  });

  it('gives the policy the effective statements as facts', () => {
    const p = new PreparedStatements();
    const g = guard('SELECT a FROM t WHERE b = 1', p) as GuardedSql;
    expect(g.facts.text).toBe('SELECT a FROM t WHERE b = 1');
    expect(g.facts.statements[0]).toMatchObject({ kind: 'SELECT', tables: ['t'], hasWhere: true });
  });
});

describe('expandWholeRowPredicates', () => {
  const masked = (table: string | undefined): string[] =>
    table === undefined || table === 'customers' || table === 'public.customers' ? ['ssn', 'card'] : [];
  const predsOf = (text: string): unknown => {
    const g = guard(text, new PreparedStatements());
    if (g.refused) throw new Error(g.message);
    return expandWholeRowPredicates(g.facts, masked).statements.map((s) => s.predicateColumns);
  };

  it.each([
    ["SELECT id FROM customers c WHERE c::text LIKE '%987-%'"],
    ["SELECT id FROM customers c WHERE (c).ssn LIKE '9%'"],
    ["SELECT id FROM customers c WHERE row_to_json(c)->>'ssn' LIKE '9%'"],
    ['SELECT id FROM customers c ORDER BY c'],
    ["SELECT id FROM customers NATURAL JOIN (VALUES ('x')) v(ssn)"],
  ])('a whole-row predicate names the masked columns of its table: %s', (text) => {
    expect(predsOf(text)).toEqual([
      [
        { table: 'customers', column: '*' },
        { table: 'customers', column: 'ssn' },
        { table: 'customers', column: 'card' },
      ],
    ]);
  });

  it('leaves other predicates and other tables alone (the same object when nothing changes)', () => {
    const g = guard("SELECT id FROM orders o WHERE o::text LIKE 'x' AND id > 1", new PreparedStatements());
    if (g.refused) throw new Error(g.message);
    expect(expandWholeRowPredicates(g.facts, masked)).toBe(g.facts);
    const plain = guard("SELECT id FROM customers WHERE name = 'x'", new PreparedStatements());
    if (plain.refused) throw new Error(plain.message);
    expect(expandWholeRowPredicates(plain.facts, masked)).toBe(plain.facts);
  });
});
