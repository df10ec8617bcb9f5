// The TypeScript mirror of the CRDs' CEL rules (rules.ts) must say exactly
// what the CEL says: same rules, same places, same messages, and the same
// answer on every value of a corpus that makes each rule both pass and fail.
// The CEL is evaluated with @bufbuild/cel (not the API server's cel-go, but
// the same language), with the Kubernetes strings extension for trim().
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isCelError, run, type CelInput } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { CRDS } from './generated-crds.js';
import type { AgentgateKind } from './generated.js';
import { ruleSites, isTransitionRule } from './rule-sites.js';
import { durationMs, RULE_CHECKS } from './rules.js';
import type { JSONSchemaProps } from './schema-types.js';
import { agentgateKindOf, loadManifests, ruleCheckFor, withDefaults } from './validate.js';

type Doc = Record<string, unknown>;

const schemaOf = (kind: string): JSONSchemaProps => CRDS.find((c) => c.spec.names.kind === kind)?.spec.versions[0]?.schema.openAPIV3Schema ?? {};

// Every rule of every CRD, with its schema location.
function crdRules(): { kind: AgentgateKind; at: string; rule: string; message: string }[] {
  const out: { kind: AgentgateKind; at: string; rule: string; message: string }[] = [];
  const walk = (kind: AgentgateKind, s: JSONSchemaProps, at: string): void => {
    for (const r of s['x-kubernetes-validations'] ?? []) out.push({ kind, at, rule: r.rule, message: r.message ?? '' });
    for (const [k, p] of Object.entries(s.properties ?? {})) walk(kind, p, at === '' ? k : `${at}.${k}`);
    if (s.items !== undefined) walk(kind, s.items, `${at}[]`);
    if (typeof s.additionalProperties === 'object') walk(kind, s.additionalProperties, `${at}{}`);
  };
  for (const crd of CRDS) walk(crd.spec.names.kind as AgentgateKind, crd.spec.versions[0]?.schema.openAPIV3Schema ?? {}, '');
  return out;
}

describe('rule table', () => {
  const fromCrds = crdRules();

  it('has one check for every CRD rule, at the same place, with the same message', () => {
    const key = (r: { kind: string; at: string; rule: string; message: string }): string => `${r.kind} | ${r.at} | ${r.rule} | ${r.message}`;
    expect(RULE_CHECKS.map(key).sort()).toEqual(fromCrds.map(key).sort());
    expect(fromCrds.length).toBeGreaterThanOrEqual(40);
  });

  it('marks exactly the rules that read oldSelf as transition rules', () => {
    for (const r of fromCrds) {
      const c = ruleCheckFor(r.kind, r.at, r.rule);
      expect([r.rule, c?.transition !== undefined]).toEqual([r.rule, isTransitionRule({ rule: r.rule })]);
      expect([r.rule, c?.check !== undefined]).toEqual([r.rule, !isTransitionRule({ rule: r.rule })]);
    }
  });
});

// ---- the corpus ---------------------------------------------------------

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const exampleDocs = ['postgres-customers.yaml', 'ssh-ops.yaml', 'http-readonly.yaml'].flatMap((f) =>
  loadManifests(readFileSync(examples + f, 'utf8')).filter((d) => agentgateKindOf(d) !== undefined),
) as Doc[];
const byName = (name: string): Doc => {
  const d = exampleDocs.find((x) => (x['metadata'] as { name: string }).name === name);
  if (d === undefined) throw new Error(`no example ${name}`);
  return structuredClone(d);
};

/** A copy of base with values set at dotted paths (numeric segments index lists); undefined deletes. */
function variant(base: Doc, ...edits: [string, unknown][]): Doc {
  const doc = structuredClone(base);
  for (const [path, value] of edits) {
    const keys = path.split('.');
    let node = doc as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) {
      node[k] ??= {};
      node = node[k] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1] ?? '';
    if (value === undefined) delete node[last];
    else node[last] = value;
  }
  return doc;
}

const pg = byName('customers-db');
const sshConn = byName('ops-bastion');
const httpConn = byName('billing-api');
const pgPolicy = byName('support-agent-customers');
const sshPolicy = byName('ops-agent-bastion');
const httpPolicy = byName('billing-agent-readonly');
const request: Doc = {
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'AccessRequest',
  metadata: { name: 'r1', namespace: 'support' },
  spec: {
    requester: { sub: 'system:serviceaccount:support:support-agent', groups: ['a'], pod: { namespace: 'support', name: 'p-0' } },
    policy: 'support-agent-customers',
    rule: 'review-changes',
    connection: 'customers-db',
    protocol: 'postgres',
    operation: 'UPDATE public.customers SET email = NULL WHERE id = 1',
    scope: 'once',
    expiresAt: '2026-11-22T10:10:00Z',
  },
  status: { phase: 'Pending' },
};
const record: Doc = {
  apiVersion: 'agentgate.dev/v1alpha1',
  kind: 'SessionRecord',
  metadata: { name: 's1', namespace: 'support' },
  spec: {
    sessionId: '01HXYZ',
    identity: { sub: 'system:serviceaccount:support:support-agent', groups: ['a', 'b'] },
    pod: { namespace: 'support', name: 'p-0', serviceAccount: 'support-agent' },
    connection: 'customers-db',
    protocol: 'postgres',
    startedAt: '2026-11-22T10:00:00Z',
  },
};
const jitPg = { jit: { postgres: { adminSecretRef: { name: 'admin' }, grantedRoles: ['ro'] } } };
const jitSsh = { jit: { ssh: { caSecretRef: { name: 'ca' }, principals: ['ops'] } } };

// [document, old document for updates]
const corpus: [Doc, Doc | undefined][] = [
  ...[pg, sshConn, httpConn, pgPolicy, sshPolicy, httpPolicy, request, record].map((d): [Doc, undefined] => [d, undefined]),
  // Connection: each rule made to fail, and some made to pass another way.
  ...[
    variant(sshConn, ['spec.ssh', undefined]),
    variant(sshConn, ['spec.ssh.hostKeys', []]),
    variant(pg, ['spec.ssh', { user: 'x', hostKeys: ['ssh-ed25519 AAAA'] }]),
    variant(httpConn, ['spec.target.url', 'ftp://files.example.com']),
    variant(httpConn, ['spec.target.url', undefined], ['spec.target.host', 'api.example.com']),
    variant(httpConn, ['spec.target.port', 443]),
    variant(pg, ['spec.target.port', undefined]),
    variant(sshConn, ['spec.target.host', undefined]),
    variant(pg, ['spec.target.url', 'https://db.example.com']),
    variant(sshConn, ['spec.target.database', 'x']),
    variant(httpConn, ['spec.target.database', 'x']),
    variant(pg, ['spec.http', {}]),
    variant(sshConn, ['spec.tls', { mode: 'verify-full' }]),
    variant(httpConn, ['spec.tls', { mode: 'disable' }]),
    variant(httpConn, ['spec.tls', { mode: 'verify-ca' }]),
    variant(pg, ['spec.credentials', jitSsh]),
    variant(pg, ['spec.credentials', jitPg]),
    variant(sshConn, ['spec.credentials', jitPg]),
    variant(httpConn, ['spec.credentials', jitPg]),
    variant(httpConn, ['spec.credentials.secretRef.tokenKey', undefined]),
    variant(pg, ['spec.credentials.secretRef.tokenKey', 'token']),
    variant(pg, ['spec.credentials.secretRef.privateKeyKey', 'key']),
    variant(sshConn, ['spec.credentials', { secretRef: { name: 'k', privateKeyKey: 'id' } }]),
    variant(pg, ['spec.tls', { mode: 'require', caSecretRef: { name: 'ca' } }]),
    variant(pg, ['spec.tls', { mode: 'disable' }]),
    variant(pg, ['spec.credentials', { ...jitPg, secretRef: { name: 'x' } }]),
    variant(pg, ['spec.credentials', {}]),
    variant(sshConn, ['spec.credentials', { jit: { ...jitSsh.jit, ...jitPg.jit } }]),
    variant(sshConn, ['spec.credentials', { jit: {} }]),
    variant(pg, ['spec.credentials', { jit: { postgres: { adminSecretRef: { name: 'a' }, validFor: '25h' } } }]),
    variant(pg, ['spec.credentials', { jit: { postgres: { adminSecretRef: { name: 'a' }, validFor: '30s' } } }]),
    variant(pg, ['spec.credentials', { jit: { postgres: { adminSecretRef: { name: 'a' }, validFor: '24h' } } }]),
    variant(sshConn, ['spec.credentials.jit.ssh.validFor', '1h30m']),
    variant(sshConn, ['spec.credentials.jit.ssh.validFor', '1440m1ms']),
  ].map((d): [Doc, undefined] => [d, undefined]),
  // AccessPolicy.
  ...[
    variant(pgPolicy, ['spec.approval', undefined]),
    variant(httpPolicy, ['spec.podSelector', { matchExpressions: [{ key: 'app', operator: 'In' }, { key: 'tier', operator: 'Exists', values: ['x'] }] }]),
    variant(httpPolicy, ['spec.podSelector', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['x'] }, { key: 'tier', operator: 'DoesNotExist' }] }]),
    variant(httpPolicy, ['spec.subjects', [{ serviceAccount: { name: 'a' }, oidc: { issuer: 'https://i', audience: 'a' } }, {}]]),
    variant(pgPolicy, ['spec.rules.1.name', 'allow-select']),
    variant(pgPolicy, ['spec.rules.0.when', ' \t\n']),
    variant(pgPolicy, ['spec.masking.hashKeySecretRef', undefined]),
    variant(httpPolicy, ['spec.masking', { jsonFields: [{ path: '$.a', strategy: 'hash' }] }]),
    variant(httpPolicy, ['spec.masking', { detectors: [{ type: 'email', strategy: 'hash' }] }]),
    variant(pgPolicy, ['spec.masking.columns.0.strategy', 'redact']),
    variant(pgPolicy, ['spec.masking.columns.0.keep', undefined]),
    variant(httpPolicy, ['spec.masking.jsonFields.2.strategy', 'null']),
    variant(httpPolicy, ['spec.masking.jsonFields.2.keep', undefined]),
    variant(httpPolicy, ['spec.masking.detectors', [{ type: 'custom' }, { type: 'pan', pattern: 'x' }, { type: 'custom', pattern: '[0-9]{6}', strategy: 'partial', keep: 2 }, { type: 'ssn', keep: 2 }, { type: 'iban', strategy: 'partial' }]]),
    variant(pgPolicy, ['spec.approval.grantDuration', '1h']),
    variant(pgPolicy, ['spec.approval.scope', 'grant']),
    variant(pgPolicy, ['spec.approval.scope', 'grant'], ['spec.approval.grantDuration', '48h']),
    variant(pgPolicy, ['spec.approval.scope', 'grant'], ['spec.approval.grantDuration', '2h']),
    variant(pgPolicy, ['spec.approval.approvers', { groups: [], users: [] }]),
    variant(pgPolicy, ['spec.approval.approvers', { users: ['jane'] }]),
    variant(pgPolicy, ['spec.approval.timeout', '0s']),
    variant(pgPolicy, ['spec.approval.timeout', '24h1s']),
    variant(pgPolicy, ['spec.session', { recording: false, strictRecording: true }]),
    variant(pgPolicy, ['spec.session', { recording: false }]),
  ].map((d): [Doc, undefined] => [d, undefined]),
  // Updates.
  [variant(request, ['spec.operation', 'DELETE FROM public.customers']), request],
  [request, request],
  [variant(request, ['spec.requester.groups', ['a', 'b']]), request],
  ...(
    [
      ['Pending', 'Approved'],
      ['Approved', 'Expired'],
      ['Denied', 'Denied'],
      ['Denied', 'Approved'],
      ['Expired', 'Pending'],
      ['Approved', 'Denied'],
    ] as const
  ).map(([from, to]): [Doc, Doc] => [variant(request, ['status.phase', to]), variant(request, ['status.phase', from])]),
  [variant(request, ['status', { approvals: [] }]), variant(request, ['status.phase', 'Approved'])],
  [variant(record, ['spec.counts', { statements: 3 }], ['spec.endedAt', '2026-11-22T11:00:00Z'], ['spec.outcome', 'ok']), record],
  [variant(record, ['spec.identity.groups', ['b', 'a']]), record],
  [variant(record, ['spec.pod.name', 'p-1']), record],
  [variant(record, ['spec.startedAt', '2026-11-22T10:00:01Z']), record],
  [variant(record, ['spec.outcome', 'error']), undefined],
];

describe('rule checks agree with the CEL', () => {
  const seen = new Map<string, Set<boolean>>();

  it('on every rule site of the corpus', () => {
    const disagreements: string[] = [];
    for (const [doc, oldDoc] of corpus) {
      const kind = agentgateKindOf(doc);
      if (kind === undefined) throw new Error('corpus document without a kind');
      const schema = schemaOf(kind);
      const value = withDefaults(doc);
      const old = oldDoc === undefined ? undefined : withDefaults(oldDoc);
      for (const site of ruleSites(value, old, schema)) {
        const transition = isTransitionRule(site.rule);
        if (transition && (site.oldSelf === undefined || site.oldSelf === null)) continue;
        const c = ruleCheckFor(kind, site.at, site.rule.rule);
        const mine = transition ? c?.transition?.(site.self, site.oldSelf) : c?.check?.(site.self);
        const bindings: Record<string, CelInput> = { self: site.self as CelInput };
        if (transition) bindings['oldSelf'] = site.oldSelf as CelInput;
        const cel = run(site.rule.rule, bindings, { funcs: strings });
        if (isCelError(cel) || typeof cel !== 'boolean') {
          disagreements.push(`${kind} ${site.path}: CEL error for ${site.rule.rule}: ${isCelError(cel) ? cel.message : String(cel)}`);
          continue;
        }
        if (mine !== cel) disagreements.push(`${kind} ${site.path}: ${site.rule.rule}: CEL says ${cel}, TypeScript says ${String(mine)}`);
        const key = `${kind} | ${site.at} | ${site.rule.rule}`;
        const outcomes = seen.get(key) ?? new Set<boolean>();
        outcomes.add(cel);
        seen.set(key, outcomes);
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('with every rule both passing and failing somewhere in the corpus', () => {
    const notBoth = crdRules()
      .map((r) => `${r.kind} | ${r.at} | ${r.rule}`)
      .filter((key) => (seen.get(key)?.size ?? 0) !== 2);
    expect(notBoth).toEqual([]);
  });
});

describe('durationMs', () => {
  it.each([
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['100ms', 100],
    ['1m1s1ms', 61_001],
    ['0s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });

  it.each(['', '15', 'm', '1.5h', '-1m', '1d', '15 m'])('%j is not a duration of the CRD pattern', (text) => {
    expect(durationMs(text)).toBeNaN();
  });
});
