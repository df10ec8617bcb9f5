// A backend credential held in memory only (invariant 1). Values live in
// private fields, and every way of printing the object (JSON, util.inspect,
// String) shows "[redacted]", so a log line or error can never carry it.

import { inspect } from 'node:util';

export interface BackendCredentialValues {
  username?: string | undefined;
  password?: string | undefined;
  privateKey?: string | undefined;
  token?: string | undefined;
}

export class BackendCredential {
  readonly #values: Readonly<BackendCredentialValues>;
  /** Where it came from, safe to log ("Secret team-a/orders-db-creds"). */
  readonly source: string;

  constructor(source: string, values: BackendCredentialValues) {
    this.source = source;
    this.#values = Object.freeze({ ...values });
  }

  get username(): string | undefined {
    return this.#values.username;
  }
  get password(): string | undefined {
    return this.#values.password;
  }
  get privateKey(): string | undefined {
    return this.#values.privateKey;
  }
  get token(): string | undefined {
    return this.#values.token;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}
