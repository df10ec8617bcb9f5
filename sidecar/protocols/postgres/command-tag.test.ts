import { describe, expect, it } from '@jest/globals';
import { rowsFromTag } from './backend-messages.js';
import { parseCommandTag } from './command-tag.js';

describe('parseCommandTag', () => {
  it.each([
    ['SELECT 3', 'SELECT', 3],
    ['SELECT 0', 'SELECT', 0],
    ['INSERT 0 5', 'INSERT', 5],
    ['INSERT 16384 1', 'INSERT', 1],
    ['UPDATE 2', 'UPDATE', 2],
    ['DELETE 7', 'DELETE', 7],
    ['COPY 1000000', 'COPY', 1000000],
    ['FETCH 10', 'FETCH', 10],
    ['MOVE 4', 'MOVE', 4],
    ['MERGE 6', 'MERGE', 6],
    ['SELECT 999999999999999', 'SELECT', 999999999999999],
  ])('%s → %s, %d rows', (tag, command, rows) => {
    expect(parseCommandTag(tag)).toEqual({ command, rows });
    expect(rowsFromTag(tag)).toBe(rows);
  });

  it.each([
    ['CREATE TABLE'],
    ['BEGIN'],
    ['SET'],
    ['DROP INDEX'],
    ['COMMIT'],
    ['ROLLBACK'],
    ['CREATE TABLE AS'],
  ])('%s has no row count and keeps its name', (tag) => {
    expect(parseCommandTag(tag)).toEqual({ command: tag, rows: undefined });
  });

  it.each([
    ['SELECT'],
    ['SELECT x'],
    ['SELECT -1'],
    ['SELECT 1 2'],
    ['INSERT 5'],
    ['INSERT x 5'],
    ['UPDATE 1.5'],
    ['DELETE  3'],
    ['SELECT 1234567890123456'],
    ['BEGIN 5'],
    [''],
  ])('does not read a count from the malformed or uncounted tag %j', (tag) => {
    expect(parseCommandTag(tag).rows).toBeUndefined();
  });

  it('cuts an overlong command name', () => {
    expect(parseCommandTag('X'.repeat(500)).command).toHaveLength(64);
  });
});
