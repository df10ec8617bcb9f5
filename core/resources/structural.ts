// Checks that a CRD's schemas are structural, as the API server requires of
// apiextensions.k8s.io/v1 CRDs (and a little more that it also checks at
// creation: list-type invariants, defaults that validate, rule shapes).
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
import { RE2JS } from 're2js';
import { bracket, child, index, type ValidationError } from './field-path.js';
import { applyDefaults } from './defaults.js';
import { isObject, validateSchema, type SchemaError } from './schema-validator.js';
import type { JSONSchemaProps } from './schema-types.js';

const KNOWN_KEYS = new Set([
  'type', 'format', 'description', 'title', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'default',
  'example', 'nullable', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength',
  'maxLength', 'pattern', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'allOf', 'anyOf',
  'oneOf', 'not', 'externalDocs', 'x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
]);
// JSON Schema keywords Kubernetes refuses in CRD schemas.
const FORBIDDEN_KEYS = ['$ref', '$schema', 'id', 'definitions', 'dependencies', 'patternProperties', 'additionalItems'];
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
const SCALARS = new Set(['string', 'integer', 'number', 'boolean']);

/** Every way the CRD falls short of a structural schema (empty when it is one). */
export function structuralErrors(crd: unknown): ValidationError[] {
  const errors: ValidationError[] = [];
  const fail = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  if (!isObject(crd) || crd['apiVersion'] !== 'apiextensions.k8s.io/v1' || crd['kind'] !== 'CustomResourceDefinition') {
    fail('<root>', 'not an apiextensions.k8s.io/v1 CustomResourceDefinition');
    return errors;
  }
  const spec = crd['spec'];
  const versions = isObject(spec) ? spec['versions'] : undefined;
  if (!Array.isArray(versions) || versions.length === 0) {
    fail('spec.versions', 'Required value: at least one version');
    return errors;
  }
  versions.forEach((version, i) => {
    const base = index('spec.versions', i);
    const schema = isObject(version) && isObject(version['schema']) ? version['schema']['openAPIV3Schema'] : undefined;
    if (!isObject(schema)) {
      fail(child(base, 'schema.openAPIV3Schema'), 'Required value: every version needs a schema');
      return;
    }
    checkNode(schema, child(base, 'schema.openAPIV3Schema'), { root: true, inJunctor: false }, fail);
  });
  return errors;
}

/** True when every version's schema is structural. */
export function isStructural(crd: unknown): boolean {
  return structuralErrors(crd).length === 0;
}

interface Where {
  root: boolean;
  inJunctor: boolean;
}

function checkNode(node: unknown, path: string, where: Where, fail: (path: string, message: string) => void): void {
  if (!isObject(node)) {
    fail(path, 'must be a schema object');
    return;
  }
  for (const k of Object.keys(node)) {
    if (FORBIDDEN_KEYS.includes(k)) fail(child(path, k), 'Forbidden: not allowed in a CRD schema');
    else if (!KNOWN_KEYS.has(k)) fail(child(path, k), 'unknown field');
  }
  if (!shapeOk(node, path, fail)) return;
  const s = node as JSONSchemaProps;
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;

  if (where.inJunctor) {
    for (const k of ['type', 'description', 'default', 'additionalProperties', 'nullable'] as const) {
      if (s[k] !== undefined) fail(child(path, k), `Forbidden: must not be set inside allOf, anyOf, oneOf or not`);
    }
  } else if (s.type === undefined && !intOrString && !preserve) {
    fail(child(path, 'type'), 'Required value: must not be empty for specified fields');
  }
  if (s.type !== undefined && !TYPES.has(s.type)) fail(child(path, 'type'), `Unsupported value: ${JSON.stringify(s.type)}`);
  if (where.root && s.type !== 'object') fail(child(path, 'type'), 'Invalid value: must be object at the root');
  if (intOrString && s.type !== undefined) fail(child(path, 'type'), 'Forbidden: must be empty with x-kubernetes-int-or-string');
  if (s['x-kubernetes-preserve-unknown-fields'] === false) {
    fail(child(path, 'x-kubernetes-preserve-unknown-fields'), 'Invalid value: false: must be true or undefined');
  }
  if (s.uniqueItems === true) fail(child(path, 'uniqueItems'), 'Forbidden: uniqueItems cannot be true (quadratic); use x-kubernetes-list-type: set');
  if (s.properties !== undefined && s.additionalProperties !== undefined) {
    fail(child(path, 'additionalProperties'), 'Forbidden: additionalProperties and properties are mutually exclusive');
  }
  if (s.additionalProperties === false) fail(child(path, 'additionalProperties'), 'Forbidden: additionalProperties: false is not allowed (unknown fields are pruned)');
  if ((s.properties !== undefined || s.additionalProperties !== undefined) && s.type !== undefined && s.type !== 'object') {
    fail(path, `Invalid value: properties need type object, not ${s.type}`);
  }
  if (s.type === 'array' && s.items === undefined && !where.inJunctor) fail(child(path, 'items'), 'Required value: arrays need items');
  if (s.items !== undefined && s.type !== undefined && s.type !== 'array') fail(child(path, 'items'), `Forbidden: items need type array, not ${s.type}`);
  if (s.required !== undefined && s.properties !== undefined) {
    for (const r of s.required) if (!Object.hasOwn(s.properties, r)) fail(child(path, 'required'), `Invalid value: ${JSON.stringify(r)}: not a property`);
  }
  if (s.enum !== undefined) {
    s.enum.forEach((e, i) => {
      const probe: SchemaError[] = [];
      validateSchema(e, { type: s.type }, '', probe);
      if (probe.length > 0) fail(index(child(path, 'enum'), i), `Invalid value: ${JSON.stringify(e)}: not of type ${s.type}`);
    });
  }

  if (s.pattern !== undefined) {
    try {
      RE2JS.compile(s.pattern);
    } catch (e) {
      fail(child(path, 'pattern'), `Invalid value: not an RE2 regular expression: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (where.root) checkRootMetadata(s, path, fail);
  if (s.default !== undefined && !where.inJunctor) checkDefault(s, path, where, fail);
  checkListType(s, path, fail);
  checkRules(s, path, fail);

  if (s.properties !== undefined) {
    for (const [k, prop] of Object.entries(s.properties)) checkNode(prop, bracket(child(path, 'properties'), k), { root: false, inJunctor: where.inJunctor }, fail);
  }
  if (isObject(s.additionalProperties)) checkNode(s.additionalProperties, child(path, 'additionalProperties'), { root: false, inJunctor: where.inJunctor }, fail);
  if (isObject(s.items)) checkNode(s.items, child(path, 'items'), { root: false, inJunctor: where.inJunctor }, fail);
  for (const j of JUNCTORS) {
    const parts = j === 'not' ? (s.not === undefined ? [] : [s.not]) : (s[j] ?? []);
    parts.forEach((part, i) => {
      const at = j === 'not' ? child(path, j) : index(child(path, j), i);
      checkNode(part, at, { root: false, inJunctor: true }, fail);
      // Fields constrained inside a junctor must also be specified outside it.
      for (const k of Object.keys(part.properties ?? {})) {
        if (s.properties === undefined || !Object.hasOwn(s.properties, k)) fail(bracket(child(at, 'properties'), k), 'Required value: must also be specified outside the logical junctor');
      }
      if (part.items !== undefined && s.items === undefined) fail(child(at, 'items'), 'Required value: must also be specified outside the logical junctor');
    });
  }
}

// The keywords' own JSON types, so the checks below can trust them.
function shapeOk(node: Record<string, unknown>, path: string, fail: (path: string, message: string) => void): boolean {
  let ok = true;
  const expect = (k: string, good: (v: unknown) => boolean, what: string): void => {
    if (node[k] !== undefined && !good(node[k])) {
      fail(child(path, k), `Invalid value: must be ${what}`);
      ok = false;
    }
  };
  const isStringList = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
  const isSchemaList = (v: unknown): boolean => Array.isArray(v) && v.every(isObject);
  expect('type', (v) => typeof v === 'string', 'a string');
  expect('properties', (v) => isObject(v) && Object.values(v).every(isObject), 'a map of schemas');
  expect('additionalProperties', (v) => isObject(v) || typeof v === 'boolean', 'a schema or a boolean');
  expect('items', isObject, 'a single schema');
  expect('required', isStringList, 'a list of strings');
  expect('enum', Array.isArray, 'a list');
  for (const j of ['allOf', 'anyOf', 'oneOf']) expect(j, isSchemaList, 'a list of schemas');
  expect('not', isObject, 'a schema');
  expect('x-kubernetes-validations', (v) => Array.isArray(v) && v.every(isObject), 'a list of rules');
  expect('x-kubernetes-list-map-keys', isStringList, 'a list of strings');
  for (const k of ['maxLength', 'minLength', 'maxItems', 'minItems', 'maxProperties', 'minProperties']) {
    expect(k, (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0, 'a non-negative integer');
  }
  for (const k of ['minimum', 'maximum', 'multipleOf']) expect(k, (v) => typeof v === 'number', 'a number');
  expect('pattern', (v) => typeof v === 'string', 'a string');
  return ok;
}

function checkRootMetadata(s: JSONSchemaProps, path: string, fail: (path: string, message: string) => void): void {
  const meta = s.properties?.['metadata'];
  if (meta === undefined) return;
  const at = bracket(child(path, 'properties'), 'metadata');
  if (meta.type !== 'object') fail(child(at, 'type'), 'Invalid value: metadata must be of type object');
  for (const k of Object.keys(meta)) {
    if (k !== 'type' && k !== 'properties' && k !== 'description') fail(child(at, k), 'Forbidden: only restrictions of metadata.name and metadata.generateName are allowed');
  }
  for (const [k, prop] of Object.entries(meta.properties ?? {})) {
    if (k !== 'name' && k !== 'generateName') fail(bracket(child(at, 'properties'), k), 'Forbidden: only restrictions of metadata.name and metadata.generateName are allowed');
    else if (prop.type !== 'string') fail(child(bracket(child(at, 'properties'), k), 'type'), 'Invalid value: must be string');
  }
}

function checkDefault(s: JSONSchemaProps, path: string, where: Where, fail: (path: string, message: string) => void): void {
  if (where.root) {
    fail(child(path, 'default'), 'Forbidden: no default at the root');
    return;
  }
  // A default must be valid for its own schema once defaulted inside, and must
  // contain no unknown fields (the API server prunes and validates it).
  const errors: SchemaError[] = [];
  validateSchema(applyDefaults(s.default, s), s, '', errors);
  for (const e of errors) fail(child(path, 'default'), `Invalid value: ${e.path}: ${e.message}`);
}

function checkListType(s: JSONSchemaProps, path: string, fail: (path: string, message: string) => void): void {
  const listType = s['x-kubernetes-list-type'];
  const keys = s['x-kubernetes-list-map-keys'];
  if (listType !== undefined && s.type !== 'array') fail(child(path, 'x-kubernetes-list-type'), 'Invalid value: only for arrays');
  if (keys !== undefined && listType !== 'map') fail(child(path, 'x-kubernetes-list-map-keys'), 'Forbidden: only with x-kubernetes-list-type map');
  if (listType === 'set' && s.items !== undefined && !SCALARS.has(s.items.type ?? '')) {
    fail(child(path, 'items.type'), 'Invalid value: a set needs scalar items');
  }
  if (listType === 'map') {
    const items = s.items;
    if (items === undefined || items.type !== 'object') {
      fail(child(path, 'items.type'), 'Invalid value: a map list needs object items');
      return;
    }
    if (keys === undefined || keys.length === 0) {
      fail(child(path, 'x-kubernetes-list-map-keys'), 'Required value: a map list needs keys');
      return;
    }
    for (const k of keys) {
      const prop = items.properties?.[k];
      if (prop === undefined) fail(child(path, 'x-kubernetes-list-map-keys'), `Invalid value: ${JSON.stringify(k)}: not a property of the items`);
      else if (!SCALARS.has(prop.type ?? '')) fail(child(path, 'x-kubernetes-list-map-keys'), `Invalid value: ${JSON.stringify(k)}: keys must be scalars`);
      else if (!(items.required ?? []).includes(k) && prop.default === undefined) {
        fail(child(path, 'x-kubernetes-list-map-keys'), `Invalid value: ${JSON.stringify(k)}: keys must be required or defaulted`);
      }
    }
  }
}

function checkRules(s: JSONSchemaProps, path: string, fail: (path: string, message: string) => void): void {
  (s['x-kubernetes-validations'] ?? []).forEach((r, i) => {
    const at = index(child(path, 'x-kubernetes-validations'), i);
    if (typeof r.rule !== 'string' || r.rule.trim() === '') fail(child(at, 'rule'), 'Required value: a rule');
    if (r.message !== undefined && (r.message.trim() === '' || /[\r\n]/.test(r.message))) {
      fail(child(at, 'message'), 'Invalid value: message must be non-empty and one line');
    }
  });
}
