// Every CRD is structural and follows the API conventions the project keeps
// (bounded strings, lists and maps; status subresource; conditions; printer
// columns), and the structural checker itself catches what it should.
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { isStructural, structuralErrors } from './validate.js';
import type { CustomResourceDefinition, JSONSchemaProps } from './schema-types.js';

const crdDir = fileURLToPath(new URL('../../crds/', import.meta.url));
const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort();
const crdOf = (file: string): CustomResourceDefinition => parse(readFileSync(join(crdDir, file), 'utf8')) as CustomResourceDefinition;
const rootOf = (crd: CustomResourceDefinition): JSONSchemaProps => crd.spec.versions[0]?.schema.openAPIV3Schema ?? {};

// Every schema node with its path ("spec.rules[].when").
function* nodes(s: JSONSchemaProps, path = ''): Generator<[string, JSONSchemaProps]> {
  yield [path, s];
  for (const [k, p] of Object.entries(s.properties ?? {})) yield* nodes(p, path === '' ? k : `${path}.${k}`);
  if (typeof s.additionalProperties === 'object') yield* nodes(s.additionalProperties, `${path}{}`);
  if (s.items !== undefined) yield* nodes(s.items, `${path}[]`);
}

describe('CRDs', () => {
  it('are the four agentgate kinds', () => {
    expect(files).toEqual(['accesspolicies.yaml', 'accessrequests.yaml', 'connections.yaml', 'sessionrecords.yaml']);
  });

  it.each(files)('%s is structural', (file) => {
    expect(structuralErrors(crdOf(file))).toEqual([]);
    expect(isStructural(crdOf(file))).toBe(true);
  });

  it.each(files)('%s: group, version, scope, names, categories, status subresource', (file) => {
    const crd = crdOf(file);
    const plural = file.replace('.yaml', '');
    expect(crd.metadata.name).toBe(`${plural}.agentgate.dev`);
    expect(crd.spec.group).toBe('agentgate.dev');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.plural).toBe(plural);
    expect(crd.spec.names.singular).toBe(crd.spec.names.kind.toLowerCase());
    expect(crd.spec.names.listKind).toBe(`${crd.spec.names.kind}List`);
    expect(crd.spec.names.categories).toEqual(['agentgate']);
    expect(crd.spec.names.shortNames?.length).toBe(1);
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([['v1alpha1', true, true]]);
    expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
  });

  it('use distinct short names', () => {
    const shorts = files.flatMap((f) => crdOf(f).spec.names.shortNames ?? []);
    expect(shorts.sort()).toEqual(['ap', 'areq', 'conn', 'srec']);
  });

  it.each(files)('%s bounds every string, list and map (so CEL cost estimation passes)', (file) => {
    const unbounded: string[] = [];
    for (const [path, s] of nodes(rootOf(crdOf(file)))) {
      if (s.type === 'string' && s.maxLength === undefined && s.enum === undefined) unbounded.push(`${path}: string without maxLength`);
      if (s.type === 'array' && s.maxItems === undefined) unbounded.push(`${path}: list without maxItems`);
      if (typeof s.additionalProperties === 'object' && s.maxProperties === undefined) unbounded.push(`${path}: map without maxProperties`);
    }
    expect(unbounded).toEqual([]);
  });

  it.each(files)('%s has spec, a status with Ready-style conditions and observedGeneration, and metadata.name rules', (file) => {
    const root = rootOf(crdOf(file));
    expect(root.required).toEqual(['spec']);
    expect(root.properties?.['metadata']?.properties?.['name']).toMatchObject({ type: 'string', maxLength: 253 });
    const status = root.properties?.['status'];
    expect(status?.properties?.['observedGeneration']).toMatchObject({ type: 'integer', format: 'int64', minimum: 0 });
    const conditions = status?.properties?.['conditions'];
    expect(conditions).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
    expect(conditions?.items?.required?.sort()).toEqual(['lastTransitionTime', 'message', 'reason', 'status', 'type']);
    expect(conditions?.items?.properties?.['status']?.enum).toEqual(['True', 'False', 'Unknown']);
    expect(conditions?.items?.properties?.['lastTransitionTime']?.format).toBe('date-time');
  });

  it.each(files)('%s printer columns point at fields of the schema', (file) => {
    const crd = crdOf(file);
    const root = rootOf(crd);
    const columns = crd.spec.versions[0]?.additionalPrinterColumns ?? [];
    expect(columns.map((c) => c.name)).toContain('Age');
    for (const c of columns) {
      const segments = c.jsonPath.replace(/\[\?\(@\.type=="Ready"\)\]/, '[]').split('.').slice(1);
      let node: JSONSchemaProps | undefined = root;
      for (const seg of segments) {
        const isList = seg.endsWith('[]');
        const name = isList ? seg.slice(0, -2) : seg;
        node = name === 'creationTimestamp' ? { type: 'string' } : node?.properties?.[name];
        if (isList) node = node?.items;
      }
      expect([c.name, node === undefined ? 'missing' : 'found']).toEqual([c.name, 'found']);
    }
  });

  it('have the printer columns the CLI output relies on', () => {
    const names = (file: string): string[] => (crdOf(file).spec.versions[0]?.additionalPrinterColumns ?? []).filter((c) => (c.priority ?? 0) === 0).map((c) => c.name);
    expect(names('connections.yaml')).toEqual(['Protocol', 'Host', 'Port', 'URL', 'Ready', 'Age']);
    expect(names('accesspolicies.yaml')).toEqual(['Connections', 'Ready', 'Age']);
    expect(names('accessrequests.yaml')).toEqual(['Requester', 'Connection', 'Phase', 'Expires', 'Age']);
    expect(names('sessionrecords.yaml')).toEqual(['Identity', 'Connection', 'Outcome', 'Statements', 'Denied', 'Age']);
  });

  it.each(files)('%s: every rule has a message', (file) => {
    for (const [path, s] of nodes(rootOf(crdOf(file)))) {
      for (const r of s['x-kubernetes-validations'] ?? []) expect([path, r.message?.length ?? 0]).not.toEqual([path, 0]);
    }
  });
});

describe('structural checker', () => {
  // A minimal structural CRD, then one violation at a time.
  const base = (schema: Record<string, unknown>): unknown => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'things.example.com' },
    spec: { versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } }] },
  });
  const spec = (props: Record<string, unknown>): unknown => base({ type: 'object', properties: { spec: { type: 'object', properties: props } } });
  const at = 'spec.versions[0].schema.openAPIV3Schema';
  const specAt = `${at}.properties[spec].properties`;

  it('accepts a minimal schema', () => {
    expect(structuralErrors(spec({ a: { type: 'string', maxLength: 3 } }))).toEqual([]);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['a field without a type', spec({ a: { description: 'x' } }), `${specAt}[a].type`, /Required value/],
    ['int-or-string needs no type', spec({ a: { 'x-kubernetes-int-or-string': true, type: 'string' } }), `${specAt}[a].type`, /must be empty/],
    ['properties with additionalProperties', spec({ a: { type: 'object', properties: { b: { type: 'string' } }, additionalProperties: { type: 'string' } } }), `${specAt}[a].additionalProperties`, /mutually exclusive/],
    ['additionalProperties: false', spec({ a: { type: 'object', additionalProperties: false } }), `${specAt}[a].additionalProperties`, /not allowed/],
    ['an array without items', spec({ a: { type: 'array' } }), `${specAt}[a].items`, /arrays need items/],
    ['uniqueItems', spec({ a: { type: 'array', items: { type: 'string' }, uniqueItems: true } }), `${specAt}[a].uniqueItems`, /quadratic/],
    ['$ref', spec({ a: { $ref: '#/x' } }), `${specAt}[a].$ref`, /Forbidden/],
    ['an unknown keyword', spec({ a: { type: 'string', maxLenght: 3 } }), `${specAt}[a].maxLenght`, /unknown field/],
    ['a type inside a junctor', spec({ a: { type: 'string', anyOf: [{ type: 'string' }] } }), `${specAt}[a].anyOf[0].type`, /inside allOf/],
    ['a junctor field missing outside', base({ type: 'object', properties: { spec: { type: 'object', allOf: [{ properties: { x: { maxLength: 2 } } }] } } }), `${at}.properties[spec].allOf[0].properties[x]`, /outside the logical junctor/],
    ['a non-object root', base({ type: 'string' }), `${at}.type`, /object at the root/],
    ['metadata restricted beyond name', base({ type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } }), `${at}.properties[metadata].properties[labels]`, /only restrictions of metadata.name/],
    ['a map list key that is optional', spec({ a: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'], items: { type: 'object', properties: { k: { type: 'string' } } } } }), `${specAt}[a].x-kubernetes-list-map-keys`, /required or defaulted/],
    ['a set of objects', spec({ a: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'object', properties: {} } } }), `${specAt}[a].items.type`, /scalar items/],
    ['a default that does not validate', spec({ a: { type: 'string', maxLength: 2, default: 'long' } }), `${specAt}[a].default`, /Too long/],
    ['a default with an unknown field', spec({ a: { type: 'object', properties: { b: { type: 'string' } }, default: { c: 'x' } } }), `${specAt}[a].default`, /unknown field/],
    ['an enum value of the wrong type', spec({ a: { type: 'string', enum: ['x', 3] } }), `${specAt}[a].enum[1]`, /not of type string/],
    ['a pattern RE2 cannot compile', spec({ a: { type: 'string', pattern: '(?=x)' } }), `${specAt}[a].pattern`, /RE2/],
    ['a rule without text', spec({ a: { type: 'string', 'x-kubernetes-validations': [{ rule: ' ' }] } }), `${specAt}[a].x-kubernetes-validations[0].rule`, /Required value/],
    ['properties of the wrong JSON type', spec({ a: { type: 'object', properties: [] } }), `${specAt}[a].properties`, /map of schemas/],
  ])('refuses %s', (_what, crd, path, message) => {
    const errors = structuralErrors(crd);
    expect(isStructural(crd)).toBe(false);
    expect(errors).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('refuses what is not a CRD at all', () => {
    expect(isStructural({ kind: 'ConfigMap' })).toBe(false);
    expect(isStructural(null)).toBe(false);
    expect(structuralErrors(base(undefined as unknown as Record<string, unknown>))[0]?.message).toMatch(/needs a schema/);
  });
});
