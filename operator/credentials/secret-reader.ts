// Reads Secret values through the API server. Only the operator does this
// (invariant 1); values are returned to the caller and never logged or cached
// here. Errors name the Secret and key, never a value.
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import type { KubeObject } from '../kube/types.js';
import { isNotFound } from '../errors.js';
import { SecretMissingError } from './errors.js';

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export interface SecretReader {
  /** The keys' values (UTF-8); throws SecretMissingError naming what is missing. */
  read(namespace: string, name: string, keys: readonly string[]): Promise<Map<string, Buffer>>;
}

export class KubeSecretReader implements SecretReader {
  constructor(private readonly client: KubeClient) {}

  async read(namespace: string, name: string, keys: readonly string[]): Promise<Map<string, Buffer>> {
    let secret: SecretObject;
    try {
      secret = await this.client.get<SecretObject>(R.secrets, namespace, name);
    } catch (err) {
      if (isNotFound(err)) throw new SecretMissingError(`Secret ${namespace}/${name} does not exist`);
      throw err;
    }
    const out = new Map<string, Buffer>();
    const missing: string[] = [];
    for (const k of keys) {
      const v = secret.data?.[k];
      if (v === undefined) missing.push(k);
      else out.set(k, Buffer.from(v, 'base64'));
    }
    if (missing.length > 0) throw new SecretMissingError(`Secret ${namespace}/${name} has no key ${missing.map((k) => JSON.stringify(k)).join(', ')}`);
    return out;
  }
}

/** A Secret value as text, for keys that hold a user name, password, token or PEM. */
export function secretText(values: Map<string, Buffer>, key: string): string {
  const v = values.get(key);
  if (v === undefined) throw new SecretMissingError(`key ${JSON.stringify(key)} is missing`);
  return v.toString('utf8');
}
