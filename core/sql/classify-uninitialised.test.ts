// Before initSqlParser() resolves, classification fails closed and nothing is cached.
import { describe, expect, it } from '@jest/globals';
import { classifySql, initSqlParser, SqlClassifier, sqlParserReady } from './classify.js';

describe('before initSqlParser()', () => {
  it('refuses to classify, then classifies once the parser is loaded', async () => {
    expect(sqlParserReady()).toBe(false);
    const early = classifySql('SELECT 1');
    expect(early.error?.code).toBe('SQL_PARSER_NOT_READY');
    expect(early.statements.map((s) => s.kind)).toEqual(['UNPARSEABLE']);

    const c = new SqlClassifier();
    expect(c.classify('SELECT 1').statements[0]?.kind).toBe('UNPARSEABLE');
    await initSqlParser();
    await initSqlParser(); // idempotent
    expect(c.classify('SELECT 1').statements[0]?.kind).toBe('SELECT');
    expect(c.stats().exactHits).toBe(0);
  });
});
