// Canonical JSON for hashing (RFC 8785 style): object keys sorted by UTF-16
// code units, no whitespace, undefined properties omitted. Only JSON values are
// accepted, so an event hashes the same before writing and after re-parsing.

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, '$');
  return out.join('');
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
