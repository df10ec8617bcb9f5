import { describe, expect, it } from '@jest/globals';
import type { Activation, Identity } from './activation.js';
import { PolicyEngine, compilePolicies, DEFAULT_DENY_MESSAGE, type Decision } from './engine.js';
import { PolicyCompileError, PolicySetCompileError } from './errors.js';
import type { AccessPolicyLike, AccessPolicySpecLike, RuleLike } from './policy-input.js';

const NS = 'agents';
// A far deadline: these tests are about results, never about time.
const FAR = { evalLimits: { timeoutMs: 3_600_000 } };

function policy(name: string, rules: RuleLike[], spec: AccessPolicySpecLike = {}, namespace = NS): AccessPolicyLike {
  return {
    metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: { app: 'agent' } },
      subjects: [{ serviceAccount: { name: 'agent-sa' } }],
      connections: ['orders-db', 'bastion', 'billing-api'],
      approval: { approvers: { groups: ['dba'] }, timeout: '5m' },
      rules,
      ...spec,
    },
  };
}

const rule = (name: string, when: string, action: string, message?: string): RuleLike => ({ name, when, action, message });

function saIdentity(over: Partial<Identity> = {}): Identity {
  return {
    kind: 'serviceAccount',
    sub: 'system:serviceaccount:agents:agent-sa',
    iss: 'https://kubernetes.default.svc',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:agents'],
    claims: {},
    pod: { namespace: NS, name: 'agent-0', serviceAccount: 'agent-sa', labels: { app: 'agent', tier: 'batch' } },
    ...over,
  };
}

function oidcIdentity(over: Partial<Identity> = {}): Identity {
  return {
    kind: 'oidc',
    sub: 'alice',
    iss: 'https://idp.example.com',
    groups: ['analysts'],
    claims: { aud: ['agentgate'], roles: ['oncall'], email: 'alice@example.com' },
    pod: { namespace: NS, name: 'agent-0', serviceAccount: 'agent-sa', labels: { app: 'agent' } },
    ...over,
  };
}

function sqlActivation(over: Partial<Activation> = {}): Activation {
  return {
    identity: saIdentity(),
    connection: { name: 'orders-db', protocol: 'postgres', host: 'db.internal', port: 5432, labels: { env: 'prod' } },
    session: { id: 's-1', startedAt: new Date('2025-03-04T09:00:00Z'), statements: 3, denied: 0 },
    now: new Date('2025-03-04T10:30:00Z'),
    sql: {
      text: 'SELECT * FROM orders WHERE id = 1',
      statements: [{ kind: 'SELECT', tables: ['public.orders'], functions: [], hasWhere: true }],
    },
    ...over,
  };
}

function sshActivation(over: Partial<Activation> = {}): Activation {
  const base = sqlActivation();
  return {
    ...base,
    connection: { name: 'bastion', protocol: 'ssh', host: 'bastion.internal', port: 22, labels: {} },
    sql: undefined,
    ssh: { user: 'ops', command: 'ls -la /var/log', argv: ['ls', '-la', '/var/log'], pty: false, subsystem: '' },
    ...over,
  };
}

function httpActivation(over: Partial<Activation> = {}): Activation {
  const base = sqlActivation();
  return {
    ...base,
    connection: { name: 'billing-api', protocol: 'http', host: 'billing.internal', port: 443, labels: {} },
    sql: undefined,
    http: {
      method: 'POST',
      host: 'billing.internal',
      path: '/api/refunds',
      query: { dryRun: ['true'], id: ['1', '2'] },
      headers: { 'content-type': 'application/json', 'x-env': 'prod' },
      json: { amount: 42.5, currency: 'EUR', items: [{ sku: 'a' }, { sku: 'b' }] },
    },
    ...over,
  };
}

function decide(policies: AccessPolicyLike[], act: Activation = sqlActivation()): Decision {
  return PolicyEngine.compile(policies, FAR).decide(act);
}

describe('effects combine deny > review > allow > default deny', () => {
  const T = 'true';
  const F = 'false';
  const cases: { name: string; rules: RuleLike[]; action: string; rule?: string }[] = [
    { name: 'allow', rules: [rule('a', T, 'allow')], action: 'allow', rule: 'a' },
    { name: 'deny', rules: [rule('d', T, 'deny')], action: 'deny', rule: 'd' },
    { name: 'review', rules: [rule('r', T, 'review')], action: 'review', rule: 'r' },
    { name: 'allow+deny', rules: [rule('a', T, 'allow'), rule('d', T, 'deny')], action: 'deny', rule: 'd' },
    { name: 'allow+review', rules: [rule('a', T, 'allow'), rule('r', T, 'review')], action: 'review', rule: 'r' },
    { name: 'review+deny', rules: [rule('r', T, 'review'), rule('d', T, 'deny')], action: 'deny', rule: 'd' },
    { name: 'all three', rules: [rule('a', T, 'allow'), rule('r', T, 'review'), rule('d', T, 'deny')], action: 'deny', rule: 'd' },
    { name: 'none match', rules: [rule('a', F, 'allow'), rule('r', F, 'review'), rule('d', F, 'deny')], action: 'deny' },
    { name: 'only a false deny', rules: [rule('d', F, 'deny')], action: 'deny' },
    { name: 'false deny, true allow', rules: [rule('d', F, 'deny'), rule('a', T, 'allow')], action: 'allow', rule: 'a' },
  ];
  it.each(cases)('$name → $action', ({ rules, action, rule: decidingRule }) => {
    const d = decide([policy('p', rules)]);
    expect(d.action).toBe(action);
    expect(d.rule).toBe(decidingRule);
    if (decidingRule === undefined) {
      expect(d.message).toBe(DEFAULT_DENY_MESSAGE);
      expect(d.policy).toBeUndefined();
    } else {
      expect(d.policy).toBe(`${NS}/p`);
      expect(d.message).toContain(`${NS}/p`);
      expect(d.message).toContain(decidingRule);
    }
    expect(d.matched.map((m) => m.rule)).toEqual(rules.filter((r) => r.when === T).map((r) => r.name));
  });

  it('carries the approval settings of the deciding policy on review', () => {
    const d = decide([policy('p', [rule('r', 'true', 'review', 'writes need a DBA')])]);
    expect(d.action).toBe('review');
    expect(d.message).toBe(`review required by policy ${NS}/p rule r: writes need a DBA`);
    expect(d.approval).toMatchObject({ approvers: { groups: ['dba'], users: [] }, required: 1, timeoutMs: 300_000, scope: 'once' });
  });

  it('puts the rule message in allow and deny messages', () => {
    expect(decide([policy('p', [rule('d', 'true', 'deny', 'no DDL')])]).message).toBe(`denied by policy ${NS}/p rule d: no DDL`);
    expect(decide([policy('p', [rule('a', 'true', 'allow')])]).message).toBe(`allowed by policy ${NS}/p rule a`);
  });

  it('denies by default when no policy exists at all', () => {
    const d = PolicyEngine.compile([], FAR).decide(sqlActivation());
    expect(d).toEqual({ action: 'deny', message: DEFAULT_DENY_MESSAGE, matched: [] });
  });
});

describe('multiple policies', () => {
  it('a deny in one policy beats an allow in another', () => {
    const d = decide([policy('a-allow', [rule('ok', 'true', 'allow')]), policy('b-deny', [rule('no', 'true', 'deny')])]);
    expect(d).toMatchObject({ action: 'deny', policy: `${NS}/b-deny`, rule: 'no' });
    expect(d.matched).toEqual([
      { policy: `${NS}/a-allow`, rule: 'ok', action: 'allow' },
      { policy: `${NS}/b-deny`, rule: 'no', action: 'deny' },
    ]);
  });

  it('names the first denying rule in policy namespace/name order, whatever the input order', () => {
    const policies = [
      policy('zeta', [rule('z1', 'true', 'deny')]),
      policy('alpha', [rule('a1', 'false', 'deny'), rule('a2', 'true', 'deny'), rule('a3', 'true', 'deny')]),
    ];
    const d = decide(policies);
    expect(d).toMatchObject({ action: 'deny', policy: `${NS}/alpha`, rule: 'a2' });
    expect(decide([...policies].reverse())).toMatchObject({ policy: `${NS}/alpha`, rule: 'a2' });
  });

  it('review in one policy and allow in another → review from the reviewing policy', () => {
    const d = decide([
      policy('a', [rule('ok', 'true', 'allow')]),
      policy('b', [rule('check', 'true', 'review')], { approval: { approvers: { users: ['bob'] }, scope: 'grant', grantDuration: '1h' } }),
    ]);
    expect(d).toMatchObject({ action: 'review', policy: `${NS}/b`, rule: 'check' });
    expect(d.approval).toMatchObject({ approvers: { users: ['bob'], groups: [] }, scope: 'grant', grantDurationMs: 3_600_000, timeoutMs: 600_000 });
  });

  it('ignores policies that do not apply', () => {
    const d = decide([
      policy('other-ns', [rule('no', 'true', 'deny')], {}, 'elsewhere'),
      policy('other-conn', [rule('no', 'true', 'deny')], { connections: ['another-db'] }),
      policy('mine', [rule('ok', 'true', 'allow')]),
    ]);
    expect(d).toMatchObject({ action: 'allow', policy: `${NS}/mine` });
    expect(d.matched).toHaveLength(1);
  });
});

describe('applicability: namespace, pod selector, connection', () => {
  const cases: { name: string; spec: AccessPolicySpecLike; namespace?: string; applies: boolean }[] = [
    { name: 'matchLabels match', spec: { podSelector: { matchLabels: { app: 'agent' } } }, applies: true },
    { name: 'matchLabels mismatch', spec: { podSelector: { matchLabels: { app: 'web' } } }, applies: false },
    { name: 'matchLabels missing key', spec: { podSelector: { matchLabels: { team: 'x' } } }, applies: false },
    { name: 'empty selector', spec: { podSelector: {} }, applies: true },
    { name: 'absent selector', spec: { podSelector: undefined }, applies: true },
    { name: 'In match', spec: { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['batch', 'x'] }] } }, applies: true },
    { name: 'In mismatch', spec: { podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } }, applies: false },
    { name: 'In absent key', spec: { podSelector: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] } }, applies: false },
    { name: 'NotIn match', spec: { podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] } }, applies: true },
    { name: 'NotIn absent key', spec: { podSelector: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] } }, applies: true },
    { name: 'NotIn mismatch', spec: { podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] } }, applies: false },
    { name: 'Exists', spec: { podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } }, applies: true },
    { name: 'Exists absent', spec: { podSelector: { matchExpressions: [{ key: 'zone', operator: 'Exists' }] } }, applies: false },
    { name: 'DoesNotExist', spec: { podSelector: { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] } }, applies: true },
    { name: 'DoesNotExist present', spec: { podSelector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] } }, applies: false },
    {
      name: 'labels and expressions both needed',
      spec: { podSelector: { matchLabels: { app: 'agent' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] } },
      applies: false,
    },
    { name: 'other namespace', spec: {}, namespace: 'elsewhere', applies: false },
    { name: 'connection not listed', spec: { connections: ['another-db'] }, applies: false },
  ];
  it.each(cases)('$name → applies=$applies', ({ spec, namespace, applies }) => {
    const engine = PolicyEngine.compile([policy('p', [rule('ok', 'true', 'allow')], spec, namespace)], FAR);
    expect(engine.applicable(saIdentity(), 'orders-db').length).toBe(applies ? 1 : 0);
    expect(engine.decide(sqlActivation()).action).toBe(applies ? 'allow' : 'deny');
  });
});

describe('applicability: subjects', () => {
  const idp = 'https://idp.example.com';
  const cases: { name: string; subjects: AccessPolicySpecLike['subjects']; identity: Identity; applies: boolean }[] = [
    { name: 'SA by name, namespace defaults to policy', subjects: [{ serviceAccount: { name: 'agent-sa' } }], identity: saIdentity(), applies: true },
    { name: 'SA explicit namespace', subjects: [{ serviceAccount: { name: 'agent-sa', namespace: NS } }], identity: saIdentity(), applies: true },
    { name: 'SA other name', subjects: [{ serviceAccount: { name: 'other' } }], identity: saIdentity(), applies: false },
    { name: 'SA other namespace', subjects: [{ serviceAccount: { name: 'agent-sa', namespace: 'kube-system' } }], identity: saIdentity(), applies: false },
    {
      name: 'SA subject does not match an OIDC identity in a pod with that SA',
      subjects: [{ serviceAccount: { name: 'agent-sa' } }],
      identity: oidcIdentity(),
      applies: false,
    },
    { name: 'OIDC any identity of the issuer', subjects: [{ oidc: { issuer: idp } }], identity: oidcIdentity(), applies: true },
    { name: 'OIDC other issuer', subjects: [{ oidc: { issuer: 'https://evil.example.com' } }], identity: oidcIdentity(), applies: false },
    { name: 'OIDC subject does not match an SA identity', subjects: [{ oidc: { issuer: idp } }], identity: saIdentity(), applies: false },
    { name: 'OIDC users contains sub', subjects: [{ oidc: { issuer: idp, users: ['bob', 'alice'] } }], identity: oidcIdentity(), applies: true },
    { name: 'OIDC users without sub', subjects: [{ oidc: { issuer: idp, users: ['bob'] } }], identity: oidcIdentity(), applies: false },
    { name: 'OIDC groups intersect', subjects: [{ oidc: { issuer: idp, groups: ['admins', 'analysts'] } }], identity: oidcIdentity(), applies: true },
    { name: 'OIDC groups disjoint', subjects: [{ oidc: { issuer: idp, groups: ['admins'] } }], identity: oidcIdentity(), applies: false },
    {
      name: 'OIDC users miss but groups hit',
      subjects: [{ oidc: { issuer: idp, users: ['bob'], groups: ['analysts'] } }],
      identity: oidcIdentity(),
      applies: true,
    },
    {
      name: 'OIDC custom groups claim',
      subjects: [{ oidc: { issuer: idp, groupsClaim: 'roles', groups: ['oncall'] } }],
      identity: oidcIdentity(),
      applies: true,
    },
    {
      name: 'OIDC custom groups claim ignores identity.groups',
      subjects: [{ oidc: { issuer: idp, groupsClaim: 'roles', groups: ['analysts'] } }],
      identity: oidcIdentity(),
      applies: false,
    },
    { name: 'OIDC audience present', subjects: [{ oidc: { issuer: idp, audience: 'agentgate' } }], identity: oidcIdentity(), applies: true },
    { name: 'OIDC audience absent', subjects: [{ oidc: { issuer: idp, audience: 'other-app' } }], identity: oidcIdentity(), applies: false },
    {
      name: 'any of several subjects',
      subjects: [{ serviceAccount: { name: 'other' } }, { oidc: { issuer: idp, users: ['alice'] } }],
      identity: oidcIdentity(),
      applies: true,
    },
  ];
  it.each(cases)('$name → applies=$applies', ({ subjects, identity, applies }) => {
    const engine = PolicyEngine.compile([policy('p', [rule('ok', 'true', 'allow')], { subjects })], FAR);
    expect(engine.applicable(identity, 'orders-db').length).toBe(applies ? 1 : 0);
    expect(engine.decide(sqlActivation({ identity })).action).toBe(applies ? 'allow' : 'deny');
  });

  it('an OIDC identity is still subject to the pod selector of the pod it runs in', () => {
    const engine = PolicyEngine.compile([policy('p', [rule('ok', 'true', 'allow')], { subjects: [{ oidc: { issuer: idp } }] })], FAR);
    const elsewhere = oidcIdentity({ pod: { namespace: NS, name: 'web-0', serviceAccount: 'web', labels: { app: 'web' } } });
    expect(engine.decide(sqlActivation({ identity: elsewhere })).action).toBe('deny');
    const otherNs = oidcIdentity({ pod: { namespace: 'other', name: 'a', serviceAccount: 'x', labels: { app: 'agent' } } });
    expect(engine.decide(sqlActivation({ identity: otherNs })).action).toBe('deny');
  });
});

describe('rule evaluation errors count as deny', () => {
  const cases: { name: string; when: string; reason: string }[] = [
    { name: 'list index out of range', when: "sql.statements[5].kind == 'X'", reason: 'list index out of range' },
    { name: 'missing map key', when: "identity.claims.department == 'eng'", reason: 'no such key or field' },
    { name: 'division by zero', when: '10 / (session.denied) > 1', reason: 'division by zero' },
    { name: 'wrong operand type', when: "connection.port + 'x' == 'y'", reason: 'no matching overload' },
    { name: 'non-bool result', when: 'identity.sub', reason: 'not a bool' },
    { name: 'invalid regex from the request', when: 'identity.sub.matches(sql.text)', reason: 'invalid regular expression' },
    { name: 'protocol variable missing', when: "http.method == 'GET' || sql.text == ''", reason: 'failed to evaluate' },
  ];
  it.each(cases)('$name', ({ when, reason }) => {
    const act = sqlActivation({ sql: { text: '(unclosed', statements: sqlActivation().sql?.statements ?? [] } });
    const d = decide([policy('a', [rule('ok', 'true', 'allow')]), policy('b', [rule('broken', when, 'allow')])], act);
    expect(d.action).toBe('deny');
    expect(d.policy).toBe(`${NS}/b`);
    expect(d.rule).toBe('broken');
    expect(d.message).toContain('rule broken failed to evaluate');
    expect(d.message).toContain(reason);
    expect(d.errors).toHaveLength(1);
    expect(d.matched).toContainEqual({ policy: `${NS}/b`, rule: 'broken', action: 'deny' });
  });

  it('never puts request values in the message', () => {
    const secret = 'tok-3f9a-SECRET-value';
    const act = sqlActivation({ identity: saIdentity({ claims: { token: secret } }), sql: { text: secret, statements: [] } });
    for (const when of [
      'identity.claims[sql.text] == 1',
      "{'a': 1}[sql.text] == 1",
      'sql.text.matches(sql.text + "(")',
      'int(sql.text) > 1',
      'timestamp(sql.text) > now',
      'sql.text',
    ]) {
      const d = decide([policy('p', [rule('r', when, 'allow')])], act);
      expect(d.action).toBe('deny');
      expect(d.message).not.toContain('SECRET');
      expect(JSON.stringify(d)).not.toContain('SECRET');
    }
  });

  it('points at the failing part of the expression', () => {
    const d = decide([policy('p', [rule('r', "sql.text != '' &&\n  sql.statements[3].kind == 'X'", 'allow')])]);
    expect(d.message).toMatch(/at 2:\d+/);
  });
});

describe('invalid policies fail closed', () => {
  it('compilePolicies reports errors and keeps the policy as deny-everything', () => {
    const { engine, errors } = compilePolicies([
      policy('good', [rule('ok', 'true', 'allow')]),
      policy('bad', [rule('oops', 'sql.text ==', 'deny')]),
    ], FAR);
    expect(errors).toHaveLength(1);
    const d = engine.decide(sqlActivation());
    expect(d).toMatchObject({ action: 'deny', policy: `${NS}/bad`, rule: 'oops' });
    expect(d.message).toContain('is invalid');
  });

  it('an invalid selector widens the policy to every pod of the namespace', () => {
    const { engine, errors } = compilePolicies([
      policy('bad', [rule('ok', 'true', 'allow')], { podSelector: { matchExpressions: [{ key: 'app', operator: 'Matches', values: ['x'] }] } }),
    ], FAR);
    expect(errors.map((e) => e.field)).toEqual(['spec.podSelector.matchExpressions[0].operator']);
    const otherPod = saIdentity({ pod: { namespace: NS, name: 'x', serviceAccount: 'agent-sa', labels: { app: 'web' } } });
    expect(engine.decide(sqlActivation({ identity: otherPod })).action).toBe('deny');
    expect(engine.applicable(otherPod, 'orders-db')).toHaveLength(1);
  });

  it('PolicyEngine.compile throws with every error', () => {
    let caught: unknown;
    try {
      PolicyEngine.compile([policy('p', [rule('a', '1 +', 'allow'), rule('b', 'true', 'permit')])], FAR);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PolicySetCompileError);
    const e = caught as PolicySetCompileError;
    expect(e.code).toBe('POLICY_COMPILE_FAILED');
    expect(e.errors.map((x) => [x.rule, x.field])).toEqual([
      ['a', 'spec.rules[0].when'],
      ['b', 'spec.rules[1].action'],
    ]);
  });
});

describe('compile errors carry policy, rule, expression and position', () => {
  const cases: { name: string; when: string; reason: string; line: number; column: number; text: RegExp }[] = [
    { name: 'syntax error on line 2', when: "sql.text == 'a' &&\n  sql.text == ", reason: 'syntax', line: 2, column: 0, text: /syntax error/ },
    { name: 'unknown variable', when: "identity.sub == 'a' && request.path == '/'", reason: 'unknown-variable', line: 1, column: 24, text: /unknown variable 'request'/ },
    { name: 'unknown variable on line 3', when: "true &&\ntrue &&\n  user == 'x'", reason: 'unknown-variable', line: 3, column: 3, text: /'user'/ },
    { name: 'unknown function', when: "sql.text.containz('x')", reason: 'unknown-function', line: 1, column: 0, text: /unknown function 'containz'/ },
    { name: 'replace is not offered', when: "sql.text.replace('a', 'b') == ''", reason: 'unknown-function', line: 1, column: 0, text: /replace/ },
    { name: 'int result', when: '1 + 2', reason: 'not-boolean', line: 1, column: 0, text: /must evaluate to a bool, but it yields int/ },
    { name: 'string result', when: "'allow'", reason: 'not-boolean', line: 1, column: 1, text: /yields string/ },
    { name: 'list result', when: 'sql.statements.map(s, s.kind)', reason: 'not-boolean', line: 1, column: 0, text: /yields list/ },
    { name: 'too long', when: `true || ${"'x' == 'y' || ".repeat(400)}false`, reason: 'bounds', line: 1, column: 4097, text: /limit is 4096/ },
    { name: 'too deep', when: `${'('.repeat(33)}true${')'.repeat(33)}`, reason: 'bounds', line: 1, column: 33, text: /more than 32 levels/ },
  ];
  it.each(cases)('$name', ({ when, reason, line, column, text }) => {
    const { errors } = compilePolicies([policy('p', [rule('r1', when, 'allow')])], FAR);
    expect(errors).toHaveLength(1);
    const e = errors[0] as PolicyCompileError;
    expect(e).toBeInstanceOf(PolicyCompileError);
    expect(e.code).toBe('POLICY_COMPILE_ERROR');
    expect(e.policy).toBe(`${NS}/p`);
    expect(e.rule).toBe('r1');
    expect(e.field).toBe('spec.rules[0].when');
    expect(e.expression).toBe(when);
    expect(e.reason).toBe(reason);
    expect(e.detail).toMatch(text);
    expect(e.line).toBe(line);
    if (column > 0) expect(e.column).toBe(column);
    else expect(e.column).toBeGreaterThanOrEqual(1);
    expect(e.message).toContain(`policy ${NS}/p: spec.rules[0].when (rule r1): `);
    expect(e.message).toMatch(/ at \d+:\d+$/);
  });

  const specCases: { name: string; spec: AccessPolicySpecLike; field: string }[] = [
    { name: 'unknown action', spec: { rules: [rule('r', 'true', 'permit')] }, field: 'spec.rules[0].action' },
    { name: 'duplicate rule names', spec: { rules: [rule('r', 'true', 'allow'), rule('r', 'false', 'deny')] }, field: 'spec.rules[1].name' },
    { name: 'no rules', spec: { rules: [] }, field: 'spec.rules' },
    { name: 'no subjects', spec: { subjects: [] }, field: 'spec.subjects' },
    { name: 'subject with both kinds', spec: { subjects: [{ serviceAccount: { name: 'a' }, oidc: { issuer: 'x' } }] }, field: 'spec.subjects[0]' },
    { name: 'no connections', spec: { connections: [] }, field: 'spec.connections' },
    { name: 'review without approval', spec: { rules: [rule('r', 'true', 'review')], approval: undefined }, field: 'spec.approval' },
    { name: 'approval without approvers', spec: { approval: { approvers: {} } }, field: 'spec.approval.approvers' },
    { name: 'grant without duration', spec: { approval: { approvers: { users: ['a'] }, scope: 'grant' } }, field: 'spec.approval.grantDuration' },
    { name: 'bad timeout', spec: { approval: { approvers: { users: ['a'] }, timeout: 'soon' } }, field: 'spec.approval.timeout' },
    { name: 'bad session duration', spec: { session: { maxDuration: '1 hour' } }, field: 'spec.session.maxDuration' },
    { name: 'bad masking strategy', spec: { masking: { columns: [{ table: 't', column: 'c', strategy: 'scramble' }] } }, field: 'spec.masking.columns[0].strategy' },
    { name: 'custom detector without pattern', spec: { masking: { detectors: [{ type: 'custom', strategy: 'redact' }] } }, field: 'spec.masking.detectors[0].pattern' },
    { name: 'custom detector bad pattern', spec: { masking: { detectors: [{ type: 'custom', pattern: '(a', strategy: 'redact' }] } }, field: 'spec.masking.detectors[0].pattern' },
  ];
  it.each(specCases)('$name → $field', ({ spec, field }) => {
    const { errors } = compilePolicies([policy('p', [rule('r', 'true', 'allow')], spec)], FAR);
    expect(errors.map((e) => e.field)).toContain(field);
    expect(errors.every((e) => e.reason === 'invalid-policy' && e.policy === `${NS}/p`)).toBe(true);
  });

  it('reports a missing namespace and name', () => {
    const { errors } = compilePolicies([{ metadata: {}, spec: policy('x', [rule('r', 'true', 'allow')]).spec }], FAR);
    expect(errors.map((e) => e.field)).toEqual(['metadata.namespace', 'metadata.name']);
  });
});

describe('each kind of operation', () => {
  it('sql: statements, tables, functions, hasWhere, text', () => {
    const p = policy('p', [
      rule('reads', "sql.statements.all(s, s.kind == 'SELECT')", 'allow'),
      rule('no-pg-catalog', "sql.statements.exists(s, s.tables.exists(t, t.startsWith('pg_catalog.')))", 'deny'),
      rule('unbounded-delete', "sql.statements.exists(s, s.kind == 'DELETE' && !s.hasWhere)", 'deny'),
      rule('writes', "sql.statements.exists(s, s.kind in ['INSERT', 'UPDATE', 'DELETE'])", 'review'),
      rule('sleep', "sql.statements.exists(s, 'pg_sleep' in s.functions)", 'deny'),
    ]);
    const stmt = (kind: string, tables: string[], hasWhere = true, functions: string[] = []) => ({ kind, tables, functions, hasWhere });
    const run = (statements: ReturnType<typeof stmt>[]) =>
      decide([p], sqlActivation({ sql: { text: 'x', statements } })).rule;
    expect(run([stmt('SELECT', ['public.orders'])])).toBe('reads');
    expect(run([stmt('SELECT', ['pg_catalog.pg_authid'])])).toBe('no-pg-catalog');
    expect(run([stmt('DELETE', ['public.orders'], false)])).toBe('unbounded-delete');
    expect(run([stmt('DELETE', ['public.orders'], true)])).toBe('writes');
    expect(run([stmt('SELECT', [], false, ['pg_sleep'])])).toBe('sleep');
    expect(run([stmt('DROP', ['public.orders'])])).toBeUndefined();
  });

  it('sql: extra classifier fields reach the policy', () => {
    const p = policy('p', [rule('r', 'sql.statements[0].maskedColumnsInWhere.size() == 0 && sql.statements[0].rows == 3', 'allow')]);
    const d = decide([p], sqlActivation({ sql: { text: 'x', statements: [{ kind: 'SELECT', tables: [], functions: [], hasWhere: true, maskedColumnsInWhere: [], rows: 3 }] } }));
    expect(d.action).toBe('allow');
  });

  it('ssh: command, argv, pty, subsystem, forward', () => {
    const p = policy('p', [
      rule('ls', "ssh.command.startsWith('ls ') && !ssh.pty && ssh.user == 'ops'", 'allow'),
      rule('rm', "ssh.argv.exists(a, a == 'rm')", 'deny'),
      rule('sftp', "ssh.subsystem == 'sftp'", 'review'),
      rule('fwd', 'has(ssh.forward) && ssh.forward.port == 5432', 'allow'),
    ]);
    expect(decide([p], sshActivation()).rule).toBe('ls');
    expect(decide([p], sshActivation({ ssh: { user: 'ops', command: 'sudo rm -rf /', argv: ['sudo', 'rm', '-rf', '/'], pty: false, subsystem: '' } })).rule).toBe('rm');
    expect(decide([p], sshActivation({ ssh: { user: 'ops', command: '', argv: [], pty: false, subsystem: 'sftp' } })).action).toBe('review');
    expect(decide([p], sshActivation({ ssh: { user: 'ops', command: '', argv: [], pty: false, subsystem: '', forward: { host: 'db', port: 5432 } } })).rule).toBe('fwd');
    expect(decide([p], sshActivation({ ssh: { user: 'ops', command: 'bash', argv: ['bash'], pty: true, subsystem: '' } })).action).toBe('deny');
  });

  it('http: method, path, query, headers, json', () => {
    const p = policy('p', [
      rule(
        'refunds',
        "http.method == 'POST' && http.path.startsWith('/api/') && http.headers['x-env'] == 'prod' && http.query.id == ['1', '2'] && http.json.amount < 100.0 && http.json.items.size() == 2",
        'allow',
      ),
      rule('big', 'has(http.json) && has(http.json.amount) && http.json.amount >= 1000', 'review'),
    ]);
    expect(decide([p], httpActivation()).rule).toBe('refunds');
    const big = httpActivation();
    expect(decide([p], { ...big, http: { ...big.http!, json: { amount: 5000, items: [] } } }).action).toBe('review');
    expect(decide([p], { ...big, http: { ...big.http!, json: undefined, method: 'GET' } }).action).toBe('deny');
  });

  it('a rule about another protocol neither matches nor fails', () => {
    const p = policy('p', [
      rule('sql-deny', "sql.statements.exists(s, s.kind == 'DROP')", 'deny'),
      rule('ssh-allow', "ssh.command == 'uptime'", 'allow'),
    ]);
    const d = decide([p], sshActivation({ ssh: { user: 'ops', command: 'uptime', argv: ['uptime'], pty: false, subsystem: '' } }));
    expect(d).toMatchObject({ action: 'allow', rule: 'ssh-allow' });
    expect(d.errors).toBeUndefined();
    expect(decide([p], sqlActivation()).action).toBe('deny');
    expect(decide([p], sqlActivation()).rule).toBeUndefined();
  });

  it('identity, connection and session facts', () => {
    const p = policy('p', [
      rule(
        'r',
        "identity.pod.labels.app == 'agent' && 'system:serviceaccounts' in identity.groups && connection.port == 5432 && connection.labels.env == 'prod' && session.statements < 100 && session.id == 's-1' && identity.kind == 'serviceAccount'",
        'allow',
      ),
    ]);
    expect(decide([p]).action).toBe('allow');
  });
});

describe('timestamps', () => {
  const hours = policy('p', [rule('business-hours', "now.getHours('UTC') >= 9 && now.getHours('UTC') < 17 && now.getDayOfWeek('UTC') in [1, 2, 3, 4, 5]", 'allow')]);
  const cases: { at: string; action: string }[] = [
    { at: '2025-03-04T10:30:00Z', action: 'allow' }, // Tuesday
    { at: '2025-03-04T08:59:59Z', action: 'deny' },
    { at: '2025-03-04T17:00:00Z', action: 'deny' },
    { at: '2025-03-08T10:30:00Z', action: 'deny' }, // Saturday
  ];
  it.each(cases)('business hours at $at → $action', ({ at, action }) => {
    expect(decide([hours], sqlActivation({ now: new Date(at) })).action).toBe(action);
  });

  it('compares now with session.startedAt and literals', () => {
    const p = policy('p', [
      rule('fresh', "now - session.startedAt < duration('2h') && session.startedAt < now && now > timestamp('2025-01-01T00:00:00Z')", 'allow'),
    ]);
    expect(decide([p]).action).toBe('allow');
    expect(decide([p], sqlActivation({ now: new Date('2025-03-04T11:00:01Z') })).action).toBe('deny');
  });

  it('uses time zones', () => {
    const p = policy('p', [rule('ny-morning', "now.getHours('America/New_York') == 5", 'allow')]);
    expect(decide([p]).action).toBe('allow');
  });
});

describe('settings of applicable policies', () => {
  it('merges session settings: recording if any, strict if any, smallest durations', () => {
    const engine = PolicyEngine.compile([
      policy('a', [rule('r', 'true', 'allow')], { session: { recording: false, maxDuration: '1h', idleTimeout: '10m' } }),
      policy('b', [rule('r', 'true', 'allow')], { session: { recording: false, strictRecording: true, maxDuration: '15m' } }),
      policy('c', [rule('r', 'true', 'allow')], { session: { recording: true, idleTimeout: '5m' } }),
    ], FAR);
    const s = engine.settings(saIdentity(), 'orders-db');
    expect(s.policies.map((p) => p.key)).toEqual([`${NS}/a`, `${NS}/b`, `${NS}/c`]);
    expect(s.session).toEqual({ recording: true, strictRecording: true, maxDurationMs: 900_000, idleTimeoutMs: 300_000 });
  });

  it('recording stays off only when every policy turns it off', () => {
    const engine = PolicyEngine.compile([
      policy('a', [rule('r', 'true', 'allow')], { session: { recording: false } }),
      policy('b', [rule('r', 'true', 'allow')], { session: { recording: false } }),
    ], FAR);
    expect(engine.settings(saIdentity(), 'orders-db').session).toEqual({ recording: false, strictRecording: false });
    const withDefault = PolicyEngine.compile([
      policy('a', [rule('r', 'true', 'allow')], { session: { recording: false } }),
      policy('b', [rule('r', 'true', 'allow')]),
    ], FAR);
    expect(withDefault.settings(saIdentity(), 'orders-db').session.recording).toBe(true);
  });

  it('merges masking: union, stricter strategy wins on the same target', () => {
    const engine = PolicyEngine.compile([
      policy('a', [rule('r', 'true', 'allow')], {
        masking: {
          columns: [
            { table: 'public.customers', column: 'ssn', strategy: 'partial', keep: 4 },
            { table: 'public.customers', column: 'email', strategy: 'hash' },
          ],
          detectors: [{ type: 'pan', strategy: 'partial', keep: 4 }],
          hashKeySecretRef: { name: 'mask-key', key: 'k' },
        },
      }),
      policy('b', [rule('r', 'true', 'allow')], {
        masking: {
          columns: [{ table: 'public.customers', column: 'ssn', strategy: 'redact' }],
          jsonFields: [{ path: '$.user.ssn', strategy: 'null' }],
          detectors: [{ type: 'pan', strategy: 'partial', keep: 2 }, { type: 'custom', pattern: 'EMP-[0-9]{6}', strategy: 'hash' }],
          hashKeySecretRef: { name: 'other-key' },
        },
      }),
    ], FAR);
    const m = engine.settings(saIdentity(), 'orders-db').masking;
    expect(m.columns).toEqual([
      { table: 'public.customers', column: 'ssn', strategy: 'redact', keep: undefined, policy: `${NS}/b` },
      { table: 'public.customers', column: 'email', strategy: 'hash', keep: undefined, policy: `${NS}/a` },
    ]);
    expect(m.jsonFields).toEqual([{ path: '$.user.ssn', strategy: 'null', keep: undefined, policy: `${NS}/b` }]);
    expect(m.detectors).toEqual([
      { type: 'pan', pattern: undefined, strategy: 'partial', keep: 2, policy: `${NS}/b` },
      { type: 'custom', pattern: 'EMP-[0-9]{6}', strategy: 'hash', keep: undefined, policy: `${NS}/b` },
    ]);
    expect(m.hashKeySecretRef).toEqual({ name: 'mask-key', key: 'k', policy: `${NS}/a` });
  });

  it('applicable() lists only policies for this identity and connection', () => {
    const engine = PolicyEngine.compile([
      policy('a', [rule('r', 'true', 'allow')]),
      policy('b', [rule('r', 'true', 'allow')], { connections: ['other'] }),
    ], FAR);
    expect(engine.applicable(saIdentity(), 'orders-db').map((p) => p.key)).toEqual([`${NS}/a`]);
    expect(engine.applicable(saIdentity(), 'other').map((p) => p.key)).toEqual([`${NS}/b`]);
    expect(engine.applicable(saIdentity(), 'nope')).toEqual([]);
  });
});

describe('per-identity and per-connection caches', () => {
  const labelRule = rule('tier', "identity.pod.labels.tier == 'batch' && connection.labels.env == 'prod'", 'allow');
  const engine = (): PolicyEngine => PolicyEngine.compile([policy('p', [labelRule])], FAR);

  it('a second identity object with other labels gets its own applicability and values', () => {
    const e = engine();
    const first = saIdentity();
    const other = saIdentity({ pod: { namespace: NS, name: 'agent-1', serviceAccount: 'agent-sa', labels: { app: 'other' } } });
    const third = saIdentity({ pod: { namespace: NS, name: 'agent-2', serviceAccount: 'agent-sa', labels: { app: 'agent', tier: 'web' } } });
    expect(e.decide(sqlActivation({ identity: first })).action).toBe('allow');
    const d = e.decide(sqlActivation({ identity: other }));
    expect(d).toMatchObject({ action: 'deny', message: DEFAULT_DENY_MESSAGE, matched: [] });
    expect(e.applicable(other, 'orders-db')).toEqual([]);
    // applies, but the cached values of `first` must not leak into it
    expect(e.decide(sqlActivation({ identity: third })).action).toBe('deny');
    expect(e.decide(sqlActivation({ identity: first })).action).toBe('allow');
  });

  it('the same objects reused give the same decisions, per connection name', () => {
    const e = engine();
    const identity = saIdentity();
    const prod = { name: 'orders-db', protocol: 'postgres' as const, host: 'db', port: 5432, labels: { env: 'prod' } };
    const dev = { ...prod, labels: { env: 'dev' } };
    const elsewhere = { ...prod, name: 'not-listed' };
    for (let i = 0; i < 3; i++) {
      expect(e.decide(sqlActivation({ identity, connection: prod })).action).toBe('allow');
      expect(e.decide(sqlActivation({ identity, connection: dev })).action).toBe('deny');
      expect(e.decide(sqlActivation({ identity, connection: elsewhere })).matched).toEqual([]);
    }
    expect(e.applicable(identity, 'orders-db').map((p) => p.key)).toEqual([`${NS}/p`]);
    expect(e.applicable(identity, 'not-listed')).toEqual([]);
  });

  it('notices a reassigned field of a reused identity', () => {
    const e = engine();
    const identity = saIdentity();
    expect(e.decide(sqlActivation({ identity })).action).toBe('allow');
    identity.pod = { ...identity.pod, labels: { app: 'other' } };
    expect(e.decide(sqlActivation({ identity })).matched).toEqual([]);
    identity.pod = { ...identity.pod, labels: { app: 'agent', tier: 'web' } };
    expect(e.decide(sqlActivation({ identity })).action).toBe('deny');
  });

  it('still bounds the whole activation when identity and connection are cached', () => {
    const identity = saIdentity({ claims: { big: Array.from({ length: 30 }, (_, i) => i) } });
    const connection = { name: 'orders-db', protocol: 'postgres' as const, host: 'db', port: 5432, labels: { env: 'prod' } };
    const small = sqlActivation({ identity, connection });
    const statements = Array.from({ length: 40 }, () => ({ kind: 'SELECT', tables: ['t'], functions: [], hasWhere: true }));
    const big = sqlActivation({ identity, connection, sql: { text: 'SELECT 1', statements } });
    // identity ~45 values, connection 7, session/now/sql of `small` ~12: under 100; `big` adds ~200
    const e = PolicyEngine.compile([policy('p', [rule('a', 'true', 'allow')])], { ...FAR, activationLimits: { maxTotalValues: 100 } });
    for (let i = 0; i < 2; i++) {
      expect(e.decide(small).action).toBe('allow');
      const d = e.decide(big);
      expect(d.action).toBe('deny');
      expect(d.message).toMatch(/more than 100 values/);
    }
    // the cached parts alone over the bound: denied on every call
    const tight = PolicyEngine.compile([policy('p', [rule('a', 'true', 'allow')])], { ...FAR, activationLimits: { maxTotalValues: 40 } });
    for (let i = 0; i < 2; i++) expect(tight.decide(small)).toMatchObject({ action: 'deny', message: expect.stringMatching(/more than 40 values/) });
    // an identity over a per-value bound is refused on every call, not only the first
    const long = saIdentity({ sub: 'x'.repeat(50) });
    const short = PolicyEngine.compile([policy('p', [rule('a', 'true', 'allow')])], { ...FAR, activationLimits: { maxStringLength: 40 } });
    for (let i = 0; i < 2; i++) expect(short.decide(sqlActivation({ identity: long })).action).toBe('deny');
  });
});
