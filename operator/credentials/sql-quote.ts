// Quoting for the few statements the operator builds itself (role names,
// granted roles, comments). Every value that is not a keyword goes through
// these; nothing is interpolated raw.

/** A double-quoted identifier ("a""b"); refuses empty names, NUL bytes and names PostgreSQL would truncate. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new RangeError('an SQL identifier cannot be empty');
  if (name.includes('\0')) throw new RangeError('an SQL identifier cannot contain a NUL byte');
  if (Buffer.byteLength(name, 'utf8') > 63) throw new RangeError(`SQL identifier ${JSON.stringify(name.slice(0, 80))} is longer than 63 bytes`);
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string literal. With a backslash inside, the E'' form with doubled
 * backslashes, so the result means the same whatever standard_conforming_strings says.
 */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new RangeError('an SQL literal cannot contain a NUL byte');
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}
