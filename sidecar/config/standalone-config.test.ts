import { describe, it, expect } from '@jest/globals';
import { inspect } from 'node:util';
import { ConfigError } from './errors.js';
import { parseStandaloneConfig } from './standalone-config.js';

const opts = { defaultNamespace: 'team-a' };

const SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: orders-db-creds
stringData:
  username: app
  password: s3cret-Backend-pw
`;

const CONNECTION = `apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata:
  name: orders-db
  labels: { env: dev }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: 5432, database: orders }
  tls: { mode: disable }
  credentials:
    secretRef: { name: orders-db-creds }
  listen: { port: 15432 }
`;

const POLICY = `apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata:
  name: read-only
spec:
  podSelector: {}
  subjects:
    - serviceAccount: { name: agent }
  connections: [orders-db]
  rules:
    - name: reads
      when: sql.statements.all(s, s.kind == 'SELECT')
      action: allow
`;

function load(...docs: string[]): ReturnType<typeof parseStandaloneConfig> {
  return parseStandaloneConfig(docs.join('---\n'), 'agentgate.yaml', opts);
}

function problemsOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('standalone config', () => {
  it('loads connections, policies and secrets, with credentials that never print', () => {
    const cfg = load(SECRET, CONNECTION, POLICY);
    expect(cfg.connections).toHaveLength(1);
    const c = cfg.connections[0]!;
    expect(c).toMatchObject({ namespace: 'team-a', name: 'orders-db', listenPort: 15432, labels: { env: 'dev' }, tls: { mode: 'disable' } });
    expect(c.credential?.username).toBe('app');
    expect(c.credential?.password).toBe('s3cret-Backend-pw');
    expect(JSON.stringify(cfg.connections)).not.toContain('s3cret');
    expect(inspect(cfg.connections, { depth: 10 })).not.toContain('s3cret');
    expect(String(c.credential)).toBe('[redacted]');
    expect(cfg.policies.map((p) => p.metadata.namespace)).toEqual(['team-a']);
    expect(cfg.engine.policyKeys).toEqual(['team-a/read-only']);
    expect(cfg.warnings).toEqual([]);
  });

  it('decodes base64 data and refuses bad base64 without echoing it', () => {
    const b64 = `apiVersion: v1
kind: Secret
metadata: { name: orders-db-creds }
data:
  username: ${Buffer.from('app2').toString('base64')}
  password: ${Buffer.from('pw-from-data').toString('base64')}
`;
    expect(load(b64, CONNECTION, POLICY).connections[0]!.credential?.password).toBe('pw-from-data');
    const err = problemsOf(() => load(b64.replace(/password: .*/, 'password: not*base64!'), CONNECTION, POLICY));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('data.password: is not valid base64');
    expect(err.message).not.toContain('not*base64');
  });

  it('names a missing Secret and a missing key with their line and column', () => {
    const err = problemsOf(() => load(CONNECTION, POLICY));
    expect(err.problems).toHaveLength(2); // username and password keys both refer to the missing Secret
    expect(err.problems[0]).toMatchObject({ object: 'Connection team-a/orders-db', message: 'Secret team-a/orders-db-creds is not in the config file', line: 11 });

    const noKey = problemsOf(() => load(SECRET.replace('  password: s3cret-Backend-pw\n', ''), CONNECTION, POLICY));
    expect(noKey.problems).toEqual([
      expect.objectContaining({ field: 'spec.credentials.secretRef.passwordKey', message: 'Secret team-a/orders-db-creds has no key "password"' }),
    ]);
    expect(noKey.message).toMatch(/agentgate\.yaml:\d+:\d+: Connection team-a\/orders-db spec\.credentials\.secretRef\.passwordKey: /);
  });

  it('lists every policy error with policy, rule, file line and column', () => {
    const bad = POLICY.replace("s.kind == 'SELECT')", "s.kind == )").replace(
      '      action: allow\n',
      '      action: allow\n    - name: second\n      when: |\n        sql.text.size() > 0 &&\n          nosuchvar.x\n      action: allow\n',
    );
    const text = [SECRET, CONNECTION, bad].join('---\n');
    const err = problemsOf(() => parseStandaloneConfig(text, 'agentgate.yaml', opts));
    expect(err.problems.length).toBeGreaterThanOrEqual(2);
    const lines = text.split('\n');
    const first = err.problems.find((p) => p.object === 'AccessPolicy team-a/read-only rule "reads"');
    expect(first).toBeDefined();
    expect(first!.field).toBe('spec.rules[0].when');
    expect(lines[first!.line! - 1]).toContain("when: sql.statements.all(s, s.kind == )");
    // The column points into the expression, at or after its start.
    expect(first!.column!).toBeGreaterThan(lines[first!.line! - 1]!.indexOf('sql'));
    const second = err.problems.find((p) => p.object === 'AccessPolicy team-a/read-only rule "second"');
    expect(second).toBeDefined();
    expect(lines[second!.line! - 1]).toContain('nosuchvar.x');
    expect(err.message).toContain('rule "second"');
  });

  it('refuses port clashes, with each other and with the admin port', () => {
    const other = CONNECTION.replace('name: orders-db', 'name: billing-db');
    const err = problemsOf(() => load(SECRET, CONNECTION, other, POLICY));
    expect(err.problems).toEqual([
      expect.objectContaining({ object: 'Connection team-a/billing-db', field: 'spec.listen.port', message: 'port 15432 is already used by Connection team-a/orders-db' }),
    ]);
    const admin = problemsOf(() =>
      parseStandaloneConfig([SECRET, CONNECTION, POLICY].join('---\n'), 'f.yaml', { ...opts, reservedPorts: [{ port: 15432, what: 'the admin server' }] }),
    );
    expect(admin.problems[0]?.message).toBe('port 15432 is already used by the admin server');
  });

  it('reports YAML syntax errors with a position, and unsupported documents', () => {
    const syntax = problemsOf(() => parseStandaloneConfig('kind: Secret\nmetadata: [a\n', 'f.yaml', opts));
    expect(syntax.code).toBe('CONFIG_YAML');
    expect(syntax.problems[0]?.line).toBeDefined();
    const kind = problemsOf(() => load('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n'));
    expect(kind.message).toContain('unsupported document');
  });

  it('validates connection shapes and warns about policies naming unknown connections', () => {
    const err = problemsOf(() => load(SECRET, CONNECTION.replace('port: 15432', 'port: 80').replace('protocol: postgres', 'protocol: mysql'), POLICY));
    expect(err.problems.map((p) => p.field)).toEqual(['spec.protocol', 'spec.listen.port']);
    const cfg = load(SECRET, CONNECTION, POLICY.replace('[orders-db]', '[orders-db, nope]'));
    expect(cfg.warnings).toEqual([expect.stringContaining('names connection "nope"')]);
  });
});
