// The standalone configuration file: multi-document YAML with Connection,
// AccessPolicy and v1 Secret documents. Loaded once at start; every problem
// is collected and reported together with its line and column (fail fast,
// nothing half-configured). Secret values are resolved into in-memory
// credentials and never appear in an error.

import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { compilePolicies, type PolicyEngine } from '../../core/policy/engine.js';
import type { AccessPolicyLike } from '../../core/policy/policy-input.js';
import type { AccessPolicy, Connection, ConnectionSpec, TLSMode } from '../../core/resources/generated.js';
import { BackendCredential } from './backend-credential.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { parseSecret, type SecretDoc } from './secrets.js';
import { validateResource } from '../../core/resources/validate.js';
import { parseFieldPath, positionInScalar, positionOf, type FieldPath } from './yaml-positions.js';

export interface ResolvedTls {
  mode: TLSMode;
  /** PEM CA bundle from tls.caSecretRef. */
  caPem?: string | undefined;
  serverName?: string | undefined;
}

export interface ResolvedConnection {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  spec: ConnectionSpec;
  listenPort: number;
  /** null for just-in-time credentials (resolved per session by the protocol). */
  credential: BackendCredential | null;
  /** For jit.postgres: the admin credential that mints roles. */
  adminCredential: BackendCredential | null;
  tls: ResolvedTls;
}

export interface StandaloneConfig {
  file: string;
  connections: ResolvedConnection[];
  policies: AccessPolicy[];
  engine: PolicyEngine;
  /** Non-fatal findings (e.g. a policy naming a connection that is not configured). */
  warnings: string[];
  /** A Secret value (e.g. masking.hashKeySecretRef); undefined when absent. */
  secretValue(namespace: string, name: string, key: string): Buffer | undefined;
}

export interface LoadConfigOptions {
  /** Namespace for documents that do not name one (the --identity namespace). */
  defaultNamespace: string;
  /** Ports the sidecar uses itself (the admin port): a Connection may not listen on them. */
  reservedPorts?: ReadonlyArray<{ port: number; what: string }>;
}

interface Located<T> {
  value: T;
  doc: Document;
}

export async function loadStandaloneConfig(file: string, opts: LoadConfigOptions): Promise<StandaloneConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('CONFIG_UNREADABLE', file, [{ message: `cannot read the config file: ${(err as Error).message}` }]);
  }
  return parseStandaloneConfig(text, file, opts);
}

export function parseStandaloneConfig(text: string, file: string, opts: LoadConfigOptions): StandaloneConfig {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  const at = (doc: Document, path: FieldPath): { line?: number; column?: number } => positionOf(doc, lc, path) ?? {};

  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    problems.push({ message: 'not a YAML stream' });
  }
  for (const doc of list) {
    for (const e of doc.errors) {
      const p = lc.linePos(e.pos[0]);
      problems.push({ message: `YAML: ${firstLine(e.message)}`, line: p.line, column: p.col });
    }
  }
  if (problems.length > 0) throw new ConfigError('CONFIG_YAML', file, problems);

  const connections: Array<Located<Connection>> = [];
  const policies: Array<Located<AccessPolicy>> = [];
  const secrets = new Map<string, SecretDoc>();
  const seen = new Set<string>();

  for (const doc of list) {
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // empty document
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ message: 'each document must be a mapping (a Kubernetes object)', ...at(doc, []) });
      continue;
    }
    const obj = value as Record<string, unknown>;
    const apiVersion = obj['apiVersion'];
    const kind = obj['kind'];
    const meta = (typeof obj['metadata'] === 'object' && obj['metadata'] !== null ? obj['metadata'] : {}) as Record<string, unknown>;
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    if (name === '') {
      problems.push({ object: String(kind ?? 'document'), field: 'metadata.name', message: 'required', ...at(doc, ['metadata']) });
      continue;
    }
    if (meta['namespace'] === undefined) meta['namespace'] = opts.defaultNamespace;
    obj['metadata'] = meta;
    const namespace = String(meta['namespace']);
    const object = `${String(kind)} ${namespace}/${name}`;
    const id = `${String(kind)}/${namespace}/${name}`;
    if (seen.has(id)) {
      problems.push({ object, message: 'defined twice', ...at(doc, ['metadata', 'name']) });
      continue;
    }
    seen.add(id);

    if (apiVersion === 'v1' && kind === 'Secret') {
      const secretProblems: ConfigProblem[] = [];
      const secret = parseSecret(obj, namespace, name, secretProblems);
      for (const p of secretProblems) problems.push({ ...p, ...at(doc, parseFieldPath(p.field ?? '')) });
      secrets.set(`${namespace}/${name}`, secret);
    } else if (apiVersion === 'agentgate.dev/v1alpha1' && (kind === 'Connection' || kind === 'AccessPolicy')) {
      // As the API server would admit it: CRD schema (unknown fields refused), defaults, CEL rules.
      const result = validateResource(obj);
      if (!result.ok) {
        for (const e of result.errors) {
          const field = e.path === '<root>' ? undefined : e.path;
          problems.push({ object, field, message: e.message, ...at(doc, parseFieldPath(field ?? '')) });
        }
        continue;
      }
      if (result.resource.kind === 'Connection') connections.push({ value: result.resource, doc });
      else if (result.resource.kind === 'AccessPolicy') policies.push({ value: result.resource, doc });
    } else {
      problems.push({
        object: `${String(apiVersion)} ${String(kind)}`,
        message: 'unsupported document: expected agentgate.dev/v1alpha1 Connection or AccessPolicy, or v1 Secret',
        ...at(doc, ['kind']),
      });
    }
  }

  const secretValue = (namespace: string, name: string, key: string): Buffer | undefined =>
    secrets.get(`${namespace}/${name}`)?.values.get(key);

  // Secrets and ports.
  const resolved: ResolvedConnection[] = [];
  const ports = new Map<number, string>();
  for (const r of opts.reservedPorts ?? []) ports.set(r.port, r.what);
  for (const { value: c, doc } of connections) {
    const ns = c.metadata.namespace ?? opts.defaultNamespace;
    const name = c.metadata.name ?? '';
    const object = `Connection ${ns}/${name}`;
    const need = (secretName: string, key: string, field: FieldPath, required: boolean): string | undefined => {
      const secret = secrets.get(`${ns}/${secretName}`);
      if (!secret) {
        problems.push({ object, field: field.join('.'), message: `Secret ${ns}/${secretName} is not in the config file`, ...at(doc, field) });
        return undefined;
      }
      const v = secret.values.get(key);
      if (v === undefined && required) {
        problems.push({ object, field: field.join('.'), message: `Secret ${ns}/${secretName} has no key "${key}"`, ...at(doc, field) });
      }
      return v?.toString('utf8');
    };

    const port = c.spec.listen.port;
    const clash = ports.get(port);
    if (clash !== undefined) {
      problems.push({ object, field: 'spec.listen.port', message: `port ${port} is already used by ${clash}`, ...at(doc, ['spec', 'listen', 'port']) });
    } else {
      ports.set(port, object);
    }

    let credential: BackendCredential | null = null;
    let adminCredential: BackendCredential | null = null;
    const ref = c.spec.credentials.secretRef;
    if (ref) {
      const base: FieldPath = ['spec', 'credentials', 'secretRef'];
      const source = `Secret ${ns}/${ref.name}`;
      if (c.spec.protocol === 'postgres') {
        credential = new BackendCredential(source, {
          username: need(ref.name, ref.usernameKey ?? 'username', [...base, 'usernameKey'], true),
          password: need(ref.name, ref.passwordKey ?? 'password', [...base, 'passwordKey'], true),
        });
      } else if (c.spec.protocol === 'ssh') {
        credential = new BackendCredential(source, {
          username: c.spec.ssh?.user,
          privateKey: ref.privateKeyKey ? need(ref.name, ref.privateKeyKey, [...base, 'privateKeyKey'], true) : undefined,
          password: ref.privateKeyKey ? undefined : need(ref.name, ref.passwordKey ?? 'password', [...base, 'passwordKey'], true),
        });
      } else {
        credential = new BackendCredential(source, {
          token: need(ref.name, ref.tokenKey ?? 'token', [...base, 'tokenKey'], true),
        });
      }
    }
    const jitPg = c.spec.credentials.jit?.postgres;
    if (jitPg) {
      const a = jitPg.adminSecretRef;
      const base: FieldPath = ['spec', 'credentials', 'jit', 'postgres', 'adminSecretRef'];
      adminCredential = new BackendCredential(`Secret ${ns}/${a.name}`, {
        username: need(a.name, a.usernameKey ?? 'username', [...base, 'usernameKey'], true),
        password: need(a.name, a.passwordKey ?? 'password', [...base, 'passwordKey'], true),
      });
    }
    if (c.spec.credentials.jit?.ssh) {
      problems.push({
        object,
        field: 'spec.credentials.jit.ssh',
        message: 'just-in-time SSH certificates need the operator; not available in standalone mode',
        ...at(doc, ['spec', 'credentials', 'jit', 'ssh']),
      });
    }

    let caPem: string | undefined;
    const caRef = c.spec.tls?.caSecretRef;
    if (caRef) caPem = need(caRef.name, caRef.key ?? 'ca.crt', ['spec', 'tls', 'caSecretRef'], true);
    resolved.push({
      namespace: ns,
      name,
      labels: { ...(c.metadata.labels ?? {}) },
      spec: c.spec,
      listenPort: port,
      credential,
      adminCredential,
      tls: {
        mode: c.spec.tls?.mode ?? 'verify-full',
        caPem,
        serverName: c.spec.tls?.serverName,
      },
    });
  }

  // Policies: compile every one, report every error with its position.
  // The engine validates every field itself; the cast bridges optional-vs-required
  // differences between the generated CRD types and the engine's input shape.
  const { engine, errors } = compilePolicies(policies.map((p) => p.value) as unknown as AccessPolicyLike[]);
  const byKey = new Map(policies.map((p) => [`${p.value.metadata.namespace}/${p.value.metadata.name}`, p]));
  for (const e of errors) {
    const located = byKey.get(e.policy);
    const path = parseFieldPath(e.field);
    const pos = located
      ? e.expression !== undefined
        ? positionInScalar(located.doc, lc, text, path, { line: e.line, column: e.column })
        : positionOf(located.doc, lc, path)
      : undefined;
    problems.push({
      object: `AccessPolicy ${e.policy}${e.rule !== undefined ? ` rule "${e.rule}"` : ''}`,
      field: e.field,
      message: e.detail,
      line: pos?.line,
      column: pos?.column,
    });
  }
  for (const { value: p, doc } of policies) {
    const hk = p.spec.masking?.hashKeySecretRef;
    if (hk && secretValue(p.metadata.namespace ?? opts.defaultNamespace, hk.name, hk.key) === undefined) {
      problems.push({
        object: `AccessPolicy ${p.metadata.namespace}/${p.metadata.name}`,
        field: 'spec.masking.hashKeySecretRef',
        message: `Secret ${p.metadata.namespace}/${hk.name} with key "${hk.key}" is not in the config file`,
        ...at(doc, ['spec', 'masking', 'hashKeySecretRef']),
      });
    }
  }

  if (problems.length > 0) throw new ConfigError('CONFIG_INVALID', file, problems);

  const warnings: string[] = [];
  const connectionNames = new Set(resolved.map((c) => `${c.namespace}/${c.name}`));
  for (const { value: p } of policies) {
    for (const name of p.spec.connections) {
      if (!connectionNames.has(`${p.metadata.namespace}/${name}`)) {
        warnings.push(`AccessPolicy ${p.metadata.namespace}/${p.metadata.name} names connection "${name}", which is not in ${file}`);
      }
    }
  }
  if (resolved.length === 0) warnings.push(`${file} defines no Connection: nothing to listen on`);

  return {
    file,
    connections: resolved,
    policies: policies.map((p) => p.value),
    engine,
    warnings,
    secretValue,
  };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
