// The shape key: PostgreSQL's normalisation, and the guards around it.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { initSqlParser } from './classify.js';
import { matchesShape, shapeEligible, shapeKey } from './shape-key.js';

beforeAll(async () => {
  await initSqlParser();
});

describe('shapeKey', () => {
  it('replaces literals, found by the parser, with $n', () => {
    expect(shapeKey('SELECT abalance FROM pgbench_accounts WHERE aid = 123;')).toBe('SELECT abalance FROM pgbench_accounts WHERE aid = $1;');
    expect(shapeKey("SELECT 'a;b', E'c\\'d', -1.5e3 FROM t")).toBe('SELECT $1, $2, $3 FROM t');
  });

  it('keeps comments, identifiers and keywords as written', () => {
    expect(shapeKey('/* hint */ SELECT "Weird" FROM t -- trailing')).toBe('/* hint */ SELECT "Weird" FROM t -- trailing');
  });

  it.each([
    ['a parameter', 'SELECT * FROM t WHERE a = $1'],
    ['dollar quoting', 'SELECT $q$x$q$'],
    ['a Unicode-escaped identifier', 'SELECT * FROM U&"t!0061" UESCAPE \'!\''],
    ['lowercase u&', "SELECT u&'\\0061'"],
    ['a NUL', 'SELECT 1\u0000'],
    ['a lone surrogate (classification refuses it; normalize() would read U+FFFD)', "SELECT 'a\ud800'"],
    ['nothing', ''],
  ])('gives no key for text with %s', (_what, text) => {
    expect(shapeEligible(text)).toBe(false);
    expect(shapeKey(text)).toBeUndefined();
  });

  it('gives no key for text that does not parse, even where normalize() answers with an error message', () => {
    expect(shapeKey("SELECT 'unterminated")).toBeUndefined();
    expect(shapeKey('SELEC 1')).toBeUndefined();
  });
});

describe('matchesShape', () => {
  it.each<[string, string, boolean]>([
    ['SELECT 1', 'SELECT $1', true],
    ["SELECT 'a', 22 FROM t", 'SELECT $1, $2 FROM t', true],
    ['SELECT 1', 'SELECT 1', true],
    ['SELECT 1', 'SELECT 2', false],
    ['SELECT1', 'SELECT $1', false],
    ['SELECT 1 FROM t', 'SELECT $1 FROM u', false],
    ['SELECT FROM t', 'SELECT $1FROM t', false],
    ["unterminated quoted string at or near \"'abc\"", 'SELECT $1', false],
    ['SELECT 1, 2', 'SELECT $1, $2, $3', false],
  ])('%j against %j → %s', (text, normalized, expected) => {
    expect(matchesShape(text, normalized)).toBe(expected);
  });
});
