// The keyword table agrees with libpg-query's own scanner, word by word.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { scanSync } from 'libpg-query';
import { initSqlParser } from './classify.js';
import { KeywordCategory, allKeywords, keywordCategory } from './sql-keywords.js';

beforeAll(async () => {
  await initSqlParser();
});

describe('sql keywords', () => {
  it("gives every keyword the category PostgreSQL 18's scanner gives it", () => {
    const words = allKeywords();
    expect(words.length).toBe(494);
    const text = words.join(' ');
    const tokens = scanSync(text).tokens;
    expect(tokens.length).toBe(words.length);
    const disagreeing = tokens
      .map((t) => [text.slice(t.start, t.end), t.keywordKind] as const)
      .filter(([word, kind]) => keywordCategory(word) !== kind);
    expect(disagreeing).toEqual([]);
  });

  it('has the categories the grammar names', () => {
    expect(keywordCategory('select')).toBe(KeywordCategory.Reserved);
    expect(keywordCategory('like')).toBe(KeywordCategory.TypeFuncName);
    expect(keywordCategory('between')).toBe(KeywordCategory.ColName);
    expect(keywordCategory('first')).toBe(KeywordCategory.Unreserved);
  });

  it.each(['abalance', 'pgbench_accounts', 't1', 'aid', 'foo', 'SELECT'])('%s is not a (lowercase) keyword', (word) => {
    expect(keywordCategory(word)).toBeUndefined();
  });
});
