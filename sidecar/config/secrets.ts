// v1 Secret documents of the standalone config: `stringData` (text) and
// `data` (base64, checked strictly) merged as Kubernetes does (stringData
// wins). Values stay in memory; errors name keys, never values.

import type { ConfigProblem } from './errors.js';

export interface SecretDoc {
  namespace: string;
  name: string;
  values: Map<string, Buffer>;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const KEY = /^[-._a-zA-Z0-9]{1,253}$/;

export function parseSecret(doc: Record<string, unknown>, namespace: string, name: string, problems: ConfigProblem[]): SecretDoc {
  const values = new Map<string, Buffer>();
  const object = `Secret ${namespace}/${name}`;
  const type = doc['type'];
  if (type !== undefined && typeof type !== 'string') problems.push({ object, field: 'type', message: 'must be a string' });
  for (const field of ['data', 'stringData'] as const) {
    const v = doc[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) {
      problems.push({ object, field, message: 'must be a map of key to value' });
      continue;
    }
    for (const [key, raw] of Object.entries(v as Record<string, unknown>)) {
      if (!KEY.test(key)) {
        problems.push({ object, field: `${field}.${key}`, message: 'key must be alphanumerics, "-", "_" or "."' });
        continue;
      }
      if (typeof raw !== 'string') {
        problems.push({ object, field: `${field}.${key}`, message: 'value must be a string' });
        continue;
      }
      if (field === 'data') {
        const compact = raw.replace(/\s+/g, '');
        if (!BASE64.test(compact)) {
          problems.push({ object, field: `data.${key}`, message: 'is not valid base64 (use stringData for plain text)' });
          continue;
        }
        values.set(key, Buffer.from(compact, 'base64'));
      } else {
        values.set(key, Buffer.from(raw, 'utf8'));
      }
    }
  }
  return { namespace, name, values };
}
