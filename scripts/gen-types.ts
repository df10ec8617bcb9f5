// Generates the TypeScript view of the agentgate CRDs from crds/*.yaml, the one
// source of truth:
//   core/resources/generated.ts       interfaces, enums as unions, constants
//   core/resources/generated-crds.ts  the CRD objects themselves (for the
//                                     offline validator and the operator)
//
// Run after editing a CRD (the drift test in core/resources/generated.test.ts
// fails until you do):
//   export PATH=/work/main/node_modules/.bin:$PATH
//   node --experimental-strip-types scripts/gen-types.ts          # write
//   node --experimental-strip-types scripts/gen-types.ts --check  # exit 1 on drift
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import type { CustomResourceDefinition, JSONSchemaProps } from '../core/resources/schema-types.js';

export interface CrdSource {
  /** File name, e.g. "connections.yaml" (used in the header and errors). */
  file: string;
  text: string;
}

export const OUTPUT_TYPES = 'core/resources/generated.ts';
export const OUTPUT_CRDS = 'core/resources/generated-crds.ts';

// Names for nested types where the derived name would be clumsy, and names
// shared between kinds (the shapes must then be identical). Keys are
// "Kind.path" ("*.path" for every kind); "[]" is an array's items.
const TYPE_NAMES: Readonly<Record<string, string>> = {
  '*.status.conditions[]': 'Condition',
  '*.status.conditions[].status': 'ConditionStatus',
  'Connection.spec.protocol': 'Protocol',
  'AccessRequest.spec.protocol': 'Protocol',
  'SessionRecord.spec.protocol': 'Protocol',
  'Connection.spec.tls.mode': 'TLSMode',
  'Connection.spec.tls.caSecretRef': 'TLSCASecretRef',
  'Connection.spec.credentials.secretRef': 'CredentialSecretRef',
  'Connection.spec.credentials.jit': 'JITCredentials',
  'Connection.spec.credentials.jit.postgres': 'PostgresJIT',
  'Connection.spec.credentials.jit.postgres.adminSecretRef': 'PostgresAdminSecretRef',
  'Connection.spec.credentials.jit.ssh': 'SSHJIT',
  'Connection.spec.credentials.jit.ssh.caSecretRef': 'SSHCASecretRef',
  'Connection.spec.env[]': 'EnvVar',
  'AccessPolicy.spec.podSelector': 'LabelSelector',
  'AccessPolicy.spec.podSelector.matchExpressions[]': 'LabelSelectorRequirement',
  'AccessPolicy.spec.podSelector.matchExpressions[].operator': 'LabelSelectorOperator',
  'AccessPolicy.spec.subjects[]': 'Subject',
  'AccessPolicy.spec.subjects[].serviceAccount': 'ServiceAccountSubject',
  'AccessPolicy.spec.subjects[].oidc': 'OIDCSubject',
  'AccessPolicy.spec.rules[]': 'PolicyRule',
  'AccessPolicy.spec.rules[].action': 'RuleAction',
  'AccessPolicy.spec.masking': 'Masking',
  'AccessPolicy.spec.masking.columns[]': 'ColumnMask',
  'AccessPolicy.spec.masking.columns[].strategy': 'MaskStrategy',
  'AccessPolicy.spec.masking.jsonFields[]': 'JSONFieldMask',
  'AccessPolicy.spec.masking.jsonFields[].strategy': 'MaskStrategy',
  'AccessPolicy.spec.masking.detectors[]': 'Detector',
  'AccessPolicy.spec.masking.detectors[].type': 'DetectorType',
  'AccessPolicy.spec.masking.detectors[].strategy': 'MaskStrategy',
  'AccessPolicy.spec.masking.hashKeySecretRef': 'SecretKeySelector',
  'AccessPolicy.spec.approval': 'Approval',
  'AccessPolicy.spec.approval.approvers': 'Approvers',
  'AccessPolicy.spec.approval.scope': 'ApprovalScope',
  'AccessPolicy.spec.session': 'SessionSettings',
  'AccessRequest.spec.requester': 'Requester',
  'AccessRequest.spec.requester.pod': 'PodRef',
  'AccessRequest.spec.scope': 'ApprovalScope',
  'AccessRequest.status.phase': 'AccessRequestPhase',
  'AccessRequest.status.approvals[]': 'ApprovalRecord',
  'SessionRecord.spec.identity': 'SessionIdentity',
  'SessionRecord.spec.pod': 'PodRef',
  'SessionRecord.spec.counts': 'SessionCounts',
  'SessionRecord.spec.outcome': 'SessionOutcome',
  'SessionRecord.spec.transcript': 'TranscriptRef',
};

const ACRONYMS: Readonly<Record<string, string>> = { tls: 'TLS', ssh: 'SSH', http: 'HTTP', jit: 'JIT', oidc: 'OIDC', url: 'URL' };

const pascal = (prop: string): string => ACRONYMS[prop] ?? prop.charAt(0).toUpperCase() + prop.slice(1);
const singular = (prop: string): string => (prop.endsWith('s') ? prop.slice(0, -1) : prop);
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string): string => (IDENT.test(name) ? name : JSON.stringify(name));
const literal = (v: unknown): string =>
  typeof v === 'string' ? `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'` : JSON.stringify(v);

interface Decl {
  name: string;
  doc: string | undefined;
  body: string | undefined; // undefined while its children are generated
  kind: 'interface' | 'type';
  at: string;
}

class TypeEmitter {
  readonly decls: Decl[] = [];
  private readonly byName = new Map<string, Decl>();
  readonly usedOverrides = new Set<string>();

  override(kind: string, path: string): string | undefined {
    for (const k of [`${kind}.${path}`, `*.${path}`]) {
      const name = TYPE_NAMES[k];
      if (name !== undefined) {
        this.usedOverrides.add(k);
        return name;
      }
    }
    return undefined;
  }

  /** Declares (or reuses, if identical) a named type and returns its name. */
  declare(name: string, kind: Decl['kind'], doc: string | undefined, at: string, body: () => string): string {
    const existing = this.byName.get(name);
    if (existing !== undefined && existing.body === undefined) {
      throw new Error(`type ${name} is recursive (${existing.at} and ${at})`);
    }
    const decl: Decl = { name, doc, body: undefined, kind, at };
    if (existing === undefined) {
      this.byName.set(name, decl);
      this.decls.push(decl); // reserve the slot so parents come before children
    }
    const text = body();
    if (existing !== undefined) {
      if (existing.body !== text) {
        throw new Error(`type name ${name} is used for different shapes at ${existing.at} and ${at}`);
      }
      return name;
    }
    decl.body = text;
    return name;
  }

  /** The TypeScript type of a schema node; named nodes become declarations. */
  typeOf(s: JSONSchemaProps, kind: string, path: string, derivedName: string, itemName: string): string {
    if (s['x-kubernetes-int-or-string'] === true) return 'number | string';
    const named = this.override(kind, path);
    switch (s.type) {
      case 'string':
      case 'integer':
      case 'number':
      case 'boolean': {
        const t = s.enum !== undefined ? s.enum.map(literal).join(' | ') : s.type === 'string' ? 'string' : s.type === 'boolean' ? 'boolean' : 'number';
        if (named === undefined) return t;
        return this.declare(named, 'type', undefined, `${kind}.${path}`, () => t);
      }
      case 'array': {
        if (s.items === undefined) return 'unknown[]';
        const item = this.typeOf(s.items, kind, `${path}[]`, itemName, itemName);
        return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `(${item})[]`;
      }
      case 'object': {
        if (s.properties !== undefined) {
          const props = s.properties;
          const name = named ?? derivedName;
          const childBase = path === 'spec' || path === 'status' ? kind : name;
          return this.declare(name, 'interface', s.description, `${kind}.${path}`, () =>
            this.fields(props, s.required ?? [], kind, path, childBase),
          );
        }
        if (typeof s.additionalProperties === 'object') {
          const value = this.typeOf(s.additionalProperties, kind, `${path}{}`, `${derivedName}Value`, `${derivedName}Value`);
          return `Record<string, ${value}>`;
        }
        return 'Record<string, unknown>';
      }
      default:
        return 'unknown';
    }
  }

  fields(props: Record<string, JSONSchemaProps>, required: string[], kind: string, path: string, childBase: string): string {
    const lines: string[] = [];
    for (const [prop, schema] of Object.entries(props)) {
      const childPath = path === '' ? prop : `${path}.${prop}`;
      const t = this.typeOf(schema, kind, childPath, childBase + pascal(prop), childBase + pascal(singular(prop)));
      lines.push(...docLines(schema.description, schema.default, '  '));
      lines.push(`  ${key(prop)}${required.includes(prop) ? '' : '?'}: ${t};`);
    }
    return lines.join('\n');
  }
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter((w) => w !== '')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else {
        line = line === '' ? word : `${line} ${word}`;
      }
    }
    out.push(line);
  }
  return out;
}

function docLines(description: string | undefined, def: unknown, indent: string): string[] {
  const body: string[] = [];
  if (description !== undefined && description.trim() !== '') body.push(...wrap(description.replaceAll('*/', '*\\/'), 96));
  if (def !== undefined) body.push(`@default ${JSON.stringify(def)}`);
  if (body.length === 0) return [];
  if (body.length === 1) return [`${indent}/** ${body[0]} */`];
  return [`${indent}/**`, ...body.map((l) => (l === '' ? `${indent} *` : `${indent} * ${l}`)), `${indent} */`];
}

const HEADER = (what: string): string =>
  `// Code generated by scripts/gen-types.ts from crds/*.yaml; DO NOT EDIT.\n` +
  `// ${what}\n` +
  `// Regenerate: node --experimental-strip-types scripts/gen-types.ts\n`;

function parseCrd(src: CrdSource): CustomResourceDefinition {
  const doc: unknown = parse(src.text);
  if (typeof doc !== 'object' || doc === null || (doc as { kind?: unknown }).kind !== 'CustomResourceDefinition') {
    throw new Error(`${src.file}: not a CustomResourceDefinition`);
  }
  const crd = doc as CustomResourceDefinition;
  if (crd.spec.versions.length !== 1) throw new Error(`${src.file}: expected exactly one version`);
  return crd;
}

/** Generates both output files from the CRD sources; returns repo-relative path → content. */
export function generate(sources: readonly CrdSource[]): Map<string, string> {
  const crds = [...sources].sort((a, b) => a.file.localeCompare(b.file)).map(parseCrd);
  if (crds.length === 0) throw new Error('no CRDs found');
  const group = crds[0]?.spec.group ?? '';
  const version = crds[0]?.spec.versions[0]?.name ?? '';
  for (const crd of crds) {
    if (crd.spec.group !== group || crd.spec.versions[0]?.name !== version) {
      throw new Error(`${crd.metadata.name}: every CRD must use group ${group} and version ${version}`);
    }
  }
  const kinds = crds.map((c) => c.spec.names.kind);
  const emitter = new TypeEmitter();
  const resourceDecls: string[] = [];

  for (const crd of crds) {
    const kind = crd.spec.names.kind;
    const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
    if (root?.properties === undefined) throw new Error(`${crd.metadata.name}: schema has no properties`);
    const lines: string[] = [];
    lines.push(...docLines(root.description, undefined, ''));
    lines.push(`export interface ${kind} {`);
    lines.push(`  apiVersion: typeof API_VERSION;`);
    lines.push(`  kind: '${kind}';`);
    lines.push(`  metadata: ObjectMeta;`);
    for (const [prop, schema] of Object.entries(root.properties)) {
      if (prop === 'apiVersion' || prop === 'kind' || prop === 'metadata') continue;
      const t = emitter.typeOf(schema, kind, prop, kind + pascal(prop), kind + pascal(singular(prop)));
      lines.push(...docLines(schema.description, schema.default, '  '));
      lines.push(`  ${key(prop)}${(root.required ?? []).includes(prop) ? '' : '?'}: ${t};`);
    }
    lines.push('}');
    resourceDecls.push(lines.join('\n'));
  }
  const unused = Object.keys(TYPE_NAMES).filter((k) => !emitter.usedOverrides.has(k));
  if (unused.length > 0) throw new Error(`TYPE_NAMES entries match no schema node: ${unused.join(', ')}`);

  const record = (f: (c: CustomResourceDefinition) => unknown): string =>
    `{\n${crds.map((c) => `  ${c.spec.names.kind}: ${JSON.stringify(f(c)).replaceAll('"', "'").replaceAll(',', ', ')},`).join('\n')}\n}`;

  const out: string[] = [HEADER('TypeScript types of the agentgate custom resources.')];
  out.push(`/** API group of every agentgate resource. */`);
  out.push(`export const GROUP = '${group}';`);
  out.push(`/** API version of every agentgate resource. */`);
  out.push(`export const VERSION = '${version}';`);
  out.push(`/** apiVersion field value: group/version. */`);
  out.push(`export const API_VERSION = '${group}/${version}';\n`);
  out.push(`/** Every agentgate kind. */`);
  out.push(`export const KINDS = [${kinds.map((k) => `'${k}'`).join(', ')}] as const;`);
  out.push(`export type AgentgateKind = (typeof KINDS)[number];\n`);
  out.push(`/** Resource (plural) names, as used in API paths and RBAC. */`);
  out.push(`export const PLURALS = ${record((c) => c.spec.names.plural)} as const satisfies Record<AgentgateKind, string>;\n`);
  out.push(`/** Singular names. */`);
  out.push(`export const SINGULARS = ${record((c) => c.spec.names.singular)} as const satisfies Record<AgentgateKind, string>;\n`);
  out.push(`/** List kinds. */`);
  out.push(`export const LIST_KINDS = ${record((c) => c.spec.names.listKind)} as const satisfies Record<AgentgateKind, string>;\n`);
  out.push(`/** kubectl short names. */`);
  out.push(`export const SHORT_NAMES = ${record((c) => c.spec.names.shortNames ?? [])} as const satisfies Record<AgentgateKind, readonly string[]>;\n`);
  out.push(`/** CustomResourceDefinition names (plural.group). */`);
  out.push(`export const CRD_NAMES = ${record((c) => c.metadata.name)} as const satisfies Record<AgentgateKind, string>;\n`);
  out.push(`/** Object metadata: the fields agentgate reads and writes (a subset of metav1.ObjectMeta). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  /** RFC 3339 timestamp. */
  creationTimestamp?: string;
  /** RFC 3339 timestamp. */
  deletionTimestamp?: string;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

/** A reference to the object that owns this one (garbage collection). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}
`);
  out.push(`/** Each kind's resource type. */`);
  out.push(`export interface ResourceKinds {\n${kinds.map((k) => `  ${k}: ${k};`).join('\n')}\n}\n`);
  out.push(`/** Any agentgate resource. */`);
  out.push(`export type AgentgateResource = ResourceKinds[AgentgateKind];\n`);
  out.push(resourceDecls.join('\n\n') + '\n');
  for (const d of emitter.decls) {
    out.push(docLines(d.doc, undefined, '').join('\n'));
    out.push(d.kind === 'interface' ? `export interface ${d.name} {\n${d.body ?? ''}\n}\n` : `export type ${d.name} = ${d.body ?? ''};\n`);
  }
  const types = out.filter((l) => l !== '').join('\n');

  const crdsFile =
    HEADER('The agentgate CustomResourceDefinitions as objects (same content as crds/*.yaml).') +
    `import type { CustomResourceDefinition } from './schema-types.js';\n\n` +
    `export const CRDS: readonly CustomResourceDefinition[] = ${JSON.stringify(crds, null, 2)};\n`;

  return new Map([
    [OUTPUT_TYPES, types],
    [OUTPUT_CRDS, crdsFile],
  ]);
}

/** Reads crds/*.yaml under the repository root. */
export function readCrdSources(repoRoot: string): CrdSource[] {
  const dir = join(repoRoot, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => ({ file, text: readFileSync(join(dir, file), 'utf8') }));
}

function main(argv: string[]): number {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const files = generate(readCrdSources(repoRoot));
  const check = argv.includes('--check');
  let drift = false;
  for (const [rel, content] of files) {
    const target = join(repoRoot, rel);
    let current: string | undefined;
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === content) continue;
    drift = true;
    if (check) {
      process.stderr.write(`${rel} is out of date; run: node --experimental-strip-types scripts/gen-types.ts\n`);
    } else {
      writeFileSync(target, content);
      process.stdout.write(`wrote ${rel}\n`);
    }
  }
  return check && drift ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
