// Where a document meets its CRD's CEL rules: every value (and its old value,
// on updates) that sits at a schema node carrying x-kubernetes-validations.
import { child, index, mapKey } from './field-path.js';
import { isObject } from './schema-validator.js';
import type { JSONSchemaProps, ValidationRule } from './schema-types.js';

export interface RuleSite {
  /** Schema location: "spec.credentials", "spec.rules[]", "spec.rules[].when". */
  at: string;
  /** Field path of the value: "spec.rules[2].when". */
  path: string;
  rule: ValidationRule;
  self: unknown;
  /** The old value at the same place (updates only; correlated through object properties). */
  oldSelf: unknown;
}

/** Every rule site of a (defaulted) document, parents before children. */
export function* ruleSites(value: unknown, old: unknown, schema: JSONSchemaProps, at = '', path = ''): Generator<RuleSite> {
  if (value === undefined || value === null) return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) yield { at, path, rule, self: value, oldSelf: old };
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items === undefined) return;
    for (let i = 0; i < value.length; i++) yield* ruleSites(value[i], undefined, items, `${at}[]`, index(path, i));
  } else if (isObject(value)) {
    const oldObj = isObject(old) ? old : undefined;
    for (const [k, prop] of Object.entries(schema.properties ?? {})) {
      yield* ruleSites(value[k], oldObj?.[k], prop, at === '' ? k : `${at}.${k}`, child(path, k));
    }
    const extra = schema.additionalProperties;
    if (typeof extra === 'object') {
      for (const [k, v] of Object.entries(value)) yield* ruleSites(v, oldObj?.[k], extra, `${at}{}`, mapKey(path, k));
    }
  }
}

/** True for rules that compare with the old value (evaluated on updates only). */
export const isTransitionRule = (rule: ValidationRule): boolean => /\boldSelf\b/.test(rule.rule);
