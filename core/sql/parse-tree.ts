// Narrowing helpers over libpg-query's JSON parse tree. A node in a list or a
// polymorphic field is wrapped ({ "SelectStmt": {...} }); typed fields hold the
// bare struct (SelectStmt.larg, *.relation, withClause). False booleans and
// zero numbers are omitted by the serializer.

export type Obj = Record<string, unknown>;

export function asObj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

export function asArr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asStr(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A wrapped node: exactly one key, naming a node type (upper-case first letter). */
export function unwrap(v: unknown): { type: string; body: Obj } | undefined {
  const o = asObj(v);
  if (!o) return undefined;
  const keys = Object.keys(o);
  if (keys.length !== 1) return undefined;
  const type = keys[0] as string;
  const c = type.charCodeAt(0);
  if (c < 65 || c > 90) return undefined;
  const body = asObj(o[type]);
  return body ? { type, body } : undefined;
}

/** The body of a wrapped node of the given type. */
export function nodeOf(v: unknown, type: string): Obj | undefined {
  const n = unwrap(v);
  return n && n.type === type ? n.body : undefined;
}

/** The string values of a list of String nodes (qualified names, USING lists). */
export function stringList(v: unknown): string[] {
  const out: string[] = [];
  for (const item of asArr(v)) {
    const s = nodeOf(item, 'String');
    if (s) out.push(asStr(s.sval) ?? '');
  }
  return out;
}

/** A bare RangeVar ("relname" plus "relpersistence" is unique to it in raw parse trees). */
export function isRangeVar(o: Obj): boolean {
  return typeof o.relname === 'string' && 'relpersistence' in o;
}

/** 'catalog.schema.rel' as written, lowercase. */
export function rangeVarName(rv: Obj): string {
  const parts = [asStr(rv.catalogname), asStr(rv.schemaname), asStr(rv.relname)].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  return parts.join('.').toLowerCase();
}

/** Thrown by the walkers when a tree is deeper than they will follow (fail closed). */
export class SqlTreeTooDeepError extends Error {
  readonly code = 'SQL_TREE_TOO_DEEP';
  constructor() {
    super('statement is nested too deeply to classify');
    this.name = 'SqlTreeTooDeepError';
  }
}

export const MAX_TREE_DEPTH = 1500;
