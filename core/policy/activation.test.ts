import { describe, expect, it } from '@jest/globals';
import { isCelMap } from '@bufbuild/cel';
import { toCelBindings, presentProtocols, type Activation } from './activation.js';
import { EvalBudget } from './cel-bounds.js';
import { CelCompiler } from './cel-program.js';
import { ActivationInvalidError, ActivationLimitError } from './errors.js';

const base: Activation = {
  identity: {
    kind: 'oidc',
    sub: 'alice',
    iss: 'https://idp',
    groups: ['g1'],
    claims: { n: 3, nested: { list: [1, 'two', null, true] } },
    pod: { namespace: 'ns', name: 'pod', serviceAccount: 'sa', labels: { app: 'a' } },
  },
  connection: { name: 'db', protocol: 'postgres', host: 'h', port: 5432, labels: {} },
  session: { id: 's', startedAt: new Date('2025-01-01T00:00:00Z'), statements: 7, denied: 1 },
  now: new Date('2025-01-01T01:00:00.250Z'),
  ssh: { user: 'u', command: 'ls', argv: ['ls'], pty: true, subsystem: '' },
};

function value(expr: string, act: Activation = base): unknown {
  const r = new CelCompiler().compile(expr);
  if (!r.ok) throw new Error(r.error.message);
  const out = r.program.evaluate(toCelBindings(act), new EvalBudget(10_000, performance.now() + 3_600_000, 3_600_000));
  return out.ok ? out.value : out.reason;
}

describe('toCelBindings', () => {
  it('binds only the present protocol variables', () => {
    const b = toCelBindings(base);
    expect(Object.keys(b).sort()).toEqual(['connection', 'identity', 'now', 'session', 'ssh']);
    expect(isCelMap(b['identity'])).toBe(true);
    expect(presentProtocols(base)).toEqual(new Set(['ssh']));
  });

  const cases: [string, boolean][] = [
    // whole-number facts are CEL ints, so int arithmetic and type checks work
    ['type(connection.port) == int && connection.port == 5432', true],
    ['type(session.statements) == int && session.statements + 1 == 8', true],
    // JSON claims follow CEL's JSON mapping: numbers are doubles
    ['type(identity.claims.n) == double && identity.claims.n == 3', true],
    ["identity.claims.nested.list[1] == 'two' && identity.claims.nested.list[2] == null && identity.claims.nested.list[3]", true],
    ["string(now) == '2025-01-01T01:00:00.250Z'", true],
    ["now - session.startedAt == duration('3600.25s')", true],
    ["session.startedAt == timestamp('2025-01-01T00:00:00Z')", true],
    ['ssh.pty && ssh.argv == ["ls"] && !has(ssh.forward)', true],
    ["identity.pod.labels.app == 'a' && identity.kind == 'oidc'", true],
  ];
  it.each(cases)('%s', (expr, expected) => {
    expect(value(expr)).toBe(expected);
  });

  it('keeps the facts of an optional field when present', () => {
    const act: Activation = { ...base, ssh: { ...base.ssh!, forward: { host: 'db', port: 5432 } } };
    expect(value("has(ssh.forward) && ssh.forward.host == 'db' && ssh.forward.port == 5432", act)).toBe(true);
  });

  it('throws typed errors for oversized and invalid facts', () => {
    expect(() => toCelBindings(base, { maxStringLength: 2, maxListItems: 10, maxMapEntries: 10, maxDepth: 10, maxTotalValues: 1000 })).toThrow(
      ActivationLimitError,
    );
    expect(() => toCelBindings({ ...base, now: new Date('invalid') })).toThrow(ActivationInvalidError);
    expect(() =>
      toCelBindings({ ...base, identity: { ...base.identity, claims: { f: (() => 1) as unknown as number } } }),
    ).toThrow(ActivationInvalidError);
    expect(() => toCelBindings(base, { maxStringLength: 100, maxListItems: 100, maxMapEntries: 100, maxDepth: 100, maxTotalValues: 5 })).toThrow(
      /more than 5 values/,
    );
  });
});
