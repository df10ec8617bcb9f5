// Every example manifest is admitted by the schemas and rules, references only
// Secrets it ships, and every sample request for the policy tester is well formed.
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseCel } from '@bufbuild/cel';
import { agentgateKindOf, loadManifests, validateResource } from './validate.js';
import type { AgentgateResource, Connection, AccessPolicy } from './generated.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const examplesDir = join(repo, 'examples');
const requestsDir = join(examplesDir, 'requests');
const exampleFiles = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml')).sort();

interface Secret {
  kind: 'Secret';
  metadata: { name: string; namespace: string };
  stringData: Record<string, string>;
}

function load(file: string): { resources: AgentgateResource[]; secrets: Secret[] } {
  const resources: AgentgateResource[] = [];
  const secrets: Secret[] = [];
  for (const doc of loadManifests(readFileSync(join(examplesDir, file), 'utf8'))) {
    if (agentgateKindOf(doc) !== undefined) {
      const result = validateResource(doc);
      if (!result.ok) throw new Error(`${file}: ${JSON.stringify(result.errors, null, 2)}`);
      resources.push(result.resource);
    } else {
      expect(doc).toMatchObject({ apiVersion: 'v1', kind: 'Secret' });
      secrets.push(doc as Secret);
    }
  }
  return { resources, secrets };
}

// Secret references of a resource, as [name, key | undefined].
function secretRefs(r: AgentgateResource): [string, string | undefined][] {
  if (r.kind === 'Connection') {
    const s = r.spec;
    const refs: [string, string | undefined][] = [];
    if (s.tls?.caSecretRef !== undefined) refs.push([s.tls.caSecretRef.name, s.tls.caSecretRef.key]);
    const sr = s.credentials.secretRef;
    if (sr !== undefined) {
      if (s.protocol === 'http') refs.push([sr.name, sr.tokenKey]);
      else if (s.protocol === 'ssh' && sr.privateKeyKey !== undefined) refs.push([sr.name, sr.privateKeyKey]);
      else refs.push([sr.name, sr.usernameKey], [sr.name, sr.passwordKey]);
    }
    const pj = s.credentials.jit?.postgres;
    if (pj !== undefined) refs.push([pj.adminSecretRef.name, pj.adminSecretRef.usernameKey], [pj.adminSecretRef.name, pj.adminSecretRef.passwordKey]);
    const sj = s.credentials.jit?.ssh;
    if (sj !== undefined) refs.push([sj.caSecretRef.name, sj.caSecretRef.key]);
    return refs;
  }
  if (r.kind === 'AccessPolicy' && r.spec.masking?.hashKeySecretRef !== undefined) {
    return [[r.spec.masking.hashKeySecretRef.name, r.spec.masking.hashKeySecretRef.key]];
  }
  return [];
}

describe('examples', () => {
  it('has the three documented example files', () => {
    expect(exampleFiles).toEqual(['http-readonly.yaml', 'postgres-customers.yaml', 'ssh-ops.yaml']);
  });

  it.each(exampleFiles)('%s: every agentgate document validates', (file) => {
    const { resources } = load(file);
    expect(resources.map((r) => r.kind).sort()).toEqual(['AccessPolicy', 'Connection']);
  });

  it.each(exampleFiles)('%s: every referenced Secret and key is in the file, same namespace', (file) => {
    const { resources, secrets } = load(file);
    const refs = resources.flatMap((r) => secretRefs(r).map(([name, key]) => ({ ns: r.metadata.namespace, name, key })));
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const secret = secrets.find((s) => s.metadata.name === ref.name && s.metadata.namespace === ref.ns);
      expect(secret).toBeDefined();
      expect(ref.key).toBeDefined();
      expect(Object.keys(secret?.stringData ?? {})).toContain(ref.key);
    }
  });

  it.each(exampleFiles)('%s: policies cover the file\'s connection and every rule parses as CEL', (file) => {
    const { resources } = load(file);
    const conn = resources.find((r): r is Connection => r.kind === 'Connection');
    const policy = resources.find((r): r is AccessPolicy => r.kind === 'AccessPolicy');
    expect(policy?.spec.connections).toContain(conn?.metadata.name);
    expect(policy?.metadata.namespace).toBe(conn?.metadata.namespace);
    for (const rule of policy?.spec.rules ?? []) {
      expect(() => parseCel(rule.when)).not.toThrow();
    }
  });

  it('postgres-customers masks and reviews what the brief asks for', () => {
    const policy = load('postgres-customers.yaml').resources.find((r): r is AccessPolicy => r.kind === 'AccessPolicy');
    expect(policy?.spec.podSelector.matchLabels).toEqual({ app: 'support-agent' });
    expect(policy?.spec.masking?.columns).toEqual([
      { table: 'public.customers', column: 'ssn', strategy: 'partial', keep: 4 },
      { table: 'public.customers', column: 'card_number', strategy: 'partial', keep: 4 },
      { table: 'public.customers', column: 'email', strategy: 'hash' },
    ]);
    expect(policy?.spec.masking?.detectors?.map((d) => d.type)).toEqual(['pan', 'ssn', 'email']);
    expect(policy?.spec.approval).toMatchObject({ approvers: { groups: ['dba'] }, scope: 'once' });
    expect(policy?.spec.rules?.map((r) => [r.name, r.action])).toEqual([
      ['allow-select', 'allow'],
      ['review-changes', 'review'],
      ['deny-unbounded-changes', 'deny'],
      ['deny-unparseable', 'deny'],
    ]);
  });
});

// The policy tester's request format: { identity: {sub, groups, pod: {namespace,
// serviceAccount, labels}}, connection, and exactly one of sql | ssh | http }.
function requestProblems(doc: unknown, connections: Set<string>): string[] {
  const problems: string[] = [];
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(doc)) return ['not an object'];
  const allowedTop = new Set(['identity', 'connection', 'sql', 'ssh', 'http']);
  for (const k of Object.keys(doc)) if (!allowedTop.has(k)) problems.push(`unknown field ${k}`);
  const id = doc['identity'];
  if (!isMap(id) || typeof id['sub'] !== 'string') problems.push('identity.sub must be a string');
  else {
    if (!Array.isArray(id['groups']) || !id['groups'].every((g) => typeof g === 'string')) problems.push('identity.groups must be strings');
    const pod = id['pod'];
    if (!isMap(pod) || typeof pod['namespace'] !== 'string' || typeof pod['serviceAccount'] !== 'string' || !isMap(pod['labels'])) {
      problems.push('identity.pod needs namespace, serviceAccount and labels');
    }
  }
  if (typeof doc['connection'] !== 'string' || !connections.has(doc['connection'])) problems.push('connection must name an example Connection');
  const ops = ['sql', 'ssh', 'http'].filter((k) => doc[k] !== undefined);
  if (ops.length !== 1) problems.push('exactly one of sql, ssh, http');
  if (doc['sql'] !== undefined && typeof doc['sql'] !== 'string') problems.push('sql must be a string');
  const ssh = doc['ssh'];
  if (ssh !== undefined && (!isMap(ssh) || typeof ssh['command'] !== 'string' || typeof ssh['user'] !== 'string')) problems.push('ssh needs command and user');
  const http = doc['http'];
  if (http !== undefined && (!isMap(http) || typeof http['method'] !== 'string' || typeof http['path'] !== 'string' || !String(http['path']).startsWith('/'))) {
    problems.push('http needs method and an absolute path');
  }
  return problems;
}

describe('example requests', () => {
  const files = readdirSync(requestsDir).sort();
  const byProtocol = new Map<string, string>();
  for (const file of exampleFiles) {
    for (const r of load(file).resources) if (r.kind === 'Connection') byProtocol.set(r.metadata.name ?? '', r.spec.protocol);
  }

  it('name their expected decision and cover allow, deny and review', () => {
    const decisions = files.map((f) => /\.(allow|deny|review)\.(yaml|json)$/.exec(f)?.[1]);
    expect(decisions).not.toContain(undefined);
    for (const protocol of ['postgres', 'ssh', 'http']) {
      const mine = files.filter((f) => f.startsWith(`${protocol}-`));
      expect(mine.length).toBeGreaterThanOrEqual(3);
      expect(mine.some((f) => f.includes('.allow.'))).toBe(true);
      expect(mine.some((f) => f.includes('.deny.'))).toBe(true);
    }
    expect(files.filter((f) => f.includes('.review.')).length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s is a well-formed request for its connection', (file) => {
    const docs = loadManifests(readFileSync(join(requestsDir, file), 'utf8'));
    expect(docs).toHaveLength(1);
    const doc = docs[0] as Record<string, unknown>;
    expect(requestProblems(doc, new Set(byProtocol.keys()))).toEqual([]);
    const protocol = byProtocol.get(String(doc['connection']));
    expect(doc[protocol === 'postgres' ? 'sql' : String(protocol)]).toBeDefined();
    expect(file.startsWith(`${protocol}-`)).toBe(true);
  });
});
