import { beforeAll, describe, expect, it } from '@jest/globals';
import { initSqlParser } from './classify.js';
import { recordedStatementText } from './recorded-text.js';

beforeAll(async () => {
  await initSqlParser();
});

describe('recordedStatementText', () => {
  it('records ordinary statements as written', () => {
    const t = "SELECT name FROM customers WHERE email = 'a@example.com'";
    expect(recordedStatementText(t)).toBe(t);
  });

  it.each([
    ["ALTER ROLE app PASSWORD 'hunter2-secret'", 'hunter2-secret'],
    ["CREATE USER bob WITH PASSWORD 'Tr0ub4dor&3'", 'Tr0ub4dor&3'],
    ["CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'pw-in-mapping')", 'pw-in-mapping'],
    ["SELECT pgp_sym_decrypt(data, 'the-sym-key') FROM vault", 'the-sym-key'],
    ["SELECT dblink_connect('host=db password=conn-secret')", 'conn-secret'],
    ['ALTER ROLE app PASSWORD $$dollar-secret$$', 'dollar-secret'],
    ['ALTER ROLE app PASSWORD $tag$tagged-secret$tag$', 'tagged-secret'],
  ])('keeps the literal of %s out of the record', (text, secret) => {
    const recorded = recordedStatementText(text);
    expect(recorded).not.toContain(secret);
    expect(recorded.length).toBeGreaterThan(0);
  });

  it('keeps the shape of a normalised statement for the audit', () => {
    expect(recordedStatementText("ALTER ROLE app PASSWORD 'x-secret'")).toMatch(/^ALTER ROLE app PASSWORD \$1$/);
  });

  it('withholds a text it cannot normalise (an unterminated literal)', () => {
    const recorded = recordedStatementText("ALTER ROLE app PASSWORD 'never-closed");
    expect(recorded).not.toContain('never-closed');
    expect(recorded).toMatch(/^\[statement withheld: \d+ characters/);
  });
});
