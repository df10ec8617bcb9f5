// Offline validation refuses bad manifests with paths that point at the
// mistake, applies the schema's defaults, and reads multi-document YAML.
import { describe, expect, it } from '@jest/globals';
import { ManifestParseError } from './errors.js';
import { loadManifests, RULES_SKIPPED_MESSAGE, validateResource, withDefaults, type ValidationError } from './validate.js';
import type { AccessPolicy, AccessRequest, Connection, SessionRecord } from './generated.js';

type Doc = Record<string, unknown>;

const postgres = (): Doc => ({
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'Connection',
  metadata: { name: 'orders-db', namespace: 'shop' },
  spec: {
    protocol: 'postgres',
    target: { host: 'orders.db.svc', port: 5432, database: 'orders' },
    credentials: { secretRef: { name: 'orders-db' } },
    listen: { port: 15432 },
  },
});

const ssh = (): Doc => ({
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'Connection',
  metadata: { name: 'bastion', namespace: 'ops' },
  spec: {
    protocol: 'ssh',
    target: { host: '10.0.0.7', port: 22 },
    credentials: { secretRef: { name: 'bastion-key', privateKeyKey: 'id_ed25519' } },
    ssh: { user: 'ops', hostKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMLFUchdZR2DjBgdW9bK78rrQ4Wcrh6UIO/v1Z270BkC host'] },
    listen: { port: 12222 },
  },
});

const http = (): Doc => ({
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'Connection',
  metadata: { name: 'api', namespace: 'shop' },
  spec: {
    protocol: 'http',
    target: { url: 'https://api.example.com/v1' },
    credentials: { secretRef: { name: 'api-token', tokenKey: 'token' } },
    listen: { port: 18080 },
  },
});

const policy = (): Doc => ({
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'AccessPolicy',
  metadata: { name: 'shop-agent', namespace: 'shop' },
  spec: {
    podSelector: { matchLabels: { app: 'shop-agent' } },
    subjects: [{ serviceAccount: { name: 'shop-agent' } }],
    connections: ['orders-db'],
    rules: [
      { name: 'reads', when: "sql.statements.all(s, s.kind == 'SELECT')", action: 'allow' },
      { name: 'writes', when: "sql.statements.exists(s, s.kind == 'UPDATE')", action: 'review' },
    ],
    masking: { columns: [{ table: 'public.orders', column: 'card', strategy: 'partial', keep: 4 }] },
    approval: { approvers: { groups: ['dba'] } },
  },
});

const accessRequest = (): Doc => ({
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'AccessRequest',
  metadata: { name: 'shop-agent-x7k2p', namespace: 'shop' },
  spec: {
    requester: { sub: 'system:serviceaccount:shop:shop-agent', pod: { namespace: 'shop', name: 'shop-agent-0' } },
    policy: 'shop-agent',
    rule: 'writes',
    connection: 'orders-db',
    protocol: 'postgres',
    operation: "UPDATE orders SET state = 'void' WHERE id = 7",
    scope: 'once',
    expiresAt: '2026-11-22T10:10:00Z',
  },
  status: { phase: 'Pending' },
});

const sessionRecord = (): Doc => ({
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'SessionRecord',
  metadata: { name: 's-01hxyz', namespace: 'shop' },
  spec: {
    sessionId: '01HXYZ',
    identity: { sub: 'system:serviceaccount:shop:shop-agent' },
    pod: { namespace: 'shop', name: 'shop-agent-0', serviceAccount: 'shop-agent' },
    connection: 'orders-db',
    protocol: 'postgres',
    startedAt: '2026-11-22T10:00:00Z',
  },
});

/** Sets a value at a dotted path ("spec.target.port", "spec.rules.0.name"); undefined deletes it. */
function set(doc: Doc, path: string, value: unknown): Doc {
  const keys = path.split('.');
  let node: Record<string, unknown> = doc;
  for (const k of keys.slice(0, -1)) {
    node[k] ??= {};
    node = node[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1] ?? '';
  if (value === undefined) delete node[last];
  else node[last] = value;
  return doc;
}

function errorsOf(doc: unknown, old?: unknown): ValidationError[] {
  const r = validateResource(doc, old === undefined ? {} : { oldResource: old });
  return r.ok ? [] : r.errors;
}

describe('validateResource accepts', () => {
  it.each([
    ['a postgres Connection', postgres()],
    ['an ssh Connection', ssh()],
    ['an http Connection', http()],
    ['an AccessPolicy', policy()],
    ['an AccessRequest', accessRequest()],
    ['a SessionRecord', sessionRecord()],
    ['a JIT postgres Connection', set(postgres(), 'spec.credentials', { jit: { postgres: { adminSecretRef: { name: 'pg-admin' }, grantedRoles: ['readonly'] } } })],
    ['a JIT ssh Connection', set(ssh(), 'spec.credentials', { jit: { ssh: { caSecretRef: { name: 'user-ca' }, principals: ['ops'], validFor: '30m' } } })],
    ['an IPv6 target', set(postgres(), 'spec.target.host', 'fd00::1')],
    ['a generateName instead of a name', set(accessRequest(), 'metadata', { generateName: 'shop-agent-', namespace: 'shop' })],
  ])('%s', (_what, doc) => {
    expect(errorsOf(doc)).toEqual([]);
  });
});

describe('validateResource refuses, naming the path', () => {
  it.each<[string, Doc, string, RegExp]>([
    // The cases the brief names.
    ['two credential sources', set(postgres(), 'spec.credentials.jit', { postgres: { adminSecretRef: { name: 'a' } } }), 'spec.credentials', /exactly one credential source is required: secretRef or jit/],
    ['no credential source', set(postgres(), 'spec.credentials', {}), 'spec.credentials', /exactly one credential source/],
    ['a target port above 65535', set(postgres(), 'spec.target.port', 70000), 'spec.target.port', /less than or equal to 65535/],
    ['a target port of 0', set(postgres(), 'spec.target.port', 0), 'spec.target.port', /greater than or equal to 1/],
    ['a privileged listen port', set(postgres(), 'spec.listen.port', 80), 'spec.listen.port', /greater than or equal to 1024/],
    ['a port that is text', set(postgres(), 'spec.target.port', '5432'), 'spec.target.port', /must be of type integer/],
    ['an ssh Connection without ssh settings', set(ssh(), 'spec.ssh', undefined), 'spec', /ssh connections need ssh.hostKeys/],
    ['an ssh Connection without hostKeys', set(ssh(), 'spec.ssh.hostKeys', undefined), 'spec.ssh.hostKeys', /Required value/],
    ['an ssh Connection with empty hostKeys', set(ssh(), 'spec.ssh.hostKeys', []), 'spec.ssh.hostKeys', /at least 1 item/],
    ['a host key that is not authorized_keys format', set(ssh(), 'spec.ssh.hostKeys', ['bastion ssh-ed25519 AAAA']), 'spec.ssh.hostKeys[0]', /must match the pattern/],
    ['an unknown protocol', set(postgres(), 'spec.protocol', 'mysql'), 'spec.protocol', /Unsupported value: "mysql": supported values: "postgres", "ssh", "http"/],
    ['an overlong host', set(postgres(), 'spec.target.host', 'a'.repeat(254)), 'spec.target.host', /Too long: may not be more than 253 characters/],
    ['an overlong rule message', set(policy(), 'spec.rules.0.message', 'x'.repeat(1025)), 'spec.rules[0].message', /Too long/],
    // Unknown and missing fields.
    ['a misspelt field', set(postgres(), 'spec.target.hots', 'x'), 'spec.target.hots', /unknown field/],
    ['a missing listen', set(postgres(), 'spec.listen', undefined), 'spec.listen', /Required value/],
    ['a null required field', set(postgres(), 'spec.listen', null), 'spec.listen', /Required value/],
    ['a missing spec', set(postgres(), 'spec', undefined), 'spec', /Required value/],
    // Protocol-specific rules.
    ['an http Connection without a URL', set(http(), 'spec.target', { host: 'api.example.com', port: 443 }), 'spec', /http connections need target.url/],
    ['an http URL of another scheme', set(http(), 'spec.target.url', 'ftp://files.example.com'), 'spec', /starting with http:\/\/ or https:\/\//],
    ['an http Connection without a tokenKey', set(http(), 'spec.credentials.secretRef.tokenKey', undefined), 'spec', /need credentials.secretRef.tokenKey/],
    ['a postgres Connection without a port', set(postgres(), 'spec.target.port', undefined), 'spec', /need target.host and target.port/],
    ['a postgres Connection with a URL', set(postgres(), 'spec.target.url', 'https://x'), 'spec', /target.url is only allowed with protocol http/],
    ['tls on ssh', set(ssh(), 'spec.tls', { mode: 'verify-full' }), 'spec', /tls does not apply to ssh/],
    ['tls disabled on http', set(http(), 'spec.tls', { mode: 'disable' }), 'spec', /tls.mode disable is not allowed/],
    ['a CA with mode require', set(postgres(), 'spec.tls', { mode: 'require', caSecretRef: { name: 'ca' } }), 'spec.tls', /caSecretRef needs mode verify-ca or verify-full/],
    ['jit ssh on a postgres Connection', set(postgres(), 'spec.credentials', { jit: { ssh: { caSecretRef: { name: 'ca' }, principals: ['x'] } } }), 'spec', /credentials.jit must match the protocol/],
    ['jit with both kinds', set(ssh(), 'spec.credentials', { jit: { ssh: { caSecretRef: { name: 'ca' }, principals: ['x'] }, postgres: { adminSecretRef: { name: 'a' } } } }), 'spec.credentials.jit', /exactly one of postgres or ssh/],
    ['a jit lifetime over 24h', set(postgres(), 'spec.credentials', { jit: { postgres: { adminSecretRef: { name: 'a' }, validFor: '25h' } } }), 'spec.credentials.jit.postgres.validFor', /between 1m and 24h/],
    ['a duration without unit', set(postgres(), 'spec.credentials', { jit: { postgres: { adminSecretRef: { name: 'a' }, validFor: '15' } } }), 'spec.credentials.jit.postgres.validFor', /must match the pattern/],
    ['a duplicate env name', set(postgres(), 'spec.env', [{ name: 'PGHOST', value: 'a' }, { name: 'PGHOST', value: 'b' }]), 'spec.env[1]', /Duplicate value/],
    // AccessPolicy rules.
    ['duplicate rule names', set(policy(), 'spec.rules.1.name', 'reads'), 'spec.rules', /rule names must be unique/],
    ['a blank when', set(policy(), 'spec.rules.0.when', '   '), 'spec.rules[0].when', /when must be a non-empty CEL expression/],
    ['an unknown action', set(policy(), 'spec.rules.0.action', 'maybe'), 'spec.rules[0].action', /Unsupported value/],
    ['a review rule without approval', set(policy(), 'spec.approval', undefined), 'spec', /rules with action review need spec.approval/],
    ['keep without partial', set(policy(), 'spec.masking.columns.0.strategy', 'redact'), 'spec.masking.columns[0]', /keep is only allowed with strategy partial/],
    ['partial without keep', set(policy(), 'spec.masking.columns.0.keep', undefined), 'spec.masking.columns[0]', /strategy partial needs keep/],
    ['a custom detector without a pattern', set(policy(), 'spec.masking.detectors', [{ type: 'pan' }, { type: 'custom' }]), 'spec.masking.detectors[1]', /custom needs a pattern/],
    ['a pattern on a built-in detector', set(policy(), 'spec.masking.detectors', [{ type: 'pan', pattern: '\\d+' }]), 'spec.masking.detectors[0]', /pattern is only allowed with detector type custom/],
    ['hash without a key', set(policy(), 'spec.masking.columns.0', { table: 'orders', column: 'email', strategy: 'hash' }), 'spec.masking', /strategy hash needs masking.hashKeySecretRef/],
    ['grantDuration with scope once', set(policy(), 'spec.approval.grantDuration', '1h'), 'spec.approval', /grantDuration is only allowed with scope grant/],
    ['scope grant without grantDuration', set(policy(), 'spec.approval.scope', 'grant'), 'spec.approval', /scope grant needs grantDuration/],
    ['approvers without anyone', set(policy(), 'spec.approval.approvers', {}), 'spec.approval.approvers', /at least one group or user/],
    ['a subject with both kinds', set(policy(), 'spec.subjects', [{ serviceAccount: { name: 'a' }, oidc: { issuer: 'https://i', audience: 'a' } }]), 'spec.subjects[0]', /exactly one of serviceAccount or oidc/],
    ['an OIDC issuer over http', set(policy(), 'spec.subjects', [{ oidc: { issuer: 'http://issuer', audience: 'a' } }]), 'spec.subjects[0].oidc.issuer', /must match the pattern/],
    ['In without values', set(policy(), 'spec.podSelector', { matchExpressions: [{ key: 'app', operator: 'In' }] }), 'spec.podSelector.matchExpressions[0]', /In and NotIn need values/],
    ['strict recording without recording', set(policy(), 'spec.session', { recording: false, strictRecording: true }), 'spec.session', /strictRecording needs recording/],
    ['a connection name with capitals', set(policy(), 'spec.connections', ['Orders']), 'spec.connections[0]', /must match the pattern/],
    ['too many rules', set(policy(), 'spec.rules', Array.from({ length: 65 }, (_, i) => ({ name: `r${i}`, when: 'true', action: 'allow' }))), 'spec.rules', /Too many: 65: must have at most 64 items/],
    ['a label value too long', set(policy(), 'spec.podSelector.matchLabels.app', 'a'.repeat(64)), 'spec.podSelector.matchLabels.app', /Too long/],
    // AccessRequest and SessionRecord.
    ['a bad expiry timestamp', set(accessRequest(), 'spec.expiresAt', 'tomorrow'), 'spec.expiresAt', /must be of type date-time/],
    ['an unknown phase', set(accessRequest(), 'status.phase', 'Maybe'), 'status.phase', /Unsupported value/],
    ['an end without an outcome', set(sessionRecord(), 'spec.endedAt', '2026-11-22T11:00:00Z'), 'spec', /endedAt and outcome are set together/],
    ['a negative count', set(sessionRecord(), 'spec.counts', { denied: -1 }), 'spec.counts.denied', /greater than or equal to 0/],
    // Metadata and identity.
    ['a name with capitals', set(postgres(), 'metadata.name', 'Orders'), 'metadata.name', /must match the pattern/],
    ['no name', set(postgres(), 'metadata', { namespace: 'shop' }), 'metadata.name', /Required value/],
    ['a bad namespace', set(postgres(), 'metadata.namespace', 'Shop_1'), 'metadata.namespace', /RFC 1123 label/],
    ['a label that is not a string', set(postgres(), 'metadata.labels', { tier: 3 }), 'metadata.labels.tier', /must be of type string/],
    ['another version', set(postgres(), 'apiVersion', 'agentgate.dev/v1'), 'apiVersion', /supported values: "agentgate.dev\/v1alpha1"/],
    ['an unknown kind', set(postgres(), 'kind', 'Database'), 'kind', /Unsupported value: "Database"/],
  ])('%s', (_what, doc, path, message) => {
    const errors = errorsOf(doc);
    expect(errors).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('refuses what is not an object', () => {
    expect(errorsOf('protocol: postgres')).toEqual([{ path: '<root>', message: expect.stringMatching(/must be a YAML\/JSON object/) }]);
    expect(errorsOf([postgres()])[0]?.path).toBe('<root>');
  });

  it('reports every problem at once, and says when rules were skipped', () => {
    const doc = set(set(set(postgres(), 'spec.target.port', 'x'), 'spec.listen.port', 80), 'spec.credentials.jit', { postgres: { adminSecretRef: { name: 'a' } } });
    const errors = errorsOf(doc);
    expect(errors.map((e) => e.path)).toEqual(['spec.target.port', 'spec.listen.port', '<root>']);
    expect(errors[2]?.message).toBe(RULES_SKIPPED_MESSAGE);
  });

  it('runs rules when the only errors are non-blocking (pattern, minimum)', () => {
    const doc = set(set(postgres(), 'spec.listen.port', 80), 'spec.credentials.jit', { postgres: { adminSecretRef: { name: 'a' } } });
    expect(errorsOf(doc).map((e) => e.path)).toEqual(['spec.listen.port', 'spec.credentials']);
  });
});

describe('validateResource on updates (rules with oldSelf)', () => {
  it('refuses a change to an AccessRequest spec', () => {
    const old = accessRequest();
    const changed = set(accessRequest(), 'spec.operation', 'DELETE FROM orders');
    expect(errorsOf(changed, old)).toEqual([{ path: 'spec', message: 'Invalid value: spec is immutable' }]);
    expect(errorsOf(accessRequest(), old)).toEqual([]);
    expect(errorsOf(changed)).toEqual([]); // a create has no old value
  });

  it.each([
    ['Pending', 'Approved', true],
    ['Pending', 'Denied', true],
    ['Approved', 'Expired', true],
    ['Approved', 'Approved', true],
    ['Denied', 'Approved', false],
    ['Expired', 'Pending', false],
    ['Approved', 'Denied', false],
  ])('phase %s -> %s allowed: %s', (from, to, allowed) => {
    const errors = errorsOf(set(accessRequest(), 'status.phase', to), set(accessRequest(), 'status.phase', from));
    expect(errors.length === 0).toBe(allowed);
    if (!allowed) expect(errors).toEqual([{ path: 'status', message: expect.stringMatching(/Denied and Expired are final/) }]);
  });

  it('lets a SessionRecord count and end, but not change who it was', () => {
    const old = sessionRecord();
    const ended = set(set(set(sessionRecord(), 'spec.counts', { statements: 12, denied: 1 }), 'spec.endedAt', '2026-11-22T11:00:00Z'), 'spec.outcome', 'ok');
    expect(errorsOf(ended, old)).toEqual([]);
    const renamed = set(sessionRecord(), 'spec.identity.sub', 'someone-else');
    expect(errorsOf(renamed, old)).toEqual([{ path: 'spec', message: expect.stringMatching(/identity, pod, connection, protocol and startedAt are immutable/) }]);
  });
});

describe('withDefaults', () => {
  it('fills the schema defaults, nested ones included, without touching the input', () => {
    const input = policy();
    const before = JSON.stringify(input);
    const p = withDefaults(input) as unknown as AccessPolicy;
    expect(JSON.stringify(input)).toBe(before);
    expect(p.spec.session).toEqual({ recording: true, strictRecording: false });
    expect(p.spec.approval).toEqual({ approvers: { groups: ['dba'] }, required: 1, timeout: '10m', scope: 'once' });
    expect(p.spec.masking?.columns?.[0]?.strategy).toBe('partial');
  });

  it('defaults Connection keys, TLS mode and JIT lifetimes', () => {
    const c = withDefaults(set(postgres(), 'spec.tls', {})) as unknown as Connection;
    expect(c.spec.credentials.secretRef).toEqual({ name: 'orders-db', usernameKey: 'username', passwordKey: 'password' });
    expect(c.spec.tls).toEqual({ mode: 'verify-full' });
    const j = withDefaults(set(ssh(), 'spec.credentials', { jit: { ssh: { caSecretRef: { name: 'ca' }, principals: ['ops'] } } })) as unknown as Connection;
    expect(j.spec.credentials.jit?.ssh).toEqual({ caSecretRef: { name: 'ca', key: 'ssh-privatekey' }, principals: ['ops'], validFor: '15m' });
    const h = withDefaults(set(http(), 'spec.http', {})) as unknown as Connection;
    expect(h.spec.http).toEqual({ credentialHeader: 'Authorization', credentialPrefix: 'Bearer ' });
  });

  it('defaults masking strategies, OIDC groups claim and session counts', () => {
    const p = withDefaults(set(policy(), 'spec.subjects', [{ oidc: { issuer: 'https://i.example', audience: 'a' } }])) as unknown as AccessPolicy;
    expect(p.spec.subjects[0]?.oidc?.groupsClaim).toBe('groups');
    const d = withDefaults(set(policy(), 'spec.masking.detectors', [{ type: 'email' }])) as unknown as AccessPolicy;
    expect(d.spec.masking?.detectors).toEqual([{ type: 'email', strategy: 'redact' }]);
    const s = withDefaults(sessionRecord()) as unknown as SessionRecord;
    expect(s.spec.counts).toEqual({ statements: 0, denied: 0, masked: 0, approvals: 0, rows: 0 });
  });

  it('treats null as absent, like the API server', () => {
    const c = withDefaults(set(postgres(), 'spec.credentials.secretRef.usernameKey', null)) as unknown as Connection;
    expect(c.spec.credentials.secretRef?.usernameKey).toBe('username');
  });

  it('leaves documents of other kinds as they are', () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { a: 'b' } };
    expect(withDefaults(secret)).toEqual(secret);
  });

  it('is what validateResource returns', () => {
    const r = validateResource(accessRequest());
    expect(r.ok).toBe(true);
    if (r.ok) expect((r.resource as AccessRequest).spec.scope).toBe('once');
    const p = validateResource(policy());
    expect(p.ok && p.resource.kind === 'AccessPolicy' && p.resource.spec.session?.recording).toBe(true);
  });
});

describe('loadManifests', () => {
  it('reads every document, skips empty ones, flattens Lists', () => {
    const text = [
      '# leading comment',
      '---',
      'apiVersion: v1',
      'kind: Secret',
      'metadata: {name: a}',
      '---',
      '---',
      'apiVersion: v1',
      'kind: List',
      'items:',
      '  - {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}',
      '  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}',
      '...',
    ].join('\n');
    const docs = loadManifests(text) as { metadata: { name: string } }[];
    expect(docs.map((d) => d.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(loadManifests('')).toEqual([]);
  });

  it('keeps YAML 1.2 scalars as the API server reads JSON (no timestamps, "on" stays a string)', () => {
    const [doc] = loadManifests('at: 2026-11-22T10:00:00Z\nflag: on\nport: 5432\n') as Doc[];
    expect(doc).toEqual({ at: '2026-11-22T10:00:00Z', flag: 'on', port: 5432 });
  });

  it('names the document and line of a YAML error, with a stable code', () => {
    const text = 'a: 1\n---\nb: [1, 2\nc: 3\n';
    let err: unknown;
    try {
      loadManifests(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestParseError);
    expect((err as ManifestParseError).code).toBe('RESOURCE_MANIFEST_PARSE');
    expect((err as ManifestParseError).documentIndex).toBe(1);
    expect((err as Error).message).toMatch(/^YAML document 2 at line \d+, column \d+: /);
  });

  it('refuses duplicate keys and alias bombs', () => {
    expect(() => loadManifests('a: 1\na: 2\n')).toThrow(ManifestParseError);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join('\n');
    expect(() => loadManifests(bomb)).toThrow(ManifestParseError);
  });
});
