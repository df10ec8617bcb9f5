// A small validator for the OpenAPI subset Kubernetes uses in structural CRD
// schemas: types, required, enum, lengths, item/property counts, patterns
// (RE2 syntax, as the API server reads them), numeric bounds, date-time and
// int32/int64 formats, list-type set/map uniqueness, and unknown fields (as
// kubectl's strict field validation reports them). Messages follow the API
// server's wording so offline errors read like admission errors.
import { RE2JS } from 're2js';
import { child, index, mapKey, quote, shown, type ValidationError } from './field-path.js';
import type { JSONSchemaProps } from './schema-types.js';

/** A schema error; `blocking` errors make the API server skip CEL rules (as hasBlockingErr does). */
export interface SchemaError extends ValidationError {
  blocking: boolean;
}

const patternCache = new Map<string, RE2JS>();
function compiled(pattern: string): RE2JS {
  let re = patternCache.get(pattern);
  if (re === undefined) {
    re = RE2JS.compile(pattern);
    patternCache.set(pattern, re);
  }
  return re;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const INT32 = [-(2 ** 31), 2 ** 31 - 1] as const;

/** True for a JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(type: JSONSchemaProps['type'], v: unknown): boolean {
  switch (type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    default:
      return true;
  }
}

/** Stable JSON for equality of list items (keys sorted). */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export interface SchemaValidateOptions {
  /**
   * Called for `metadata` at the root instead of the generic walk: Kubernetes
   * validates ObjectMeta itself and the schema may only restrict name and generateName.
   */
  metadata?: (value: unknown, schema: JSONSchemaProps, path: string, errors: SchemaError[]) => void;
}

/** Validates value against schema; appends errors (never throws on bad input). */
export function validateSchema(value: unknown, schema: JSONSchemaProps, path: string, errors: SchemaError[], options: SchemaValidateOptions = {}): void {
  walk(value, schema, path, errors, options, path === '');
}

function walk(v: unknown, s: JSONSchemaProps, path: string, errors: SchemaError[], options: SchemaValidateOptions, isRoot: boolean): void {
  const fail = (message: string, blocking = false, at = path): void => {
    errors.push({ path: shown(at), message, blocking });
  };
  if (s['x-kubernetes-int-or-string'] === true) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)))) {
      fail(`Invalid value: ${quote(v)}: must be an integer or a string`, true);
    }
    return;
  }
  if (v === null) {
    if (s.nullable !== true) fail('Invalid value: null: must not be null', true);
    return;
  }
  if (s.type !== undefined && !typeMatches(s.type, v)) {
    fail(`Invalid value: ${quote(jsonType(v))}: must be of type ${s.type}`, true);
    return;
  }
  if (s.enum !== undefined && !s.enum.some((e) => canonical(e) === canonical(v))) {
    fail(`Unsupported value: ${quote(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`, true);
  }
  if (typeof v === 'string') checkString(v, s, fail);
  else if (typeof v === 'number') checkNumber(v, s, fail);
  else if (Array.isArray(v)) checkArray(v, s, path, errors, options, fail);
  else if (isObject(v)) checkObject(v, s, path, errors, options, fail, isRoot);
}

type Fail = (message: string, blocking?: boolean, at?: string) => void;

function checkString(v: string, s: JSONSchemaProps, fail: Fail): void {
  const length = [...v].length; // the API server counts characters (runes), not UTF-16 units
  if (s.maxLength !== undefined && length > s.maxLength) {
    fail(`Too long: may not be more than ${s.maxLength} characters (got ${length})`, true);
  }
  if (s.minLength !== undefined && length < s.minLength) {
    fail(`Invalid value: ${quote(v)}: must be at least ${s.minLength} characters long`);
  }
  if (s.pattern !== undefined && !compiled(s.pattern).test(v)) {
    fail(`Invalid value: ${quote(v)}: must match the pattern '${s.pattern}'`);
  }
  if (s.format === 'date-time' && !(DATE_TIME.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T'))))) {
    // The API server reports a bad format as a type error (and skips CEL rules).
    fail(`Invalid value: ${quote(v)}: must be of type date-time (RFC 3339, e.g. "2026-01-02T15:04:05Z")`, true);
  }
}

function checkNumber(v: number, s: JSONSchemaProps, fail: Fail): void {
  if (s.minimum !== undefined && (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum)) {
    fail(`Invalid value: ${v}: must be greater than ${s.exclusiveMinimum === true ? '' : 'or equal to '}${s.minimum}`);
  }
  if (s.maximum !== undefined && (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum)) {
    fail(`Invalid value: ${v}: must be less than ${s.exclusiveMaximum === true ? '' : 'or equal to '}${s.maximum}`);
  }
  if (s.format === 'int32' && (v < INT32[0] || v > INT32[1])) fail(`Invalid value: ${v}: must fit in 32 bits`);
  if (s.format === 'int64' && !Number.isSafeInteger(v)) fail(`Invalid value: ${v}: must be an integer of at most 2^53`);
  if (s.multipleOf !== undefined && v % s.multipleOf !== 0) fail(`Invalid value: ${v}: must be a multiple of ${s.multipleOf}`);
}

function checkArray(v: unknown[], s: JSONSchemaProps, path: string, errors: SchemaError[], options: SchemaValidateOptions, fail: Fail): void {
  if (s.maxItems !== undefined && v.length > s.maxItems) {
    fail(`Too many: ${v.length}: must have at most ${s.maxItems} items`, true);
  }
  if (s.minItems !== undefined && v.length < s.minItems) {
    fail(`Invalid value: ${v.length} items: must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
  }
  const items = s.items;
  if (items !== undefined) v.forEach((item, i) => walk(item, items, index(path, i), errors, options, false));
  const listType = s['x-kubernetes-list-type'];
  if (listType === 'set' || listType === 'map') {
    const keys = s['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    v.forEach((item, i) => {
      if (listType === 'map' && !isObject(item)) return; // already a type error
      const id = listType === 'set' ? canonical(item) : canonical(Object.fromEntries(keys.map((k) => [k, (item as Record<string, unknown>)[k]])));
      if (seen.has(id)) fail(`Duplicate value: ${id}`, false, index(path, i));
      seen.add(id);
    });
  }
}

function checkObject(
  v: Record<string, unknown>,
  s: JSONSchemaProps,
  path: string,
  errors: SchemaError[],
  options: SchemaValidateOptions,
  fail: Fail,
  isRoot: boolean,
): void {
  const count = Object.keys(v).length;
  if (s.maxProperties !== undefined && count > s.maxProperties) {
    fail(`Too many: ${count}: must have at most ${s.maxProperties} properties`, true);
  }
  if (s.minProperties !== undefined && count < s.minProperties) {
    fail(`Invalid value: ${count} properties: must have at least ${s.minProperties}`);
  }
  for (const req of s.required ?? []) {
    if (v[req] === undefined) fail('Required value', true, child(path, req));
  }
  const props = s.properties;
  const extra = s.additionalProperties;
  for (const [k, value] of Object.entries(v)) {
    if (value === undefined) continue;
    const prop = props?.[k];
    if (props !== undefined && Object.hasOwn(props, k) && prop !== undefined) {
      if (isRoot && k === 'metadata' && options.metadata !== undefined) options.metadata(value, prop, child(path, k), errors);
      else walk(value, prop, child(path, k), errors, options, false);
    } else if (typeof extra === 'object') {
      walk(value, extra, mapKey(path, k), errors, options, false);
    } else if (s['x-kubernetes-preserve-unknown-fields'] !== true) {
      fail('unknown field', false, child(path, k));
    }
  }
}
