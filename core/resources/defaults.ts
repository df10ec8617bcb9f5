// Schema defaulting as the API server does it on every request, before
// validation: non-nullable nulls are dropped (or replaced by the default),
// absent fields with a `default` get it, and defaulted objects are defaulted
// inside too. Pure: returns a new value, never mutates its input.
import { isObject } from './schema-validator.js';
import type { JSONSchemaProps } from './schema-types.js';

/** Returns a copy of value with the schema's defaults applied. */
export function applyDefaults(value: unknown, schema: JSONSchemaProps): unknown {
  if (Array.isArray(value)) {
    const items = schema.items;
    return items === undefined ? structuredClone(value) : value.map((item) => applyDefaults(item, items));
  }
  if (!isObject(value)) return value === undefined ? undefined : structuredClone(value);
  const out: Record<string, unknown> = {};
  const props = schema.properties;
  const extra = schema.additionalProperties;
  for (const [k, v] of Object.entries(value)) {
    const prop = props?.[k];
    const sub = props !== undefined && Object.hasOwn(props, k) ? prop : typeof extra === 'object' ? extra : undefined;
    if (v === null && sub !== undefined && sub.nullable !== true && props !== undefined && Object.hasOwn(props, k)) {
      // PruneNonNullableNullsWithoutDefaults, then Default: null is "absent".
      continue;
    }
    out[k] = sub === undefined ? structuredClone(v) : applyDefaults(v, sub);
  }
  if (props !== undefined) {
    for (const [k, prop] of Object.entries(props)) {
      if (out[k] === undefined && prop.default !== undefined) out[k] = applyDefaults(structuredClone(prop.default), prop);
    }
  }
  return out;
}
