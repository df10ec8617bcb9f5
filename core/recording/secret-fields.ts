// Defence in depth for invariant 1: a payload key that names a credential is
// refused, so a careless caller cannot put a password or token in a recording.

import { SecretFieldError } from './errors.js';

const SECRET_KEY = /(password|passwd|passphrase|secret|token|apikey|privatekey|credentials?|authorization|cookie)$/;

// Keys seen before and found harmless (event payloads reuse a few dozen keys).
const harmlessKeys = new Set<string>();
const MAX_REMEMBERED_KEYS = 4096;

function isSecretKey(k: string): boolean {
  if (harmlessKeys.has(k)) return false;
  if (SECRET_KEY.test(k.toLowerCase().replace(/[-_]/g, ''))) return true;
  if (harmlessKeys.size < MAX_REMEMBERED_KEYS) harmlessKeys.add(k);
  return false;
}

export function assertNoSecretFields(value: unknown, path = 'data', depth = 0): void {
  if (depth > 32 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v !== null && typeof v === 'object') assertNoSecretFields(v, `${path}[${i}]`, depth + 1);
    }
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const k in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
    if (isSecretKey(k)) throw new SecretFieldError(`${path}.${k}`);
    const v = obj[k];
    if (v !== null && typeof v === 'object') assertNoSecretFields(v, `${path}.${k}`, depth + 1);
  }
}
