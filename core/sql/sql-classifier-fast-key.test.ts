// The classifier's fast shape path: a shape hit found by the JavaScript key
// answers exactly what a fresh classification would, never for a text the
// parser reads differently, and only after the key was checked against
// normalize().
import { beforeAll, describe, expect, it } from '@jest/globals';
import { classifySql, initSqlParser, SqlClassifier } from './classify.js';
import { fastShapeKey } from './fast-shape-key.js';
import { seededRandom } from '../../testkit/seeded-random.js';
import { statementGenerator } from './random-statements.js';

beforeAll(async () => {
  await initSqlParser();
});

const fresh = (text: string) => new SqlClassifier({ maxEntries: 0 }).classify(text);
const pgbench = (aid: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`;
const tpcb = (delta: number, aid: number): string => `UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid};`;

describe('fast shape path', () => {
  it('answers pgbench -S without the parser after the first statement', () => {
    const c = new SqlClassifier();
    for (let aid = 1; aid <= 300; aid++) {
      const got = c.classify(pgbench(aid * 331));
      expect(got).toEqual(fresh(pgbench(aid * 331)));
      expect(Object.isFrozen(got) && Object.isFrozen(got.statements) && Object.isFrozen(got.statements[0])).toBe(true);
    }
    expect(c.stats()).toMatchObject({ misses: 1, shapeHits: 299, fastShapeHits: 299, shapeSize: 1 });
  });

  it("cuts the statement's text from the new text at the parser's span", () => {
    const c = new SqlClassifier();
    c.classify('  SELECT a FROM t WHERE b = 1 ;  ');
    const got = c.classify('  SELECT a FROM t WHERE b = 123456 ;  ');
    expect(c.stats().fastShapeHits).toBe(1);
    expect(got.statements[0]?.text).toBe('SELECT a FROM t WHERE b = 123456 ');
    expect(got).toEqual(classifySql('  SELECT a FROM t WHERE b = 123456 ;  '));
  });

  it('learns each sign of a constant once (TPC-B deltas)', () => {
    const c = new SqlClassifier();
    c.classify(tpcb(-5, 1)); // miss: stores the entry for classes Ii
    c.classify(tpcb(5, 2)); // classes ii: found through normalize(), then learnt
    for (let k = 0; k < 50; k++) {
      const text = tpcb((k % 2 === 0 ? -1 : 1) * (k * 97), k + 3);
      expect(c.classify(text)).toEqual(fresh(text));
    }
    expect(c.stats()).toMatchObject({ misses: 1, shapeHits: 51, fastShapeHits: 50 });
  });

  it('never answers a fast lookup from an entry no fast key was checked against', () => {
    const c = new SqlClassifier();
    c.classify('SELECT 1e5 FROM t'); // the scanner refuses 1e5: the entry has no checked classes
    expect(fastShapeKey('SELECT 1e5 FROM t')).toBeUndefined();
    expect(c.classify('SELECT 7 FROM t')).toEqual(fresh('SELECT 7 FROM t'));
    expect(c.stats()).toMatchObject({ shapeHits: 1, fastShapeHits: 0 });
    // That normalize() hit checked SELECT 7's fast key: now the fast path may answer.
    expect(c.classify('SELECT 8 FROM t')).toEqual(fresh('SELECT 8 FROM t'));
    expect(c.stats()).toMatchObject({ shapeHits: 2, fastShapeHits: 1, misses: 1 });
  });

  // [primer, probe, fast hit?, shape hit?]: the probe, classified after the primer, equals a fresh classification.
  it.each<[string, string, boolean, boolean]>([
    // String content without quote or backslash is only content, whatever it looks like.
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x; DELETE FROM t'", true, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = '-- DELETE FROM t'", true, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = '/* x */ DELETE FROM t'", true, true],
    ["SELECT * FROM t WHERE a = 'x'", 'SELECT * FROM t WHERE a = \'"; DROP TABLE t; --\'', true, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = '日本😀'", true, true],
    // Quote-like content the scanner refuses: normalize() decides, as before.
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'it''s; DELETE FROM t'", false, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = E'x\\';DELETE FROM t;--'", false, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x\\'", false, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x'\n'; DELETE FROM t'", false, true],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x'; DELETE FROM t WHERE b = 'y'", false, false],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x' -- '", false, false],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = $$x'; DELETE FROM t; --$$", false, false],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'x\ud800'", false, false],
    ["SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = 'unterminated", false, false],
    // Another constant class: the fast path stays out, normalize() shares as before.
    ['SELECT * FROM t WHERE a = 5', "SELECT * FROM t WHERE a = '5'", false, true],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = 2147483648', false, true],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = -5', false, true],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = NULL', false, true],
    ['SELECT * FROM t WHERE a = true', 'SELECT * FROM t WHERE a = false', false, true],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = 1.5', false, true],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = 1e5', false, true],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = 0x1F', false, true],
    // Same class, other values.
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = 2147483647', true, true],
    ['SELECT * FROM t WHERE a = 2147483648', 'SELECT * FROM t WHERE a = 123456789012345678901234567890', true, true],
    ['SELECT * FROM t WHERE a = 1.5', 'SELECT * FROM t WHERE a = 2147483648', true, true],
    ['SELECT * FROM t WHERE a = -5', 'SELECT * FROM t WHERE a = -0007', true, true],
    // The text outside constants differs: other keys.
    ['SELECT * FROM t WHERE a - 5 > 0', 'SELECT * FROM t WHERE a -5 > 0', false, false],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = 5 /* x */', false, false],
    ['SELECT * FROM t WHERE a = 5', 'SELECT * FROM t WHERE a = $1', false, false],
    ['SELECT a TRUE FROM t', 'SELECT a FALSE FROM t', false, false],
    // Literal-dependent classifications are never shared.
    ['SELECT a, b FROM t ORDER BY 1', 'SELECT a, b FROM t ORDER BY 2', false, false],
    ["EXPLAIN (ANALYZE 'off') DELETE FROM t", "EXPLAIN (ANALYZE 'on') DELETE FROM t", false, false],
    // Numbered out of text order by normalize(): the scanner refuses, normalize() shares.
    ['SELECT a FROM t LIMIT 5 OFFSET 10', 'SELECT a FROM t LIMIT 6 OFFSET 11', false, true],
    ['WITH x AS (SELECT 1) SELECT 2 FROM x', 'WITH x AS (SELECT 3) SELECT 4 FROM x', false, true],
    ['UPDATE t SET a = 1 FROM u WHERE b = 2', 'UPDATE t SET a = 3 FROM u WHERE b = 4', false, true],
    // Several statements are never shared.
    ['SELECT 1; SELECT 2', 'SELECT 3; SELECT 4', false, false],
  ])('%j then %j', (primer, probe, fastHit, shapeHit) => {
    const c = new SqlClassifier();
    c.classify(primer);
    expect(c.classify(probe)).toEqual(fresh(probe));
    expect(c.stats()).toMatchObject({ fastShapeHits: fastHit ? 1 : 0, shapeHits: shapeHit ? 1 : 0 });
  });

  it('turned off, leaves every shape hit to normalize()', () => {
    const c = new SqlClassifier({ fastShapeKey: false });
    for (let aid = 1; aid <= 20; aid++) c.classify(pgbench(aid));
    expect(c.stats()).toMatchObject({ misses: 1, shapeHits: 19, fastShapeHits: 0 });
  });

  // Differential: many texts through one caching classifier, each compared with a fresh classification.
  it.each([
    ['well-formed random statements', false, 11],
    ['random statements with hostile constructs', true, 12],
  ])('agrees with a fresh classification on %s', (_what, hostile, seed) => {
    const gen = statementGenerator(seed, hostile);
    const r = seededRandom(seed + 100);
    // A few shapes, each seen many times with other constants.
    const shapes = Array.from({ length: 40 }, () => gen.statement());
    const c = new SqlClassifier({ maxEntries: 64 });
    const differing: string[] = [];
    for (let k = 0; k < 1500; k++) {
      const base = shapes[Math.floor(r() * shapes.length)] ?? '';
      const text = withOtherConstants(base, r);
      if (JSON.stringify(c.classify(text)) !== JSON.stringify(fresh(text))) differing.push(text);
    }
    expect(differing).toEqual([]);
    expect(c.stats().fastShapeHits).toBeGreaterThan(200);
  });
});

/** `text` with digits and string contents replaced at random (outside quotes, digits stay inside words). */
function withOtherConstants(text: string, r: () => number): string {
  const contents = ['', 'a', 'x; DELETE FROM t', "'", "''", '--', '/*', '\\', '$1', 'é', '😀', ' ', 'NULL'];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text.charAt(i);
    if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return out + text.slice(i);
      out += r() < 0.5 ? text.slice(i, end + 1) : `'${contents[Math.floor(r() * contents.length)] ?? ''}'`;
      i = end + 1;
    } else if (ch === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return out + text.slice(i);
      out += text.slice(i, end + 1);
      i = end + 1;
    } else if (/[0-9]/.test(ch) && !/[A-Za-z_0-9.]/.test(text.charAt(i - 1))) {
      let j = i;
      while (/[0-9]/.test(text.charAt(j))) j++;
      out += r() < 0.5 ? text.slice(i, j) : String(Math.floor(r() * (r() < 0.1 ? 1e12 : 1000)));
      i = j;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}
