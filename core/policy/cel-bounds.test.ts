import { describe, expect, it } from '@jest/globals';
import { toCelBindings, type Activation } from './activation.js';
import { DEFAULT_CEL_LIMITS, DEFAULT_EVAL_LIMITS, EvalBudget, boundedRe2, checkSourceBounds } from './cel-bounds.js';
import { CelCompiler, lintExpression } from './cel-program.js';
import { PolicyEngine } from './engine.js';
import type { AccessPolicyLike } from './policy-input.js';

function activation(over: Partial<Activation> = {}): Activation {
  return {
    identity: {
      kind: 'serviceAccount',
      sub: 'system:serviceaccount:ns:sa',
      iss: 'k8s',
      groups: [],
      claims: {},
      pod: { namespace: 'ns', name: 'p', serviceAccount: 'sa', labels: {} },
    },
    connection: { name: 'db', protocol: 'postgres', host: 'h', port: 5432, labels: {} },
    session: { id: 's', startedAt: new Date(0), statements: 0, denied: 0 },
    now: new Date('2025-01-01T12:00:00Z'),
    sql: { text: 'select 1', statements: [] },
    ...over,
  };
}

function statements(n: number): NonNullable<Activation['sql']>['statements'] {
  return Array.from({ length: n }, () => ({ kind: 'SELECT', tables: ['t'], functions: [], hasWhere: true }));
}

const policy = (when: string, action = 'allow'): AccessPolicyLike => ({
  metadata: { name: 'p', namespace: 'ns' },
  spec: { subjects: [{ serviceAccount: { name: 'sa' } }], connections: ['db'], rules: [{ name: 'r', when, action }] },
});

// Far deadlines: these tests are about steps and results, never about time.
const farBudget = (): EvalBudget => new EvalBudget(DEFAULT_EVAL_LIMITS.maxSteps, performance.now() + 3_600_000, 3_600_000);

function evaluate(when: string, act: Activation = activation(), budget = farBudget()): ReturnType<import('./cel-program.js').CelProgram['evaluate']> {
  const r = new CelCompiler().compile(when);
  if (!r.ok) throw new Error(r.error.message);
  return r.program.evaluate(toCelBindings(act), budget);
}

describe('bounds before compiling', () => {
  const cases: { name: string; expr: string; message: RegExp }[] = [
    { name: 'length', expr: `size('${'x'.repeat(4100)}') > 0`, message: /limit is 4096/ },
    { name: 'bracket nesting', expr: `${'['.repeat(40)}1${']'.repeat(40)} == []`, message: /more than 32 levels/ },
    { name: 'paren nesting', expr: `${'('.repeat(33)}true${')'.repeat(33)}`, message: /more than 32 levels/ },
    { name: 'AST nodes', expr: `[${Array.from({ length: 1600 }, () => '1').join(',')}].size() > 0`, message: /more than 1500 nodes/ },
    { name: 'AST depth', expr: `${Array.from({ length: 140 }, () => '1').join('+')} > 0`, message: /more than 128 operations deep/ },
    {
      name: 'comprehension nesting',
      expr: 'sql.statements.all(a, sql.statements.all(b, sql.statements.all(c, sql.statements.all(d, true))))',
      message: /comprehensions .* more than 3 deep/,
    },
  ];
  it.each(cases)('refuses $name', ({ expr, message }) => {
    const r = lintExpression(expr);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(message);
      expect(r.line).toBeGreaterThanOrEqual(1);
      expect(r.column).toBeGreaterThanOrEqual(1);
    }
  });

  it('accepts three nested comprehensions and comprehensions in sequence', () => {
    expect(lintExpression('sql.statements.all(a, a.tables.all(b, b.size() > 0 && [1].all(c, c == 1)))')).toEqual({ ok: true });
    expect(lintExpression('sql.statements.map(s, s.kind).filter(k, k != "").exists(k, k == "X").exists(x, x)' )).toEqual({ ok: true });
  });

  it('does not count brackets inside strings or comments', () => {
    const inString = `sql.text == '${'('.repeat(50)}' && sql.text != "${'['.repeat(50)}" && sql.text != '''${'{'.repeat(50)}'''`;
    expect(checkSourceBounds(inString)).toBeUndefined();
    expect(lintExpression(inString)).toEqual({ ok: true });
    expect(checkSourceBounds(`true // ${'('.repeat(50)}\n && true`)).toBeUndefined();
    expect(checkSourceBounds(`r'\\' == '${'('.repeat(50)}'`)).toBeUndefined();
    expect(checkSourceBounds(`'\\'${'('.repeat(50)}'`)).toBeUndefined();
  });

  it('reports the position where the bound is crossed', () => {
    expect(checkSourceBounds(`true &&\n  ${'('.repeat(33)}true${')'.repeat(33)}`)).toEqual({
      message: 'expression nests brackets more than 32 levels deep',
      line: 2,
      column: 35,
    });
  });
});

describe('evaluation budget', () => {
  it('stops nested comprehensions over large lists after maxSteps', () => {
    const act = activation({ sql: { text: '', statements: statements(200) } });
    // A far deadline, so only the step count can stop it.
    const budget = new EvalBudget(DEFAULT_EVAL_LIMITS.maxSteps, performance.now() + 3_600_000, 3_600_000);
    const out = evaluate('sql.statements.all(a, sql.statements.all(b, sql.statements.all(c, true)))', act, budget);
    expect(out).toEqual({ ok: false, reason: `evaluation exceeded its budget of ${DEFAULT_EVAL_LIMITS.maxSteps} steps (comprehension iterations and regex matches)` });
    expect(budget.steps).toBe(DEFAULT_EVAL_LIMITS.maxSteps + 1);
  });

  it('lets the same expression run over small lists', () => {
    const act = activation({ sql: { text: '', statements: statements(20) } });
    expect(evaluate('sql.statements.all(a, sql.statements.all(b, sql.statements.all(c, true)))', act)).toEqual({ ok: true, value: true });
  });

  it('a budget overrun cannot be absorbed by || or &&', () => {
    const act = activation({ sql: { text: '', statements: statements(200) } });
    const heavy = 'sql.statements.all(a, sql.statements.all(b, sql.statements.all(c, true)))';
    // `error || true` is true in CEL; an overrun must still fail.
    expect(evaluate(`${heavy} || true`, act).ok).toBe(false);
    expect(evaluate(`true || ${heavy}`, act)).toEqual({ ok: true, value: true });
    // `error && false` is false in CEL; an overrun must still fail.
    expect(evaluate(`${heavy} && false`, act).ok).toBe(false);
    expect(evaluate(`false && ${heavy}`, act)).toEqual({ ok: true, value: false });
  });

  it('counts matches() calls, and an overrun inside matches() fails the rule even when absorbed', () => {
    const act = activation({ sql: { text: 'abc', statements: statements(50) } });
    const budget = new EvalBudget(10, performance.now() + 60_000, 60_000);
    const out = evaluate("sql.statements.exists(s, sql.text.matches('^z')) || true", act, budget);
    expect(out.ok).toBe(false);
    expect(budget.exceeded?.code).toBe('CEL_BUDGET_EXCEEDED');
  });

  it('stops at the deadline', () => {
    const act = activation({ sql: { text: '', statements: statements(10) } });
    const expired = new EvalBudget(1_000_000, performance.now() - 1, 0);
    expect(evaluate('sql.statements.all(s, true)', act, expired)).toEqual({ ok: false, reason: expect.stringMatching(/time budget/) });
    // Without a comprehension nothing is checked against the clock: the work is bounded by the AST size.
    const alsoExpired = new EvalBudget(1_000_000, performance.now() - 1, 0);
    expect(evaluate("sql.text == ''", act, alsoExpired)).toEqual({ ok: true, value: true });
  });

  it('the engine turns a budget overrun into a deny naming the rule', () => {
    const engine = PolicyEngine.compile([policy('sql.statements.all(a, sql.statements.all(b, true)) || true')], {
      evalLimits: { maxSteps: 1000, timeoutMs: 3_600_000 },
    });
    const d = engine.decide(activation({ sql: { text: '', statements: statements(100) } }));
    expect(d).toMatchObject({ action: 'deny', rule: 'r' });
    expect(d.message).toMatch(/rule r failed to evaluate: evaluation exceeded its budget of 1000 steps/);
  });

  it('the engine applies a time budget per decision', () => {
    const engine = PolicyEngine.compile([policy('sql.statements.all(s, true)')], { evalLimits: { timeoutMs: 0 } });
    const d = engine.decide(activation({ sql: { text: '', statements: statements(3) } }));
    expect(d.action).toBe('deny');
    expect(d.message).toMatch(/time budget of 0 ms/);
  });
});

describe('activation bounds', () => {
  const cases: { name: string; act: Activation; path: RegExp }[] = [
    { name: 'too many statements', act: activation({ sql: { text: '', statements: statements(10_001) } }), path: /sql\.statements has more than 10000 items/ },
    { name: 'sql text too long', act: activation({ sql: { text: 'x'.repeat((1 << 20) + 1), statements: [] } }), path: /sql\.text is longer than 1048576/ },
    {
      name: 'too many claims',
      act: activation({
        identity: { ...activation().identity, claims: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`c${i}`, i])) },
      }),
      path: /identity\.claims has more than 1000 entries/,
    },
    {
      name: 'JSON nested too deep',
      act: activation({
        sql: undefined,
        http: { method: 'GET', host: 'h', path: '/', query: {}, headers: {}, json: JSON.parse(`${'['.repeat(40)}1${']'.repeat(40)}`) as unknown as [] },
      }),
      path: /http\.json.* is nested deeper than 32 levels/,
    },
  ];
  it.each(cases)('denies a request with $name, naming the path and never the value', ({ act, path }) => {
    const d = PolicyEngine.compile([policy('true')], { evalLimits: { timeoutMs: 3_600_000 } }).decide(act);
    expect(d.action).toBe('deny');
    expect(d.message).toMatch(/^request too large for policy evaluation: /);
    expect(d.message).toMatch(path);
    expect(d.message.length).toBeLessThan(200);
  });

  it('refuses an invalid date', () => {
    const d = PolicyEngine.compile([policy('true')], { evalLimits: { timeoutMs: 3_600_000 } }).decide(activation({ now: new Date(Number.NaN) }));
    expect(d.action).toBe('deny');
    expect(d.message).toMatch(/now is an invalid date/);
  });

  it('keeps request-supplied keys out of the path', () => {
    const headers: Record<string, string> = { 'x-secret-token-abc': 'x'.repeat((1 << 20) + 5) };
    const d = PolicyEngine.compile([policy('true')], { evalLimits: { timeoutMs: 3_600_000 } }).decide(
      activation({ sql: undefined, http: { method: 'GET', host: 'h', path: '/', query: {}, headers } }),
    );
    expect(d.action).toBe('deny');
    expect(d.message).toContain('http.headers.[key]');
    expect(d.message).not.toContain('secret-token');
  });
});

describe('matches() is RE2: linear time, no backtracking', () => {
  it('runs the classic catastrophic pattern without hanging', () => {
    expect(evaluate("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'.matches('^(a+)+$')")).toEqual({ ok: true, value: false });
    const long = `${'a'.repeat(100_000)}!`;
    const act = activation({ sql: { text: long, statements: [] } });
    expect(evaluate("sql.text.matches('^(a+)+$') || sql.text.matches('^(a|aa)*$') || sql.text.matches('(x+x+)+y')", act)).toEqual({
      ok: true,
      value: false,
    });
  });

  it('has CEL semantics: a partial match unless anchored', () => {
    expect(evaluate("'DROP TABLE x'.matches('(?i)drop\\\\s+table')")).toEqual({ ok: true, value: true });
    expect(evaluate("'abc'.matches('^b')")).toEqual({ ok: true, value: false });
    expect(evaluate("'abc'.matches('b')")).toEqual({ ok: true, value: true });
  });

  it('refuses constructs RE2 does not have (backreferences, lookaround)', () => {
    expect(evaluate("'aa'.matches('(a)\\\\1')")).toMatchObject({ ok: false, reason: 'invalid regular expression' });
    expect(evaluate("'ab'.matches('a(?=b)')")).toMatchObject({ ok: false, reason: 'invalid regular expression' });
  });

  it('refuses patterns over the length limit', () => {
    const act = activation({ sql: { text: 'a'.repeat(DEFAULT_CEL_LIMITS.maxRegexLength + 1), statements: [] } });
    expect(evaluate("'a'.matches(sql.text)", act)).toMatchObject({ ok: false, reason: 'regular expression too long' });
  });

  it('caches compiled patterns and evicts the oldest', () => {
    const re2 = boundedRe2(100, 2);
    expect(re2.compile('a+').test('caab')).toBe(true);
    expect(re2.compile('b').test('a')).toBe(false);
    expect(re2.compile('c').test('c')).toBe(true);
    expect(re2.compile('a+').test('xyz')).toBe(false);
    expect(() => re2.compile('a'.repeat(101))).toThrow(/longer than 100/);
  });
});
