// Which statement's lineage masks a result, when the proxy cannot be sure
// which statement produced it. The backend, not the proxy, decides what a
// name (a prepared statement, the unnamed statement, a cursor) stands for:
// a duplicate PREPARE fails there, a Parse or Close behind an error is
// skipped, a DEALLOCATE in an aborted transaction is ignored. Masking must
// hold for every statement the name may stand for, so candidates are merged:
// every computed output position may come from any column any candidate
// reads (core/masking/lineage-rules.ts masks such positions with the
// strictest rule among them; plain columns keep their exact catalog lineage).
import type { ColumnRef, OutputColumn, SqlStatement, StatementKind } from '../../../core/sql/types.js';

/** A name whose statements are no longer known (too many candidates): every computed column may read every masked column. */
export const UNKNOWN_LINEAGE: SqlStatement = Object.freeze({
  kind: 'OTHER',
  text: '',
  tables: [],
  functions: [],
  hasWhere: true,
  writes: true,
  innerKinds: [],
  program: false,
  predicateColumns: [],
  locking: false,
  outputColumns: [{ name: '*', refs: [{ column: '*' }], direct: false, star: true }],
}) as SqlStatement;

function uniq<T>(xs: Iterable<T>, key: (x: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const x of xs) if (!seen.has(key(x))) seen.set(key(x), x);
  return [...seen.values()];
}

const refKey = (r: ColumnRef): string => `${r.table ?? ''}\u0000${r.column}`;

/** Distinct candidates (by text): the same statement prepared twice is one candidate. */
export function distinctStatements(statements: readonly SqlStatement[]): SqlStatement[] {
  return uniq(statements, (s) => (s === UNKNOWN_LINEAGE ? '\u0000unknown' : `${s.kind}\u0000${s.text}`));
}

function mergedOutputs(withRows: readonly SqlStatement[]): OutputColumn[] | undefined {
  const lists = withRows.map((s) => s.outputColumns ?? []);
  if (lists.length === 0) return undefined;
  const width = lists[0]?.length ?? 0;
  const aligned = lists.every((l) => l.length === width && !l.some((c) => c.star === true));
  if (aligned) {
    return Array.from({ length: width }, (_, i) => ({
      name: lists[0]?.[i]?.name ?? '?column?',
      refs: uniq(lists.flatMap((l) => l[i]?.refs ?? []), refKey),
      direct: lists.every((l) => l[i]?.direct === true),
    }));
  }
  return [{ name: '*', refs: uniq(lists.flatMap((l) => l.flatMap((c) => c.refs)), refKey), direct: false, star: true }];
}

/**
 * One statement standing for all `candidates`: outputs merged position by
 * position when every candidate has the same width (else one star covering
 * every reference), tables and predicates united, COPY if any candidate is a
 * COPY (with their options when they agree, else format 'ambiguous', which
 * cannot be masked). Undefined for no candidates; the candidate itself for
 * one.
 */
export function mergeForMasking(candidates: readonly SqlStatement[]): SqlStatement | undefined {
  const all = distinctStatements(candidates);
  if (all.length <= 1) return all[0];
  const withRows = all.filter((s) => s.outputColumns !== undefined);
  const kind: StatementKind = all.some((s) => s.kind === 'COPY') ? 'COPY' : (withRows[0] ?? (all[0] as SqlStatement)).kind;
  const merged: SqlStatement = {
    kind,
    text: all.map((s) => s.text).join(' ; '),
    tables: uniq(all.flatMap((s) => s.tables), (t) => t),
    functions: uniq(all.flatMap((s) => s.functions), (f) => f),
    hasWhere: all.every((s) => s.hasWhere),
    writes: all.some((s) => s.writes),
    innerKinds: uniq(all.flatMap((s) => [s.kind, ...s.innerKinds]), (k) => k),
    program: all.some((s) => s.program),
    predicateColumns: uniq(all.flatMap((s) => s.predicateColumns), refKey),
    locking: all.some((s) => s.locking),
  };
  const outputs = mergedOutputs(withRows);
  if (outputs !== undefined) merged.outputColumns = outputs;
  const copies = all.filter((s) => s.kind === 'COPY').map((s) => JSON.stringify(s.copyOptions ?? {}));
  // COPYs in different formats: which one runs decides how its data splits, so it cannot be masked.
  if (copies.length > 0) merged.copyOptions = new Set(copies).size === 1 ? (JSON.parse(copies[0] ?? '{}') as Record<string, string>) : { format: 'ambiguous' };
  return merged;
}

/** Whether a statement sends a RowDescription: 'maybe' when that depends on what the classifier cannot see. */
export function returnsRows(s: SqlStatement): 'yes' | 'no' | 'maybe' {
  switch (s.kind) {
    case 'SELECT':
    case 'INSERT':
    case 'UPDATE':
    case 'DELETE':
    case 'MERGE':
      return s.outputColumns !== undefined ? 'yes' : 'no';
    case 'PREPARE':
    case 'DEALLOCATE':
    case 'DECLARE':
    case 'CLOSE':
    case 'SET':
    case 'RESET':
    case 'TRANSACTION':
    case 'LISTEN':
    case 'UNLISTEN':
    case 'NOTIFY':
    case 'DISCARD':
    case 'COPY':
    case 'LOCK':
    case 'VACUUM':
    case 'ANALYZE':
    case 'TRUNCATE':
    case 'DROP':
    case 'ALTER':
    case 'CREATE':
    case 'GRANT':
    case 'REVOKE':
    case 'COMMENT':
    case 'REFRESH':
    case 'CREATE_RULE':
    case 'DO':
      return 'no';
    default:
      // EXPLAIN, SHOW, FETCH (MOVE does not), EXECUTE, CALL (OUT parameters), anything unknown.
      return 'maybe';
  }
}

/**
 * The lineage for each RowDescription of a simple Query, in order. `original`
 * are the Query's statements as classified, `masking` the statement each one
 * is masked by (a FETCH's cursor query, an EXECUTE's prepared body). When it
 * cannot be told which statements send rows (a SHOW, EXPLAIN, FETCH or
 * EXECUTE beside another row source), every result set gets the merge of all.
 */
export function resultLineage(original: readonly SqlStatement[], masking: readonly SqlStatement[]): (index: number) => SqlStatement | undefined {
  if (original.length === 1 && masking.length === 1) {
    // The common case, without the arrays below: one statement, its own result set (if it sends one) and no other.
    const only = returnsRows(original[0] as SqlStatement) === 'no' ? UNKNOWN_LINEAGE : (masking[0] as SqlStatement);
    return (i) => (i === 0 ? only : UNKNOWN_LINEAGE);
  }
  const rows = original.map(returnsRows);
  const sources = masking.filter((_, i) => rows[i] !== 'no');
  // A result set beyond those expected is not one the classifier foresaw: the strictest lineage.
  if (sources.length <= 1 || rows.every((r) => r !== 'maybe')) return (i) => sources[i] ?? UNKNOWN_LINEAGE;
  const merged = mergeForMasking(masking) ?? UNKNOWN_LINEAGE;
  return () => merged;
}
