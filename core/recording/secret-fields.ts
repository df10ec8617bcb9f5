// Defence in depth for invariant 1: a payload key that names a credential is
// refused, so a careless caller cannot put a password or token in a recording.

import { SecretFieldError } from './errors.js';

const SECRET_KEY = /(password|passwd|passphrase|secret|token|apikey|privatekey|credentials?|authorization|cookie)$/;

export function assertNoSecretFields(value: unknown, path = 'data', depth = 0): void {
  if (depth > 32 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertNoSecretFields(v, `${path}[${i}]`, depth + 1));
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const normalized = k.toLowerCase().replace(/[-_]/g, '');
    if (SECRET_KEY.test(normalized)) throw new SecretFieldError(`${path}.${k}`);
    assertNoSecretFields(v, `${path}.${k}`, depth + 1);
  }
}
