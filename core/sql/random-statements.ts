// Seeded random SQL statements for differential tests of the shape keys
// (fast-shape-key.test.ts, sql-classifier-fast-key.test.ts): mostly valid
// SELECT / INSERT / UPDATE / DELETE / VALUES with constants of every kind in
// many places, glued and spaced at random; with `hostile`, also the
// constructs the fast scanner must refuse (comments, `$`, escapes, prefixed
// strings, odd numbers, WITH, UNION, …). Same seed, same statements.

import { seededRandom } from '../../testkit/seeded-random.js';

export interface StatementGenerator {
  statement(): string;
  /** A token soup: a statement keyword followed by random tokens (mostly not valid SQL). */
  soup(): string;
}

export function statementGenerator(seed: number, hostile: boolean): StatementGenerator {
  const r = seededRandom(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)] as T;
  const chance = (p: number): boolean => r() < p;
  const kw = (w: string): string => (chance(0.3) ? w.toLowerCase() : chance(0.5) ? w : w.charAt(0) + w.slice(1).toLowerCase());
  const ident = (): string =>
    pick(['a', 'b', 'aid', 'abalance', 't1', 'c2', 'x_y', 'Col3', 'first', 'value', 'name', 'data', 'pgbench_accounts', '"Q 1"', '"a""b1"', '"select"', '"é9"', 't.a', 't1.c2', '"T"."c"', 'u.b']);
  const table = (): string => pick(['t', 't1', 'pgbench_accounts', 'public.t', '"My Table"', 's.t2']);
  const strContent = (): string =>
    pick(['', 'a', 'abc', 'with space', 'x;y', '-- not a comment', '/* nor this */', 'é日本', '😀', '"q"', 'tab\there', 'new\nline', '%_', 'O', '1.5', 'NULL', '); DROP TABLE t; --']) +
    (hostile && chance(0.08) ? pick(["''", '\\', '$', '$1', '\u0000', '\ud800', 'u&', '\u00a0']) : '');
  const int = (): string => pick(['0', '1', '7', '42', '12345', '99999', '007', '2147483647', '2147483648', '9999999999', '123456789012345678901234567890']);
  const num = (): string => pick([int(), int(), '1.5', '0.001', '3.14159', '10.0']);
  const lit = (): string => {
    if (hostile && chance(0.07)) {
      return pick(['1e5', '1E-3', '0x1F', '0o17', '0b101', '1_000', '.5', '1.', "E'x'", "e'\\n'", "B'101'", "X'1F'", "N'n'", "U&'x'", '$1', '$$x$$', "'a'\n'b'", "'it''s'", '1abc', '5.5.5', 'ALL', '- -1', '-(1)']);
    }
    const p = r();
    if (p < 0.45) return num();
    if (p < 0.8) return `'${strContent()}'`;
    if (p < 0.88) return kw('NULL');
    if (p < 0.94) return kw('TRUE');
    return kw('FALSE');
  };
  const signed = (): string => (chance(0.25) ? pick(['-', '- ', '+', '-']) + lit() : lit());
  const sp = (): string => pick([' ', ' ', ' ', '', '  ', '\n', '\t', '\r\n']);
  const binop = (): string => pick(['=', '<>', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', '||', '->>', '@>', '~', '^', '#', '&', '|', '<<', '!~~', '?']);
  let depth = 0;
  const operand = (): string => {
    const p = r();
    if (p < 0.35) return ident();
    if (p < 0.75) return signed();
    if (p < 0.8) return kw('CURRENT_TIMESTAMP');
    if (p < 0.85) {
      // Alternatives are functions: building them all would recurse into select() every time.
      return pick<() => string>([
        () => 'count(*)', () => 'now()', () => `lower(${ident()})`, () => `coalesce(${ident()}, ${signed()})`, () => `greatest(${signed()}, ${signed()})`,
        () => `sum(${ident()}) ${kw('FILTER')} (${kw('WHERE')} ${ident()} > ${signed()})`,
        () => `rank() ${kw('OVER')} (${kw('PARTITION BY')} ${ident()} ${kw('ORDER BY')} ${chance(0.5) ? ident() : int()})`,
        () => `string_agg(${ident()}, ',' ${kw('ORDER BY')} ${ident()})`,
        () => `${kw('CAST')}(${signed()} ${kw('AS')} ${pick(['int', 'numeric(10,2)', 'text', 'varchar(3)', 'double precision'])})`,
        () => `${pick(['date', 'timestamp', 'interval', 'int', 'numeric(5,2)', 'time(3)'])} '${strContent()}'`,
        () => `${kw('INTERVAL')} '1 day'${chance(0.3) ? ' ' + kw(pick(['DAY', 'SECOND(3)', 'HOUR TO MINUTE'])) : ''}`,
        () => kw('CURRENT_TIMESTAMP') + pick(['', '(3)']), () => kw('LOCALTIME'), () => `${kw('CURRENT_DATE')} - ${signed()}`,
        () => `f(${ident()} => ${signed()})`, () => `f(${ident()} := ${signed()})`,
        () => kw(pick(['EXTRACT(year FROM x)', "position('a' in x)", 'substring(x from 2 for 3)', "trim(both 'x' from y)", "x AT TIME ZONE 'UTC'", "overlay(x placing 'a' from 2 for 1)", 'nullif(a, 1)', 'x COLLATE "C"'])),
        () => `(${select()})`, () => `${kw('ROW')}(${signed()}, ${signed()})`, () => `(${signed()}, ${signed()})`, () => `${ident()}.${ident()}`, () => 't.*',
      ])();
    }
    if (p < 0.9) return `ARRAY[${signed()},${sp()}${signed()}]`;
    if (p < 0.95) return `${ident()}[${signed()}${chance(0.5) ? ':' + signed() : ''}]`;
    return `${signed()}::${pick(['int', 'text', 'numeric', 'bigint', 'date', 'varchar(10)', 'int[]', 'double precision'])}`;
  };
  const expr = (): string => {
    if (depth > 3) return operand();
    depth++;
    const p = r();
    let e: string;
    if (p < 0.3) e = operand() + sp() + binop() + sp() + operand();
    else if (p < 0.42) e = ident() + sp() + binop() + signed();
    else if (p < 0.5) e = `${expr()} ${kw(pick(['AND', 'OR']))} ${expr()}`;
    else if (p < 0.55) e = `${kw('NOT')} ${expr()}`;
    else if (p < 0.62) e = `${operand()} ${kw('IS')} ${chance(0.5) ? kw('NOT') + ' ' : ''}${kw(pick(['NULL', 'TRUE', 'FALSE']))}`;
    else if (p < 0.7) e = `${operand()} ${chance(0.2) ? kw('NOT') + ' ' : ''}${kw('IN')}${sp()}(${Array.from({ length: 1 + Math.floor(r() * 4) }, signed).join(',' + sp())})`;
    else if (p < 0.75) e = `${operand()} ${kw('BETWEEN')} ${signed()} ${kw('AND')} ${signed()}`;
    else if (p < 0.8) e = `(${expr()})`;
    else if (p < 0.85) e = `${kw('CASE')} ${kw('WHEN')} ${expr()} ${kw('THEN')} ${signed()} ${kw('ELSE')} ${signed()} ${kw('END')}`;
    else if (p < 0.9) e = `${operand()} ${kw(pick(['LIKE', 'ILIKE']))} '${strContent()}'`;
    else if (p < 0.93) e = `${kw('EXISTS')} (${select()})`;
    else if (p < 0.96) e = `${operand()} = ${kw(pick(['ANY', 'ALL']))}(${kw('ARRAY')}[${signed()}])`;
    else e = `${operand()} ${kw('IS DISTINCT FROM')} ${signed()}`;
    depth--;
    return e;
  };
  const targets = (): string =>
    Array.from({ length: 1 + Math.floor(r() * 3) }, () => (chance(0.2) ? '*' : chance(0.6) ? ident() : expr()) + (chance(0.15) ? ` ${kw('AS')} ${pick(['x', 'y1', '"Z"'])}` : '')).join(',' + sp());
  const select = (): string => {
    depth++;
    let s = `${kw('SELECT')} ${chance(0.1) ? kw('DISTINCT') + ' ' : ''}${targets()}`;
    if (chance(0.8)) {
      s += ` ${kw('FROM')} ${pick<() => string>([table, table, () => `${table()} ${kw('AS')} x`, () => `(${select()}) sq`, () => `generate_series(${signed()}, ${signed()}) g`, () => `${table()} ${kw('TABLESAMPLE')} ${kw('SYSTEM')} (${num()})`])()}`;
      if (chance(0.2)) s += ` ${kw(pick(['JOIN', 'LEFT JOIN', 'INNER JOIN']))} ${table()} u ${kw('ON')} ${expr()}`;
    }
    if (chance(0.8)) s += ` ${kw('WHERE')} ${expr()}`;
    if (chance(0.15)) s += ` ${kw('GROUP BY')} ${chance(0.3) ? int() : chance(0.5) ? ident() : expr()}${chance(0.5) ? ` ${kw('HAVING')} ${expr()}` : ''}`;
    if (chance(0.05)) s += ` ${kw('WINDOW')} w ${kw('AS')} (${kw('ORDER BY')} ${ident()} ${kw('ROWS')} ${signed()} ${kw('PRECEDING')})`;
    if (chance(0.15)) s += ` ${kw('ORDER BY')} ${chance(0.3) ? signed() : ident()}${chance(0.3) ? ', ' + (chance(0.5) ? int() : ident()) : ''}${chance(0.3) ? ' ' + kw('DESC') : ''}`;
    if (chance(0.2)) s += ` ${kw('LIMIT')} ${chance(0.1) ? kw('ALL') : signed()}`;
    if (chance(0.1)) s += ` ${kw('OFFSET')} ${int()}`;
    if (chance(0.05)) s += ` ${kw('FETCH FIRST')} ${int()} ${kw('ROWS ONLY')}`;
    if (chance(0.05)) s += ` ${kw('FOR UPDATE')}`;
    depth--;
    return s;
  };
  const returning = (): string => (chance(0.2) ? ` ${kw('RETURNING')} ${targets()}` : '');
  const statement = (): string => {
    depth = 0;
    const p = r();
    if (p < 0.4) return select();
    if (p < 0.55) {
      const rows = Array.from({ length: 1 + Math.floor(r() * 3) }, () => `(${signed()},${sp()}${signed()})`).join(', ');
      const conflict = chance(0.2) ? ` ${kw('ON CONFLICT (a) DO UPDATE SET')} ${chance(0.2) ? '(b, c) = (' + signed() + ', ' + signed() + ')' : 'b = ' + signed()}` : '';
      return `${kw('INSERT INTO')} ${table()}${chance(0.5) ? ' (a, b)' : ''} ${kw('VALUES')} ${rows}${conflict}${returning()}`;
    }
    if (p < 0.7) {
      const set = chance(0.1) ? `(a, b) = (${signed()}, ${signed()})` : `${ident()} = ${chance(0.5) ? `${ident()} ${binop()} ${signed()}` : signed()}`;
      return `${kw('UPDATE')} ${table()} ${kw('SET')} ${set}${chance(0.3) ? ', b = ' + expr() : ''}${chance(0.1) ? ` ${kw('FROM')} u` : ''}${chance(0.8) ? ` ${kw('WHERE')} ${expr()}` : ''}${returning()}`;
    }
    if (p < 0.8) return `${kw('DELETE FROM')} ${table()}${chance(0.8) ? ` ${kw('WHERE')} ${expr()}` : ''}${returning()}`;
    if (p < 0.85) return `${kw('VALUES')} (${signed()}, ${signed()})${chance(0.3) ? ` ${kw('ORDER BY')} column1 + ${signed()}` : ''}${chance(0.3) ? ` ${kw('LIMIT')} ${signed()}` : ''}`;
    if (p < 0.9) return `${select()};${sp()}${select()}${chance(0.5) ? ';' : ''}`;
    return pick<() => string>([
      () => `${kw('WITH')} x ${kw('AS')} (${select()}) ${select()}`, () => `${select()} ${kw('UNION')} ${select()}`, () => `${kw('EXPLAIN')} ${select()}`,
      () => `${kw('SET')} x = ${signed()}`, () => `${select()} -- c`, () => `/* c */ ${select()}`,
    ])();
  };
  const vocabulary = [
    'SELECT', 'select', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'IS', 'NULL', 'TRUE', 'FALSE', 'IN', 'LIKE', 'BETWEEN', 'CASE', 'WHEN', 'THEN', 'ELSE', 'END',
    'LIMIT', 'OFFSET', 'FETCH', 'FIRST', 'NEXT', 'ROWS', 'ONLY', 'ORDER', 'GROUP', 'BY', 'HAVING', 'AS', 'ALL', 'DISTINCT', 'ON', 'JOIN', 'SET', 'UPDATE',
    'INSERT', 'INTO', 'VALUES', 'DELETE', 'RETURNING', 'DEFAULT', 'CAST', 'int', 'numeric', 'varchar', 'interval', 'second', 'day', 'current_timestamp',
    'current_date', 'localtime', 'time', 'zone', 'ARRAY', 'ANY', 'SOME', 'EXISTS', 'ROW', 'OVER', 'PARTITION', 'WINDOW', 'FILTER', 'WITHIN',
    'a', 'b', 'aid', 't', 't1', 'x_1', 'value', 'name', 'first', 'last', 'user', 'session_user', 'f', 'count', 'coalesce', 'greatest', 'nullif', 'overlay',
    'placing', 'for', 'to', 'escape', 'similar', 'ilike', 'symmetric', 'asymmetric', 'variadic', 'using', 'natural', 'lateral', 'tablesample', 'repeatable',
    'ordinality', 'unknown', 'isnull', 'notnull', 'nulls', 'desc', 'asc',
    '"q"', '"Q 1"', '"a""b"', '1', '0', '42', '007', '2147483647', '2147483648', '1.5', '0.25', "'s'", "'a b'", "'é'", "'x;y'", "'--'", "'/*'", "''",
    '(', ')', '(', ')', ',', ',', '.', '*', ':', '::', '[', ']', ';', ':=', '=>',
    '=', '-', '-', '-', '+', '<', '>', '<=', '>=', '<>', '!=', '||', '/', '%', '^', '@', '#', '~', '&', '|', '!', '?', '`',
    '=-', '+-', '*-', '<-', '!=-', '%-', '@-', '^-', '-+', '||-', '>=-', '=+-',
    '1e5', '0x1F', '1_0', '.5', '1.', "E'x'", "N'x'", '$1', '--x\n', '/*x*/', '\\', '{', 'é',
  ];
  const soup = (): string => {
    let s = pick(['SELECT', 'select', 'UPDATE t SET', 'DELETE FROM t WHERE', 'INSERT INTO t VALUES', 'VALUES']);
    const n = 2 + Math.floor(r() * 14);
    for (let j = 0; j < n; j++) s += pick([' ', ' ', ' ', '', '', '\n', '\t']) + pick(vocabulary);
    return s;
  };
  return { statement, soup };
}
