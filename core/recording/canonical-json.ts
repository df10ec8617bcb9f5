// Canonical JSON for hashing (RFC 8785 style): object keys sorted by UTF-16
// code units, no whitespace, undefined properties omitted. Only JSON values are
// accepted, so an event hashes the same before writing and after re-parsing.

export function canonicalJson(value: unknown): string {
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
  const keys = Object.keys(obj).sort();
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
