// The fast shape key: equal to libpg-query's normalize() on everything it
// accepts (a generated corpus, then seeded fuzzing), and undefined on every
// construct it does not fully understand.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { normalizeSync } from 'libpg-query';
import { initSqlParser } from './classify.js';
import { fastShapeKey } from './fast-shape-key.js';
import { statementGenerator } from './random-statements.js';
import { MAX_SHAPE_TEXT_LENGTH, shapeKey } from './shape-key.js';

beforeAll(async () => {
  await initSqlParser();
});

function normalized(text: string): string | undefined {
  try {
    return normalizeSync(text);
  } catch {
    return undefined;
  }
}

// Statements the scanner must accept; each is compared with normalize().
function corpus(): string[] {
  const out: string[] = [];
  for (let aid = 1; aid <= 100_000; aid += 97) out.push(`SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`);
  for (const delta of [-5000, -4999, -1, 0, 1, 17, 4999, 5000]) {
    const aid = 1 + ((delta + 5000) * 7919) % 100_000;
    out.push(
      `UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid};`,
      `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`,
      `UPDATE pgbench_tellers SET tbalance = tbalance + ${delta} WHERE tid = 7;`,
      `UPDATE pgbench_branches SET bbalance = bbalance + ${delta} WHERE bid = 1;`,
      `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, ${aid}, ${delta}, CURRENT_TIMESTAMP);`,
    );
  }
  const strings = ['', 'a', 'with space', 'x; DELETE FROM t', '-- not a comment', '/* nor this */', 'é', '日本語', '😀 emoji', '"dq"', 'tab\tand\nnewline', '%_'];
  for (const s of strings) {
    out.push(`SELECT * FROM customers WHERE name = '${s}'`, `INSERT INTO log (msg, n) VALUES ('${s}', 1), ('${s}${s}', -2)`);
  }
  for (let n = 1; n <= 40; n += 3) {
    out.push(`SELECT * FROM t WHERE id IN (${Array.from({ length: n }, (_, i) => i * 11).join(', ')})`);
    out.push(`SELECT * FROM t WHERE code IN (${Array.from({ length: n }, (_, i) => `'c${i}'`).join(',')})`);
  }
  out.push(
    'SELECT 1', 'select 1', 'SeLeCt 42 FrOm t', 'SELECT -5', 'SELECT (-5)', 'SELECT 1.5, -1.5, 0.001, 10.0, 123456.789',
    'SELECT 2147483647, 2147483648, -2147483648, 9999999999, 123456789012345678901234567890, 007',
    'SELECT * FROM t1 WHERE c2 = 3 AND "t 3"."c4" = 5', 'SELECT "a""b1", "Weird 9" FROM "T1" WHERE "x1" = 1',
    'SELECT a - 5, a -5, a-5, 5-5, (a)-5, t.a-5, "Q"-5, a[1]-5 FROM t',
    'SELECT 1 FROM t WHERE a =-5 AND b !=-5 AND c <-5 AND d >= -5 AND e <>-5 AND f<=-5',
    'SELECT 1 FROM t WHERE a %-5 = 0 AND b @-5 AND c ||-5 AND d ^-5 AND e = +5 AND f = +-5 AND g =+-5',
    'SELECT 2 * -3, 2*-3.5, 4 / -2, x + -2345 FROM t', 'SELECT a FROM t WHERE b BETWEEN -5 AND -1 OR c NOT BETWEEN 1 AND 2 OR 1 BETWEEN -1 AND 2 OR (d) BETWEEN -3 AND 4',
    'SELECT CASE WHEN a = 1 THEN -2 WHEN a = 2 THEN NULL ELSE -3 END FROM t', 'SELECT a FROM t WHERE NOT -5 < a',
    'SELECT a FROM t LIMIT 10', 'SELECT a FROM t LIMIT -1', 'SELECT a FROM t ORDER BY a LIMIT 10', 'SELECT a FROM t OFFSET 5 LIMIT 10',
    'SELECT a FROM t ORDER BY a OFFSET 5 ROWS FETCH FIRST 3 ROWS ONLY', 'SELECT a FROM t ORDER BY a + 1, b DESC LIMIT 2',
    'SELECT a FROM t WHERE x IS NULL AND y IS NOT NULL AND z = NULL AND v = true AND w IS NOT FALSE AND u = NOT FALSE',
    'INSERT INTO t VALUES (NULL, true, false, DEFAULT)', 'UPDATE t SET a = NULL, b = TRUE WHERE c IS DISTINCT FROM -5',
    'SELECT 1 AS x, t.null, t.true FROM t', 'SELECT ARRAY[-1, 2], a[1:-1], a[2] FROM t',
    "SELECT x ->> 'a', x -> 'b', x @> '{}', x #>> '{a,b}', x ~ 'y', x ~* 'y', x !~ 'y', x || 'z' FROM t",
    "SELECT date '2020-01-01', interval '1 day', interval '1' day, interval '1-2' year to month, timestamp '2020-01-01 00:00'",
    "SELECT '5'::int, 5::text, x::bigint, 'a'::text || 'b' FROM t", 'SELECT f(a => -5), g(b := 5), h(1, -2, 3.5)',
    'SELECT count(*), sum(a) FILTER (WHERE b > 5) FROM t WHERE c LIKE \'a%\' ESCAPE \'!\'',
    'SELECT a FROM t WHERE b = ANY(ARRAY[1, 2]) AND c = ALL(ARRAY[3]) AND EXISTS (SELECT 1 FROM u WHERE u.d = 4)',
    'SELECT a FROM t JOIN u ON t.id = u.id AND u.x = 5 LEFT JOIN v ON v.y = -1 WHERE t.z IN (SELECT w FROM s WHERE q = 7)',
    'SELECT rank() OVER (PARTITION BY a ORDER BY b) FROM t WHERE c = 1', 'SELECT * FROM generate_series(1, 10) g WHERE g > 5',
    'SELECT * FROM t TABLESAMPLE SYSTEM (10) REPEATABLE (1)', 'SELECT a FROM t WHERE b = 1 FOR UPDATE', 'SELECT a FROM t WHERE b = 1 FOR UPDATE OF t SKIP LOCKED',
    'SELECT DISTINCT ON (a) a, b FROM t WHERE c = 1', 'SELECT a FROM t GROUP BY a HAVING count(*) > 1',
    'INSERT INTO t (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = 3 WHERE t.c = 4 RETURNING a + 5',
    'INSERT INTO t (a) SELECT b FROM u WHERE c = 1 ON CONFLICT DO NOTHING', 'DELETE FROM t USING u WHERE t.a = u.a AND u.b = 5 RETURNING t.c + 1',
    'UPDATE t SET a = a + 1, b = (SELECT c FROM u WHERE d = 2) WHERE e = 3 RETURNING *', 'UPDATE t SET a[1] = 5 WHERE b = 6',
    'VALUES (1, \'a\'), (2, \'b\')', "SELECT 1; SELECT 'x';", 'SELECT 1;SELECT 2', 'SELECT 1;;SELECT 2', 'SELECT current_date - 5, now() - 1',
    'SELECT a FROM t WHERE (a, b) = (-1, -2) AND (a, b) IN ((1, 2), (3, 4))', 'SELECT ROW(1, 2) = ROW(3, -4)',
    '  SELECT 1  ', '\n\tSELECT\n1\r\n', 'SELECT 1 ;  ', 'SELECT a FROM t WHERE b = 1 ORDER BY c', 'SELECT $x', // `$` bails: filtered below
  );
  return out.filter((s) => !s.includes('$'));
}

describe('fastShapeKey', () => {
  it('equals normalize() on a corpus of accepted statements', () => {
    const texts = corpus();
    expect(texts.length).toBeGreaterThan(1100);
    for (const text of texts) {
      const fast = fastShapeKey(text);
      expect([text, fast?.key]).toEqual([text, normalized(text)]);
    }
  });

  it('numbers constants in order, folds unary minus, and reports each constant class', () => {
    expect(fastShapeKey('SELECT abalance FROM pgbench_accounts WHERE aid = 12345;')).toEqual({
      key: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;',
      classes: 'i',
    });
    expect(fastShapeKey('UPDATE pgbench_accounts SET abalance = abalance + -2345 WHERE aid = 67;')).toEqual({
      key: 'UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;',
      classes: 'Ii',
    });
    expect(fastShapeKey("SELECT 2147483647, 2147483648, 1.5, -0.5, 'x', -'y', NULL, TRUE, FALSE")?.classes).toBe('iffFsSntb');
    expect(fastShapeKey('SELECT a - 5 FROM t')).toEqual({ key: 'SELECT a - $1 FROM t', classes: 'i' });
    expect(fastShapeKey('SELECT a FROM t1 WHERE c2 = 3')).toEqual({ key: 'SELECT a FROM t1 WHERE c2 = $1', classes: 'i' });
    expect(fastShapeKey('SELECT "x1" FROM "t 2"')).toEqual({ key: 'SELECT "x1" FROM "t 2"', classes: '' });
  });

  it.each<[string, string]>([
    ['a line comment', 'SELECT 1 -- c'],
    ['a line comment inside an operator', 'SELECT 1 =-- c\n 2'],
    ['a block comment', 'SELECT /* c */ 1'],
    ['a block comment after an operator', 'SELECT 1 +/* c */ 2'],
    ['a parameter', 'SELECT * FROM t WHERE a = $1'],
    ['dollar quoting', 'SELECT $$x$$'],
    ['a $ in a string', "SELECT 'a$b'"],
    ['a $ in an identifier', 'SELECT a$b FROM t'],
    ['a backslash in a string', "SELECT 'a\\'"],
    ['a backslash outside', 'SELECT 1 \\ 2'],
    ['an E string', "SELECT E'x'"],
    ['a lowercase e string', "SELECT e'x'"],
    ['a U& string', "SELECT U&'x'"],
    ['a U& identifier', 'SELECT U&"x" FROM t'],
    ['u& anywhere', "SELECT 'u&x'"],
    ['a bit string', "SELECT B'101'"],
    ['a hex string', "SELECT X'1F'"],
    ['a national string', "SELECT N'x'"],
    ['a string glued to a word', "SELECT a'x'"],
    ['a string glued to a digit', "SELECT 1'x'"],
    ['a doubled quote', "SELECT 'it''s'"],
    ['an empty string then a quote', "SELECT ''''"],
    ['string continuation', "SELECT 'a'\n'b'"],
    ['adjacent strings', "SELECT 'a' 'b'"],
    ['a string followed by a letter', "SELECT 'a'b"],
    ['a quoted identifier glued to a constant', 'SELECT 5"a"'],
    ['an unterminated string', "SELECT 'a"],
    ['an unterminated quoted identifier', 'SELECT "a'],
    ['an exponent', 'SELECT 1e5'],
    ['an upper-case exponent', 'SELECT 1E-3'],
    ['a digit separator', 'SELECT 1_000'],
    ['a hex number', 'SELECT 0x1F'],
    ['an octal number', 'SELECT 0o17'],
    ['a binary number', 'SELECT 0b101'],
    ['trailing junk', 'SELECT 1abc'],
    ['a leading dot', 'SELECT .5'],
    ['a trailing dot', 'SELECT 1.'],
    ['two dots', 'SELECT 1.5.6'],
    ['a range', 'SELECT 1..2'],
    ['a qualified number', 'SELECT t.5 FROM t'],
    ['a unary minus and a space', 'SELECT - 5'],
    ['a double negation', 'SELECT - -5'],
    ['a negated parenthesised constant', 'SELECT -(1)'],
    ['a negative constant cast', 'SELECT -5::int'],
    ['a negative constant subscripted', 'SELECT -5[1]'],
    ['a negative constant collated', 'SELECT -5 COLLATE "C"'],
    ['a star minus a constant', 'SELECT t.*-5 FROM t'],
    ['a keyword that may be a column before a minus', 'SELECT first -5 FROM t'],
    ['a column named between before a minus', 'SELECT between -5 FROM t'],
    ['NOT BETWEEN a negative constant', 'SELECT a FROM t WHERE b NOT BETWEEN -5 AND 5'],
    ['a label after an expression', 'SELECT a TRUE FROM t'],
    ['NULL after a literal', "SELECT 'a' NULL"],
    ['non-ASCII outside quotes', 'SELECT * FROM tablé'],
    ['a non-breaking space', 'SELECT\u00a01'],
    ['a vertical tab', 'SELECT\u000b1'],
    ['a NUL', "SELECT 'a\u0000'"],
    ['a lone high surrogate', "SELECT '\ud800'"],
    ['a lone low surrogate', "SELECT '\udc00x'"],
    ['braces', 'SELECT {1}'],
    ['WITH', 'WITH x AS (SELECT 1) SELECT 2 FROM x'],
    ['UNION', 'SELECT 1 UNION SELECT 2'],
    ['INTERSECT', 'SELECT 1 INTERSECT SELECT 2'],
    ['EXCEPT', 'SELECT 1 EXCEPT SELECT 2'],
    ['LIMIT then OFFSET', 'SELECT a FROM t LIMIT 10 OFFSET 5'],
    ['FETCH then OFFSET', 'SELECT a FROM t FETCH FIRST 3 ROWS ONLY OFFSET 5'],
    ['LIMIT ALL', 'SELECT a FROM t LIMIT ALL'],
    ['ORDER BY a position', 'SELECT a FROM t ORDER BY 1'],
    ['ORDER BY a negative position', 'SELECT a FROM t ORDER BY -1'],
    ['ORDER BY a later position', 'SELECT a, b FROM t ORDER BY a, 2'],
    ['ORDER BY a parenthesised position', 'SELECT a FROM t ORDER BY (1)'],
    ['GROUP BY a position', 'SELECT a FROM t GROUP BY 1'],
    ['GROUP BY an expression with a constant', 'SELECT a + 1 FROM t GROUP BY a + 1'],
    ['ORDER BY after HAVING', "SELECT a FROM t GROUP BY a HAVING count(*) > 1 ORDER BY a || 'x'"],
    ['ORDER BY after WINDOW', 'SELECT sum(a) OVER w FROM t WINDOW w AS (PARTITION BY b) ORDER BY c + 1'],
    ['ORDER BY after VALUES', 'VALUES (1), (2) ORDER BY column1 + 5'],
    ['ORDER BY after INSERT … VALUES', 'INSERT INTO t VALUES (1), (2) ORDER BY 1 + 3 LIMIT 4'],
    ['a typmod in a cast', 'SELECT x::varchar(10) FROM t'],
    ['a typmod in CAST', 'SELECT CAST(x AS numeric(10,2)) FROM t'],
    ['a typmod in a typed literal', "SELECT numeric(10,2) '1.5'"],
    ['an array bound in a cast', 'SELECT x::int[3] FROM t'],
    ['a precision on current_timestamp', 'SELECT current_timestamp(3)'],
    ['a precision on an interval field', "SELECT interval '1' second(3)"],
    ['EXTRACT', 'SELECT extract(year FROM x) FROM t'],
    ['AT TIME ZONE', "SELECT x AT TIME ZONE 'UTC' FROM t"],
    ['TRIM', "SELECT trim(both 'x' from y) FROM t"],
    ['POSITION', "SELECT position('a' in x) FROM t"],
    ['SUBSTRING', 'SELECT substring(x from 2 for 3) FROM t'],
    ['NORMALIZE', 'SELECT normalize(x, nfc) FROM t'],
    ['UPDATE ... FROM', 'UPDATE t SET a = 1 FROM u WHERE t.b = u.b AND u.c = 2'],
    ['a multi-column SET', 'UPDATE t SET (a, b) = (1, 2) WHERE c = 3'],
    ['a later multi-column SET', 'UPDATE t SET a = 1, (b, c) = (2, 3)'],
    ['a multi-column SET in ON CONFLICT', 'INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET (b, c) = (2, 3)'],
    ['EXPLAIN', 'EXPLAIN SELECT 1'],
    ['SET', 'SET x = 5'],
    ['COPY', "COPY t FROM '/tmp/x'"],
    ['CREATE', 'CREATE TABLE t (a varchar(10))'],
    ['BEGIN', 'BEGIN'],
    ['a parenthesised SELECT', '(SELECT 1)'],
    ['a statement starting with a constant', "'x'"],
    ['an unbalanced parenthesis', 'SELECT (1'],
    ['an extra closing parenthesis', 'SELECT 1)'],
    ['a semicolon inside parentheses', 'SELECT (1; 2)'],
    ['only a semicolon', ';'],
    ['nothing', ''],
  ])('gives no key for %s', (_what, text) => {
    expect(fastShapeKey(text)).toBeUndefined();
  });

  it('gives no key for text longer than the shape limit', () => {
    const text = `SELECT ${'a, '.repeat(MAX_SHAPE_TEXT_LENGTH / 3)}1`;
    expect(text.length).toBeGreaterThan(MAX_SHAPE_TEXT_LENGTH);
    expect(fastShapeKey(text)).toBeUndefined();
  });

  // Differential fuzzing: statements from a grammar with hostile constructs mixed in.
  // Whenever the scanner answers and normalize() gives a key (shapeKey: it parses, and
  // the answer is no error message dressed as a result), the two agree.
  it.each([
    ['well-formed statements', false, 1],
    ['statements with hostile constructs', true, 2],
    ['more statements with hostile constructs', true, 3],
  ])('agrees with normalize() on random %s', (_what, hostile, seed) => {
    const gen = statementGenerator(seed, hostile);
    let accepted = 0;
    let compared = 0;
    const disagreements: string[] = [];
    for (let k = 0; k < 15_000; k++) {
      const text = gen.statement();
      const fast = fastShapeKey(text);
      if (fast === undefined) continue;
      accepted++;
      const norm = shapeKey(text);
      if (norm === undefined) continue; // not valid SQL: nothing to agree with
      compared++;
      if (fast.key !== norm) disagreements.push(text);
    }
    expect(disagreements).toEqual([]);
    // Not vacuous: a good part of the statements were accepted and compared, and some refused.
    expect(compared).toBeGreaterThan(5000);
    expect(accepted).toBeLessThan(15_000);
  });

  it('agrees with normalize() on random token soup', () => {
    const gen = statementGenerator(4, true);
    let compared = 0;
    const disagreements: string[] = [];
    for (let k = 0; k < 20_000; k++) {
      const text = gen.soup();
      const fast = fastShapeKey(text);
      if (fast === undefined) continue;
      const norm = shapeKey(text);
      if (norm === undefined) continue;
      compared++;
      if (fast.key !== norm) disagreements.push(text);
    }
    expect(disagreements).toEqual([]);
    expect(compared).toBeGreaterThan(100);
  });
});
