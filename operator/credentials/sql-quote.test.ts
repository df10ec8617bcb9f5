import { describe, it, expect } from '@jest/globals';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { quoteIdent, quoteLiteral } from './sql-quote.js';
import { randomPassword, scramSha256Verifier } from './scram-verifier.js';
import { createRoleStatements, newJitRoleName } from './postgres-jit.js';

describe('quoteIdent / quoteLiteral', () => {
  it.each([
    ['reader', '"reader"'],
    ['a"b', '"a""b"'],
    ['Robert"); DROP ROLE x; --', '"Robert""); DROP ROLE x; --"'],
  ])('quotes identifier %j', (input, out) => expect(quoteIdent(input)).toBe(out));

  it('refuses empty, NUL and over-long identifiers', () => {
    expect(() => quoteIdent('')).toThrow(RangeError);
    expect(() => quoteIdent('a\0b')).toThrow(RangeError);
    expect(() => quoteIdent('x'.repeat(64))).toThrow(/63 bytes/);
  });

  it.each([
    ["it's", "'it''s'"],
    ['back\\slash', "E'back\\\\slash'"],
    ["\\'; DROP ROLE x; --", "E'\\\\''; DROP ROLE x; --'"],
  ])('quotes literal %j', (input, out) => expect(quoteLiteral(input)).toBe(out));
});

describe('scramSha256Verifier', () => {
  it('produces the PostgreSQL format, and its StoredKey matches the password', () => {
    const salt = Buffer.from('0123456789abcdef');
    const v = scramSha256Verifier('pencil', salt, 4096);
    const m = /^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$/.exec(v);
    expect(m).not.toBeNull();
    expect(Buffer.from(m?.[1] ?? '', 'base64')).toEqual(salt);
    const salted = pbkdf2Sync('pencil', salt, 4096, 32, 'sha256');
    const stored = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64');
    expect(m?.[2]).toBe(stored);
    expect(scramSha256Verifier('other', salt, 4096)).not.toBe(v);
  });

  it('random passwords are 43 base64url characters and differ', () => {
    const a = randomPassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomPassword()).not.toBe(a);
  });
});

describe('createRoleStatements', () => {
  it('quotes every name and literal and never carries the cleartext password', () => {
    const role = newJitRoleName();
    expect(role).toMatch(/^agentgate_[0-9a-f]{16}$/);
    const password = randomPassword();
    const stmts = createRoleStatements(role, scramSha256Verifier(password), new Date('2026-11-21T10:15:00Z'), ['app_reader', 'odd"role'],
      { id: "s'1", pod: { namespace: 'ns', name: 'p', uid: 'u' } });
    expect(stmts[0]).toContain(`CREATE ROLE "${role}" LOGIN`);
    expect(stmts[0]).toContain("VALID UNTIL '2026-11-21T10:15:00.000Z' IN ROLE \"app_reader\", \"odd\"\"role\"");
    expect(stmts[1]).toContain(`COMMENT ON ROLE "${role}" IS 'agentgate-jit:{"s":"s''1"`);
    expect(stmts.join('\n')).not.toContain(password);
  });
});
