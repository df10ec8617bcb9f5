import { describe, expect, it } from '@jest/globals';
import { CelCompiler } from './cel-program.js';

const compiler = new CelCompiler();

function cacheability(expr: string): { cacheable: boolean; reason?: string } {
  const r = compiler.compile(expr);
  if (!r.ok) throw new Error(`does not compile: ${expr}: ${r.error.message}`);
  return r.program.cacheability;
}

describe('classifyCacheability', () => {
  const cacheable = [
    // the benchmark's policy (bench/postgres-fixture.ts)
    "sql.statements.size() > 0 && sql.statements.all(s, s.kind in ['SELECT', 'UPDATE', 'INSERT', 'TRANSACTION'])",
    "sql.statements.exists(s, s.kind in ['UPDATE', 'DELETE'] && !s.hasWhere)",
    "sql.statements.exists(s, s.kind in ['DROP', 'TRUNCATE', 'ALTER', 'CREATE', 'GRANT'])",
    "sql.statements.exists(s, s.kind == 'UNPARSEABLE')",
    // the other macros, size() both ways, literal index
    "sql.statements.exists_one(s, s.kind == 'SELECT')",
    "sql.statements.filter(s, s.writes).size() == 0",
    "size(sql.statements.filter(s, s.kind == 'DELETE')) < 2",
    "sql.statements.map(s, s.kind).exists(k, k == 'DROP')",
    "sql.statements.map(s, s.hasWhere, s.kind).all(k, k != 'DELETE')",
    "size(sql.statements) == 1 && sql.statements[0].kind == 'SELECT'",
    'sql.statements[0u].hasWhere',
    // filter keeps statements: its result obeys the same rules
    "sql.statements.filter(s, s.kind == 'UPDATE')[0].hasWhere",
    "sql.statements.filter(s, s.writes).all(s, s.tables.all(t, t.startsWith('public.')))",
    "sql.statements.map(s, s)[0].kind == 'SELECT'",
    // results of a field are free
    "sql.statements.exists(s, s.tables.exists(t, t == 'public.cards'))",
    "sql.statements.exists(s, s.predicateColumns.exists(c, c.column == 'id' && c.table.endsWith('orders')))",
    "sql.statements.all(s, has(s.copyDirection) && s.copyDirection != 'from')",
    "sql.statements.exists(s, s.outputColumns.map(c, c.name).exists(n, n.matches('^ssn')))",
    'sql.statements.exists(s, s.tables == s.functions)',
    "sql.statements.exists(s, string(s.tables) == '[]')",
    "sql.statements.exists(s, dyn(s.kind) == 'X')",
    'has(sql.statements)',
    // nested macros
    "sql.statements.all(a, sql.statements.all(b, a.kind == b.kind))",
    // conditionals
    "sql.statements.exists(s, (s.hasWhere ? s : sql.statements[0]).kind == 'x')",
    "(size(sql.statements) > 0 ? sql.statements : []).all(s, s.kind == 'SELECT')",
    // identity and connection
    "'dba' in identity.groups && connection.labels.env != 'prod'",
    "identity.claims.email.endsWith('@example.com')",
    "identity.pod.labels.exists(k, k == 'team') && sql.statements.all(s, s.kind == 'SELECT')",
    'type(identity.sub) == string',
    "{'a': identity.sub}['a'] == 'x'",
    // a variable that shadows sql is whatever it is bound to
    "[1].exists(sql, sql == 1)",
    "sql.statements.exists(sql, sql.kind == 'SELECT')",
    'true',
  ];
  it.each(cacheable)('cacheable: %s', (expr) => {
    expect(cacheability(expr)).toEqual({ cacheable: true });
  });

  const notCacheable = [
    // text
    "sql.text.contains('x')",
    "sql.text == ''",
    'has(sql.text)',
    "sql.statements.exists(s, s.text.contains('pg_sleep'))",
    "sql.statements[0].text == 'x'",
    'sql.statements.exists(s, has(s.text))',
    "sql.statements.filter(s, true)[0].text == ''",
    "sql.statements.map(s, s)[0].text == ''",
    "sql.statements.exists(sql, sql.text == 'x')", // the shadowing variable is a statement
    // a statement as a whole
    'sql.statements.exists(s, s == sql.statements[0])',
    "sql.statements.exists(s, s.exists(k, k == 'text'))",
    "sql.statements.exists(s, s.all(k, k != 'x'))",
    "sql.statements.exists(s, s['kind'] == 'SELECT')",
    "sql.statements.exists(s, s['te' + 'xt'] == 'x')",
    'sql.statements.exists(s, size(s) > 3)',
    'sql.statements.exists(s, s in sql.statements)',
    "sql.statements.exists(s, string(s) != '')",
    "sql.statements.exists(s, dyn(s).kind == 'SELECT')",
    "sql.statements.exists(s, [s][0].text == 'x')",
    "sql.statements.exists(s, {'k': s}.k.text == 'x')",
    'sql.statements.map(s, s) == sql.statements',
    'sql.statements.map(s, s).size() == 1 && sql.statements.map(s, s) != []',
    'sql.statements.filter(s, true) == []',
    "sql.statements.exists(s, (true ? s : sql.statements[0]).text == 'x')",
    "sql.statements.exists(s, (s.hasWhere ? s : sql).kind == 'x')",
    // the statement list as a whole, or indexed dynamically
    'sql.statements == []',
    'sql.statements + sql.statements != []',
    "sql.statements[size(sql.statements) - 1].kind == 'SELECT'",
    'sql.statements[identity.claims.n].hasWhere',
    "sql.statements.exists(s, sql.statements[0] == s)",
    "string(sql.statements) != ''",
    // sql as a whole
    "[sql][0].text == 'x'",
    "[sql][0].statements.size() > 0",
    "dyn(sql).text == 'x'",
    "dyn(sql).statements.size() > 0",
    'sql == sql',
    "sql.exists(k, k == 'text')",
    "{'a': sql}.a.text == ''",
    "type(sql) == map",
    // time and session
    "now < timestamp('2030-01-01T00:00:00Z')",
    "now.getHours('UTC') > 9 && sql.statements.all(s, s.kind == 'SELECT')",
    'session.statements > 10',
    'session.denied > 0',
    "session.id == 'x'",
    'session.startedAt < now',
    "has(session.id)",
    // other protocols (a rule naming them is evaluated for SQL only when it also names sql)
    "ssh.user == 'root'",
    "has(sql.statements) || http.method == 'GET'",
  ];
  it.each(notCacheable)('not cacheable: %s', (expr) => {
    const c = cacheability(expr);
    expect(c.cacheable).toBe(false);
    expect(c.reason).toEqual(expect.any(String));
  });
});
