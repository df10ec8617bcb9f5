// Canonical JSON for hashing (RFC 8785 style): object keys sorted by UTF-16
// code units, no whitespace, undefined properties omitted. Only JSON values are
// accepted, so an event hashes the same before writing and after re-parsing.

export function canonicalJson(value: unknown): string {
  // Most payloads are built with their keys in order already: then the
  // engine's JSON.stringify writes exactly the canonical form.
  if (inCanonicalOrder(value, 0)) return JSON.stringify(value);
  try {
    return fast(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    // Only to name where the value is not JSON: the slow walk tracks paths.
    const out: string[] = [];
    write(value, out, '$');
    return out.join('');
  }
}

/**
 * True when JSON.stringify(value) is already canonical: only JSON values
 * (plain objects, arrays, strings, finite numbers, booleans, null; undefined
 * only as an object property, which both leave out), every object's keys in
 * sorted order. Anything else takes the walk below.
 */
function inCanonicalOrder(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (depth > 64) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined || !inCanonicalOrder(item, depth + 1)) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  let prev: string | undefined;
  const obj = value as Record<string, unknown>;
  for (const k in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) return false;
    if (prev !== undefined && prev >= k) return false;
    prev = k;
    const v = obj[k];
    if (v !== undefined && !inCanonicalOrder(v, depth + 1)) return false;
  }
  return true;
}

// The same rules as write(), without building a path string per value.
function fast(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: unsupported ${typeof value}`);
  }
  if (Array.isArray(value)) {
    // A list of strings (tables, kinds, masked columns) is what JSON.stringify writes.
    let strings = true;
    for (let i = 0; i < value.length && strings; i++) strings = typeof value[i] === 'string';
    if (strings) return JSON.stringify(value);
    let s = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) throw new TypeError('canonicalJson: undefined in an array');
      s += (i > 0 ? ',' : '') + fast(item);
    }
    return s + ']';
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    throw new TypeError('canonicalJson: only plain objects are allowed');
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // Payloads are usually built with their keys in order already; sort only when not.
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) {
      keys.sort();
      break;
    }
  }
  let s = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    s += (first ? '' : ',') + JSON.stringify(k) + ':' + fast(v);
    first = false;
  }
  return s + '}';
}

function write(value: unknown, out: string[], path: string): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number at ${path}`);
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: unsupported ${typeof value} at ${path}`);
  }
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((item, i) => {
      if (i > 0) out.push(',');
      if (item === undefined) throw new TypeError(`canonicalJson: undefined at ${path}[${i}]`);
      write(item, out, `${path}[${i}]`);
    });
    out.push(']');
    return;
  }
  // A plain object's prototype is null or an Object.prototype (of any realm).
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    throw new TypeError(`canonicalJson: only plain objects are allowed at ${path}`);
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  out.push('{');
  keys.forEach((k, i) => {
    if (i > 0) out.push(',');
    out.push(JSON.stringify(k), ':');
    write(obj[k], out, `${path}.${k}`);
  });
  out.push('}');
}
