import { describe, expect, it } from '@jest/globals';
import type { Activation, ConnectionFacts, FactValue, Identity, SqlStatementFacts } from './activation.js';
import { seededRandom } from '../../testkit/seeded-random.js';
import { compilePolicies, type Decision, type PolicyEngine, type PolicyEngineOptions } from './engine.js';
import type { AccessPolicyLike, RuleLike } from './policy-input.js';

const NS = 'agents';
// A far deadline: these tests are about results, never about time.
const FAR: PolicyEngineOptions = { evalLimits: { timeoutMs: 3_600_000 } };

const rule = (name: string, when: string, action: string, message?: string): RuleLike => ({ name, when, action, message });

function policy(name: string, rules: RuleLike[]): AccessPolicyLike {
  return {
    metadata: { name, namespace: NS },
    spec: {
      podSelector: { matchLabels: { app: 'agent' } },
      subjects: [{ serviceAccount: { name: 'agent-sa' } }],
      connections: ['orders-db', 'orders-db-dev'],
      approval: { approvers: { groups: ['dba'] }, timeout: '5m' },
      rules,
    },
  };
}

function identity(groups: string[] = ['system:serviceaccounts']): Identity {
  return {
    kind: 'serviceAccount',
    sub: 'system:serviceaccount:agents:agent-sa',
    iss: 'https://kubernetes.default.svc',
    groups,
    claims: { n: 1 },
    pod: { namespace: NS, name: 'agent-0', serviceAccount: 'agent-sa', labels: { app: 'agent' } },
  };
}

const CONNECTION: ConnectionFacts = { name: 'orders-db', protocol: 'postgres', host: 'db', port: 5432, labels: { env: 'prod' } };

function stmt(kind: string, over: Record<string, FactValue | undefined> = {}): SqlStatementFacts {
  return { kind, text: `${kind} ...`, tables: ['public.orders'], functions: [], hasWhere: true, ...over };
}

function activation(id: Identity, statements: SqlStatementFacts[], text = 'SELECT 1', over: Partial<Activation> = {}): Activation {
  return {
    identity: id,
    connection: CONNECTION,
    session: { id: 's-1', startedAt: new Date('2025-03-04T09:00:00Z'), statements: 3, denied: 0 },
    now: new Date('2025-03-04T10:30:00Z'),
    sql: { text, statements },
    ...over,
  };
}

function engines(policies: AccessPolicyLike[], options: PolicyEngineOptions = {}): { on: PolicyEngine; off: PolicyEngine } {
  const on = compilePolicies(policies, { ...FAR, ...options });
  const off = compilePolicies(policies, { ...FAR, ...options, decisionCache: false });
  expect(on.errors).toEqual([]);
  return { on: on.engine, off: off.engine };
}

const outcome = (d: Decision): unknown => ({
  action: d.action,
  policy: d.policy,
  rule: d.rule,
  message: d.message,
  approval: d.approval,
  matched: d.matched,
  errors: d.errors,
});

// the bench fixture's policy
const BENCH_RULES = [
  rule('allow-rw', "sql.statements.size() > 0 && sql.statements.all(s, s.kind in ['SELECT', 'UPDATE', 'INSERT', 'TRANSACTION'])", 'allow'),
  rule('deny-unbounded', "sql.statements.exists(s, s.kind in ['UPDATE', 'DELETE'] && !s.hasWhere)", 'deny', 'need a WHERE'),
  rule('deny-ddl', "sql.statements.exists(s, s.kind in ['DROP', 'TRUNCATE', 'ALTER', 'CREATE', 'GRANT'])", 'deny'),
  rule('deny-unparseable', "sql.statements.exists(s, s.kind == 'UNPARSEABLE')", 'deny'),
];

describe('decision cache', () => {
  it('answers repeated facts from the cache, whatever the texts', () => {
    const { on } = engines([policy('p', BENCH_RULES)]);
    const id = identity();
    const d = (aid: number): Decision => on.decide(activation(id, [stmt('SELECT', { text: `SELECT * FROM orders WHERE id = ${aid}` })], `SELECT * FROM orders WHERE id = ${aid}`));
    const first = d(1);
    const second = d(2); // stored the second time it is missed
    const third = d(3);
    expect(first.action).toBe('allow');
    expect(third).toBe(second);
    expect(Object.isFrozen(third)).toBe(true);
    expect(Object.isFrozen(third.matched)).toBe(true);
    expect(on.decisionCacheStats()).toMatchObject({ hits: 1, misses: 2, bypassed: 0, entries: 1 });
  });

  it('is off when asked', () => {
    const { off } = engines([policy('p', BENCH_RULES)]);
    const id = identity();
    for (let i = 0; i < 3; i++) off.decide(activation(id, [stmt('SELECT')]));
    expect(off.decisionCacheStats()).toEqual({ hits: 0, misses: 0, bypassed: 0, evictions: 0, entries: 0 });
  });

  it('bypasses the cache when an applicable rule may read the text, now or session, and decides on them', () => {
    const cases: [RuleLike, Partial<Activation>, Partial<Activation>][] = [
      [rule('no-sleep', "sql.text.contains('pg_sleep')", 'deny'), { sql: { text: 'SELECT 1', statements: [stmt('SELECT')] } }, { sql: { text: 'SELECT pg_sleep(9)', statements: [stmt('SELECT')] } }],
      [rule('no-sleep-stmt', "sql.statements.exists(s, s.text.contains('pg_sleep'))", 'deny'), { sql: { text: 'x', statements: [stmt('SELECT', { text: 'SELECT 1' })] } }, { sql: { text: 'x', statements: [stmt('SELECT', { text: 'SELECT pg_sleep(1)' })] } }],
      [rule('whole', 'sql.statements.exists(s, s != sql.statements[0])', 'deny'), { sql: { text: 'x', statements: [stmt('SELECT', { text: 'a' }), stmt('SELECT', { text: 'a' })] } }, { sql: { text: 'x', statements: [stmt('SELECT', { text: 'a' }), stmt('SELECT', { text: 'b' })] } }],
      [rule('office-hours', "now.getHours('UTC') >= 18", 'deny'), { now: new Date('2025-03-04T10:00:00Z') }, { now: new Date('2025-03-04T19:00:00Z') }],
      [rule('rate', 'session.statements > 10', 'deny'), { session: { id: 's', startedAt: new Date(0), statements: 1, denied: 0 } }, { session: { id: 's', startedAt: new Date(0), statements: 11, denied: 0 } }],
    ];
    for (const [r, a, b] of cases) {
      const { on } = engines([policy('p', [...BENCH_RULES, r])]);
      const id = identity();
      for (let i = 0; i < 3; i++) expect(on.decide(activation(id, [stmt('SELECT')], 'SELECT 1', a)).action).toBe('allow');
      expect(on.decide(activation(id, [stmt('SELECT')], 'SELECT 1', b))).toMatchObject({ action: 'deny', rule: r.name });
      expect(on.decisionCacheStats()).toMatchObject({ hits: 0, misses: 0, bypassed: 4, entries: 0 });
    }
  });

  it('caches alongside a rule that only names ssh (it is never evaluated for SQL)', () => {
    const { on } = engines([policy('p', [...BENCH_RULES, rule('no-root', "ssh.user == 'root' && now.getHours('UTC') > 0", 'deny')])]);
    const id = identity();
    for (let i = 0; i < 3; i++) on.decide(activation(id, [stmt('SELECT')]));
    expect(on.decisionCacheStats()).toMatchObject({ hits: 1, misses: 2, bypassed: 0 });
  });

  it('does not cache for a policy that does not compile (it denies everything)', () => {
    const bad = policy('bad', [rule('broken', 'sql.statements.exists(s,', 'deny')]);
    const { engine } = compilePolicies([policy('p', BENCH_RULES), bad], FAR);
    const id = identity();
    for (let i = 0; i < 3; i++) expect(engine.decide(activation(id, [stmt('SELECT')])).action).toBe('deny');
    expect(engine.decisionCacheStats()).toMatchObject({ hits: 0, bypassed: 3 });
  });

  it('never stores a decision with errors', () => {
    const { on } = engines(
      [policy('p', [...BENCH_RULES, rule('ratio', 'sql.statements.exists(s, 10 / s.rows > 1)', 'deny')])],
      { evalLimits: { timeoutMs: 3_600_000, maxSteps: 3 } },
    );
    const id = identity();
    // division by zero
    for (let i = 0; i < 4; i++) {
      const d = on.decide(activation(id, [stmt('SELECT', { rows: 0 })]));
      expect(d.action).toBe('deny');
      expect(d.errors?.[0]?.rule).toBe('ratio');
      expect(Object.isFrozen(d)).toBe(false);
    }
    // over the step budget: 5 statements, 3 steps
    for (let i = 0; i < 4; i++) {
      const d = on.decide(activation(id, Array.from({ length: 5 }, () => stmt('SELECT', { rows: 100 }))));
      expect(d.action).toBe('deny');
      expect(d.errors?.length).toBeGreaterThan(0);
    }
    expect(on.decisionCacheStats()).toMatchObject({ hits: 0, misses: 8, entries: 0 });
  });

  it('still refuses a request the activation conversion refuses, when its facts are cached', () => {
    const { on } = engines([policy('p', BENCH_RULES)], { activationLimits: { maxStringLength: 40 } });
    const id = identity();
    const facts = (text = 'SELECT 1'): SqlStatementFacts[] => [stmt('SELECT', { text })];
    for (let i = 0; i < 3; i++) expect(on.decide(activation(id, facts())).action).toBe('allow');
    expect(on.decisionCacheStats().hits).toBe(1);
    const long = 'SELECT 1 -- ' + 'x'.repeat(40);
    const refused: Activation[] = [
      activation(id, facts(), long),
      activation(id, facts(long)),
      activation(id, facts(), 'SELECT 1', { session: { id: 'x'.repeat(41), startedAt: new Date(0), statements: 0, denied: 0 } }),
      activation(id, facts(), 'SELECT 1', { now: new Date(Number.NaN) }),
      activation(id, facts(), 'SELECT 1', { session: { id: 's', startedAt: new Date(Number.NaN), statements: 0, denied: 0 } }),
    ];
    for (const a of refused) {
      const d = on.decide(a);
      expect(d.action).toBe('deny');
      expect(d.errors?.length).toBe(1);
    }
    expect(on.decisionCacheStats().hits).toBe(1);
    expect(on.decide(activation(id, facts())).action).toBe('allow');
    expect(on.decisionCacheStats().hits).toBe(2);
  });

  it('starts over when the identity or the connection facts change', () => {
    const { on } = engines([
      policy('p', [
        rule('dba', "'dba' in identity.groups && sql.statements.all(s, s.kind == 'DELETE')", 'allow'),
        rule('prod', "connection.labels.env == 'prod' && sql.statements.exists(s, s.kind == 'DELETE')", 'review'),
      ]),
    ]);
    const id = identity(['dba']);
    const del = [stmt('DELETE')];
    for (let i = 0; i < 3; i++) expect(on.decide(activation(id, del)).action).toBe('review');
    id.groups = ['analysts']; // a reassigned field is noticed (in-place changes are outside the contract)
    expect(on.decide(activation(id, del)).action).toBe('review');
    expect(on.decide(activation(id, del)).matched.map((m) => m.rule)).toEqual(['prod']);
    const staging: ConnectionFacts = { ...CONNECTION, labels: { env: 'staging' } };
    for (let i = 0; i < 3; i++) expect(on.decide(activation(id, del, 'x', { connection: staging })).action).toBe('deny');
    id.groups = ['dba'];
    for (let i = 0; i < 3; i++) expect(on.decide(activation(id, del, 'x', { connection: staging })).action).toBe('allow');
    // another object with the same facts is the same connection
    const again: ConnectionFacts = { ...staging, labels: { env: 'staging' } };
    expect(on.decide(activation(id, del, 'x', { connection: again }))).toBe(on.decide(activation(id, del, 'x', { connection: staging })));
    // labels in another order are another CEL map iteration order
    const twoLabels: ConnectionFacts = { ...CONNECTION, labels: { a: '1', b: '2' } };
    const swapped: ConnectionFacts = { ...CONNECTION, labels: { b: '2', a: '1' } };
    const { on: ordered } = engines([policy('p', [rule('first', "connection.labels.map(k, k)[0] == 'a' && size(sql.statements) > 0", 'allow')])]);
    for (let i = 0; i < 3; i++) expect(ordered.decide(activation(id, del, 'x', { connection: twoLabels })).action).toBe('allow');
    expect(ordered.decide(activation(id, del, 'x', { connection: swapped })).action).toBe('deny');
  });

  it('resolves a comprehension variable named sql to the variable, as the analysis assumes', () => {
    const { on, off } = engines([
      policy('p', [
        rule('shadow-int', '[1].exists(sql, sql == 1) && size(sql.statements) == 1', 'allow'),
        rule('shadow-stmt', "sql.statements.exists(sql, sql.kind == 'DELETE')", 'deny'),
      ]),
    ]);
    const id = identity();
    for (const engine of [on, off]) {
      expect(engine.decide(activation(id, [stmt('SELECT')])).action).toBe('allow');
      expect(engine.decide(activation(id, [stmt('DELETE')])).action).toBe('deny');
    }
  });
});


describe('decision cache: differential (cache on == cache off)', () => {
  const TRICKY_RULES = [
    rule('whole-eq', 'sql.statements.exists(s, s == sql.statements[0] && size(sql.statements) > 1)', 'review'),
    rule('keys', "sql.statements.exists(s, s.exists(k, k == 'text') && s.kind == 'INSERT')", 'review'),
    rule('text', "sql.text.contains('DROP')", 'deny', 'text'),
    rule('stmt-text', "sql.statements.exists(s, s.text.startsWith('UPDATE x'))", 'deny', 'stmt text'),
    rule('map-whole', "sql.statements.map(s, s) != sql.statements.map(s, s).filter(s, true) || sql.statements.exists(s, s.kind == 'GRANT')", 'deny'),
    rule('nested', "[sql][0].text.endsWith(';;')", 'deny'),
    rule('dyn', "dyn(sql).text.size() > 30", 'deny'),
    rule('shadow', "sql.statements.exists(sql, sql.text == 'SELECT 2')", 'deny'),
    rule('late', "now.getHours('UTC') == 23", 'deny'),
    rule('busy', 'session.statements > 40', 'deny'),
  ];
  const FACT_RULES = [
    ...BENCH_RULES,
    rule('cards', "sql.statements.exists(s, 'public.cards' in s.tables)", 'review'),
    rule('admin', "'dba' in identity.groups && sql.statements.all(s, s.kind == 'DELETE')", 'allow'),
    rule('prod-writes', "connection.labels.env == 'prod' && sql.statements.filter(s, s.writes).size() > 1", 'deny'),
    rule('first', "size(sql.statements) > 0 && sql.statements[0].kind == 'DELETE' && sql.statements[0].hasWhere", 'allow'),
    rule('meta', "sql.statements.exists(s, has(s.meta) && s.meta.exists(k, k == 'text'))", 'review'),
    rule('ratio', 'sql.statements.exists(s, has(s.rows) && 100 / s.rows > 30)', 'deny'),
    rule('ssh-only', "ssh.user == 'root'", 'deny'),
  ];

  const KINDS = ['SELECT', 'UPDATE', 'DELETE', 'INSERT', 'TRANSACTION', 'DROP', 'GRANT', 'UNPARSEABLE'];
  const TABLES = ['public.orders', 'public.cards', 'public.users'];
  const TEXTS = ['SELECT 1', 'SELECT 2', 'UPDATE x SET a = 1', 'DROP TABLE t', 'DELETE FROM t;;', 'a much longer statement text, over thirty characters'];

  function randomStatement(r: () => number): SqlStatementFacts {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
    const s: Record<string, FactValue | undefined> = {
      kind: pick(KINDS),
      text: pick(TEXTS),
      tables: r() < 0.5 ? [pick(TABLES)] : [pick(TABLES), pick(TABLES)],
      functions: [],
      hasWhere: r() < 0.6,
      writes: r() < 0.5,
    };
    if (r() < 0.2) s.rows = Math.floor(r() * 4); // 0: a division by zero (an error, never cached)
    if (r() < 0.15) s.meta = r() < 0.5 ? { text: pick(TEXTS) } : { other: 1 };
    if (r() < 0.1) delete s.text;
    return s as SqlStatementFacts;
  }

  const cases: [string, RuleLike[]][] = [
    ['fact rules only (cacheable)', FACT_RULES],
    ['with rules that read text, now or session', [...FACT_RULES, ...TRICKY_RULES]],
  ];
  it.each(cases)('%s', (_name, rules) => {
    const { on, off } = engines([policy('p', rules), policy('q', [rule('first-select', "sql.statements.exists(s, s.kind == 'SELECT')", 'allow')])]);
    const r = seededRandom(rules.length);
    const identities = [identity(), identity(['dba']), identity(['system:serviceaccounts', 'dba'])];
    const connections: ConnectionFacts[] = [CONNECTION, { ...CONNECTION, name: 'orders-db-dev', labels: { env: 'dev' } }];
    // a pool of facts, so that facts repeat with other texts
    const pool: SqlStatementFacts[][] = Array.from({ length: 40 }, () => Array.from({ length: Math.floor(r() * 3) }, () => randomStatement(r)));
    let sameFactsOtherOutcome = 0;
    const seen = new Map<SqlStatementFacts[], Set<string>>();
    for (let i = 0; i < 3000; i++) {
      const base = pool[Math.floor(r() * pool.length)] as SqlStatementFacts[];
      // the same facts with new texts (and sometimes new copies of the objects)
      const statements = base.map((s) => (s.text === undefined ? { ...s } : { ...s, text: TEXTS[Math.floor(r() * TEXTS.length)] as string }));
      const a: Activation = {
        identity: identities[Math.floor(r() * identities.length)] as Identity,
        connection: connections[Math.floor(r() * connections.length)] as ConnectionFacts,
        session: { id: 's', startedAt: new Date('2025-03-04T09:00:00Z'), statements: Math.floor(r() * 60), denied: 0 },
        now: new Date(Date.UTC(2025, 2, 4, Math.floor(r() * 24))),
        sql: { text: TEXTS[Math.floor(r() * TEXTS.length)] as string, statements },
      };
      const want = off.decide(a);
      const got = on.decide(a);
      expect(outcome(got)).toEqual(outcome(want));
      const outcomes = seen.get(base) ?? new Set<string>();
      outcomes.add(`${identities.indexOf(a.identity)}/${connections.indexOf(a.connection)}/${want.action}/${want.rule ?? ''}`);
      seen.set(base, outcomes);
    }
    for (const [, outcomes] of seen) {
      const byContext = new Map<string, Set<string>>();
      for (const o of outcomes) {
        const [ctx, ...rest] = [o.split('/').slice(0, 2).join('/'), o.split('/').slice(2).join('/')];
        byContext.set(ctx, (byContext.get(ctx) ?? new Set()).add(rest.join('')));
      }
      for (const [, set] of byContext) if (set.size > 1) sameFactsOtherOutcome++;
    }
    const stats = on.decisionCacheStats();
    if (rules === FACT_RULES) {
      // the cache was exercised, and facts alone decided
      expect(stats.hits).toBeGreaterThan(1000);
      expect(sameFactsOtherOutcome).toBe(0);
    } else {
      // texts, now and session changed decisions for the same facts: a cache keyed on facts would have been wrong
      expect(sameFactsOtherOutcome).toBeGreaterThan(10);
      expect(stats.hits).toBe(0);
    }
  });
});
