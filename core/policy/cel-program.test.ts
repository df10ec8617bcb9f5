import { describe, expect, it } from '@jest/globals';
import { lintExpression, sanitizeMessage } from './cel-program.js';

describe('lintExpression', () => {
  const ok = [
    "sql.statements.all(s, s.kind == 'SELECT')",
    "identity.groups.exists(g, g == 'dba') && connection.labels.env != 'prod'",
    "now.getHours('UTC') >= 9 && now - session.startedAt < duration('8h')",
    'has(http.json) ? http.json.amount < 100.0 : false',
    "ssh.argv.size() > 0 && ssh.argv[0] in ['ls', 'cat']",
    "sql.statements.map(s, s.kind).exists(k, k == 'DROP')",
    "[1, 2].exists_one(x, x == 1)",
    "type(identity.sub) == string",
    "identity.claims.email.lowerAscii().endsWith('@example.com')",
    "sql.text.split(';').size() < 3 && ['a', 'b'].join(',') == 'a,b'",
    'identity.sub', // dyn: can only be checked when evaluated
    '// a comment\ntrue',
  ];
  it.each(ok)('accepts %s', (expr) => {
    expect(lintExpression(expr)).toEqual({ ok: true });
  });

  const bad: { expr: string; message: RegExp; line: number; column: number }[] = [
    { expr: '', message: /empty/, line: 1, column: 1 },
    { expr: 'sql.text ==', message: /syntax error/, line: 1, column: 10 },
    { expr: "sql.text == 'a' &&\n  sql.text ==", message: /syntax error/, line: 2, column: 12 },
    { expr: "sql.text == 'unterminated", message: /syntax error/, line: 1, column: 10 },
    { expr: 'request.path == "/"', message: /unknown variable 'request'/, line: 1, column: 1 },
    { expr: 'sql.statements.all(s, t.kind == "X")', message: /unknown variable 't'/, line: 1, column: 23 },
    { expr: 'sql.statements.all(s, true) && s == 1', message: /unknown variable 's'/, line: 1, column: 32 },
    { expr: "sql.text.contain('x')", message: /unknown function 'contain'/, line: 1, column: 9 },
    { expr: "frobnicate(sql.text)", message: /unknown function 'frobnicate'/, line: 1, column: 1 },
    { expr: '1', message: /yields int/, line: 1, column: 1 },
    { expr: '"allow"', message: /yields string/, line: 1, column: 1 },
    { expr: "sql.text + 'x'", message: /yields string/, line: 1, column: 10 },
    { expr: 'sql.text + sql.text', message: /yields a number, string or list/, line: 1, column: 10 },
    { expr: "'a' + 'b'", message: /yields string/, line: 1, column: 4 },
    { expr: "{'a': true}", message: /yields map/, line: 1, column: 1 },
    { expr: 'size(sql.text)', message: /yields int/, line: 1, column: 1 },
    { expr: 'true ? 1 : 2', message: /yields int/, line: 1, column: 1 },
    { expr: "sql.statements.filter(s, s.kind == 'X')", message: /yields list/, line: 1, column: 15 },
  ];
  it.each(bad)('refuses $expr', ({ expr, message, line, column }) => {
    const r = lintExpression(expr);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(message);
    expect({ line: r.line, column: r.column }).toEqual({ line, column });
  });
});

describe('sanitizeMessage', () => {
  const cases: [string, string][] = [
    ['int divide by zero', 'division by zero'],
    ['index 5 out of bounds [0, 1)', 'list index out of range'],
    ['field not found: s3cr3t', 'no such key or field'],
    ["found no matching overload for '_+_' applied to '(int, string)'", 'no matching overload (an operand has the wrong type)'],
    ['int overflow during addition', 'numeric overflow'],
    ['error parsing regexp: missing closing ): `(s3cr3t`', 'invalid regular expression'],
    ['something the library says about s3cr3t', 'evaluation error'],
  ];
  it.each(cases)('%s → %s', (input, output) => {
    expect(sanitizeMessage(input)).toBe(output);
    expect(sanitizeMessage(input)).not.toContain('s3cr3t');
  });
});
