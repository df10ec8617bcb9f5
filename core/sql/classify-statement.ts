// What one parsed statement does. The kind is decided from the parse tree, not
// the first word, so that a policy like `s.kind == 'SELECT'` can only match
// statements that really only read:
// - a statement that runs a data-modifying statement (in a WITH, in
//   `COPY (DELETE ... RETURNING ...) TO`, under EXPLAIN ANALYZE) takes that
//   statement's kind; with several, the most destructive
//   (DELETE > MERGE > UPDATE > INSERT). innerKinds lists them all.
// - `SELECT ... INTO t` is CREATE TABLE AS: kind CREATE.
// - a statement that only stores another one (PREPARE, CREATE RULE, plain
//   EXPLAIN, DECLARE) keeps its own kind and lists the other in innerKinds.
// - `hasWhere` is false as soon as any UPDATE/DELETE/MERGE in the tree lacks
//   a condition that looks at a column (`WHERE true` filters nothing).

import { collect, type Collected, type DmlInfo, type DmlKind } from './collect.js';
import { copyTableLineage, queryLineage, type LineageResult } from './lineage.js';
import { MAX_TREE_DEPTH, SqlTreeTooDeepError, asArr, asObj, asStr, nodeOf, stringList, unwrap, type Obj } from './parse-tree.js';
import type { SqlStatement, StatementKind } from './types.js';

export type StatementFacts = Omit<SqlStatement, 'text'>;

export interface ClassifiedStatement {
  facts: StatementFacts;
  /** The result read a literal's value: it must not be reused for a statement differing only in literals. */
  literalSensitive: boolean;
}

/** Parameters whose change alters privileges or how later statements are read or resolved. */
const PRIVILEGED_SETTINGS = new Set([
  'role', 'session_authorization', 'standard_conforming_strings', 'backslash_quote',
  'session_replication_role', 'search_path', 'all',
]);

const SEVERITY: readonly DmlKind[] = ['DELETE', 'MERGE', 'UPDATE', 'INSERT'];

const DML_KIND: Record<string, DmlKind> = {
  InsertStmt: 'INSERT', UpdateStmt: 'UPDATE', DeleteStmt: 'DELETE', MergeStmt: 'MERGE',
};

const FIXED_KIND: Record<string, { kind: StatementKind; writes: boolean }> = {
  DoStmt: { kind: 'DO', writes: true },
  CallStmt: { kind: 'CALL', writes: true },
  TruncateStmt: { kind: 'TRUNCATE', writes: true },
  VariableShowStmt: { kind: 'SHOW', writes: false },
  TransactionStmt: { kind: 'TRANSACTION', writes: false },
  ListenStmt: { kind: 'LISTEN', writes: false },
  UnlistenStmt: { kind: 'UNLISTEN', writes: false },
  NotifyStmt: { kind: 'NOTIFY', writes: true },
  LockStmt: { kind: 'LOCK', writes: true }, // an exclusive lock stops every other session
  FetchStmt: { kind: 'FETCH', writes: false },
  ClosePortalStmt: { kind: 'CLOSE', writes: false },
  CommentStmt: { kind: 'COMMENT', writes: true },
  RefreshMatViewStmt: { kind: 'REFRESH', writes: true },
  ConstraintsSetStmt: { kind: 'SET', writes: false },
  ViewStmt: { kind: 'CREATE', writes: true },
  IndexStmt: { kind: 'CREATE', writes: true },
  DefineStmt: { kind: 'CREATE', writes: true },
  CompositeTypeStmt: { kind: 'CREATE', writes: true },
  ImportForeignSchemaStmt: { kind: 'CREATE', writes: true },
  RenameStmt: { kind: 'ALTER', writes: true },
  ReassignOwnedStmt: { kind: 'ALTER', writes: true },
};

interface Decision {
  kind: StatementKind;
  writes: boolean;
  innerKinds: StatementKind[];
  program?: boolean;
  copyDirection?: 'from' | 'to';
  preparedName?: string;
  setting?: string;
  cursorName?: string;
  copyOptions?: Record<string, string>;
}

function unique<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

function severest(kinds: DmlKind[]): DmlKind | undefined {
  return SEVERITY.find((k) => kinds.includes(k));
}

/** The data-modifying statements inside a subtree (identity of their bodies). */
function dmlWithin(node: unknown, all: readonly DmlInfo[]): DmlInfo[] {
  if (all.length === 0) return [];
  const bodies = new Set<unknown>();
  const visit = (v: unknown, depth: number): void => {
    if (depth > MAX_TREE_DEPTH) throw new SqlTreeTooDeepError();
    if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
      return;
    }
    const o = asObj(v);
    if (!o) return;
    bodies.add(o);
    for (const x of Object.values(o)) visit(x, depth + 1);
  };
  visit(node, 0);
  return all.filter((d) => bodies.has(d.body));
}

/** Kinds of the statements in a WITH clause, each judged on its own subtree. */
function cteKinds(body: Obj, c: Collected, sensitive: { value: boolean }): StatementKind[] {
  const out: StatementKind[] = [];
  for (const item of asArr(asObj(body.withClause)?.ctes)) {
    const cte = nodeOf(item, 'CommonTableExpr');
    if (cte) out.push(decide(cte.ctequery, c, sensitive, dmlWithin(cte.ctequery, c.dml)).kind);
  }
  return out;
}

/** EXPLAIN's ANALYZE option: on unless its argument says false/off/0 (as defGetBoolean reads it). */
function explainAnalyzes(options: unknown, sensitive: { value: boolean }): boolean {
  let analyze = false;
  for (const o of asArr(options)) {
    const d = nodeOf(o, 'DefElem');
    if (!d || asStr(d.defname) !== 'analyze') continue;
    if (d.arg === undefined) {
      analyze = true;
      continue;
    }
    sensitive.value = true;
    const s = asStr(nodeOf(d.arg, 'String')?.sval)?.toLowerCase();
    const i = nodeOf(d.arg, 'Integer');
    const off = s === 'false' || s === 'off' || s === '0' || s === 'no' || (i !== undefined && (i.ival ?? 0) === 0);
    analyze = !off;
  }
  return analyze;
}

/** A DefElem argument as text (see SqlStatement.copyOptions). */
function optionValue(arg: unknown): string {
  if (arg === undefined) return '';
  const str = nodeOf(arg, 'String');
  if (str) return asStr(str.sval) ?? '';
  const bool = nodeOf(arg, 'Boolean');
  if (bool) return bool.boolval === true ? 'true' : 'false';
  const int = nodeOf(arg, 'Integer');
  if (int) return String(int.ival ?? 0);
  if (nodeOf(arg, 'A_Star')) return '*';
  const list = nodeOf(arg, 'List');
  if (list) return asArr(list.items).map(optionValue).join(',');
  return '?';
}

function copyOptions(options: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of asArr(options)) {
    const d = nodeOf(o, 'DefElem');
    const name = asStr(d?.defname);
    if (d && name !== undefined) out[name.toLowerCase()] = optionValue(d.arg);
  }
  return out;
}

function inner(kind: StatementKind, innerKinds: StatementKind[]): StatementKind[] {
  return unique([kind, ...innerKinds]);
}

/**
 * `dml`: the data-modifying statements inside `node` (itself included). For
 * the statement as a whole and for what EXPLAIN, PREPARE, DECLARE and COPY
 * wrap, that is all of them; a CTE body or rule action has its own.
 */
function decide(node: unknown, c: Collected, sensitive: { value: boolean }, dml: readonly DmlInfo[] = c.dml): Decision {
  const n = unwrap(node);
  if (!n) return { kind: 'OTHER', writes: true, innerKinds: [] };
  const b = n.body;
  const type = n.type;
  const nestedDml = dml.filter((d) => d.body !== b).map((d) => d.kind);

  if (type === 'SelectStmt') {
    const ctes = cteKinds(b, c, sensitive);
    if (b.intoClause !== undefined) {
      return { kind: 'CREATE', writes: true, innerKinds: unique(['SELECT', ...ctes, ...nestedDml]) };
    }
    const modifying = severest(nestedDml);
    if (modifying) return { kind: modifying, writes: true, innerKinds: unique([...ctes, ...nestedDml]) };
    return { kind: 'SELECT', writes: c.writeFunction, innerKinds: unique(ctes) };
  }
  const own = DML_KIND[type];
  if (own) {
    const ctes = cteKinds(b, c, sensitive);
    const kind = severest([own, ...nestedDml]) ?? own;
    // When a CTE's DELETE outranks this INSERT, the INSERT is still listed.
    return { kind, writes: true, innerKinds: unique([...ctes, ...nestedDml, ...(kind === own ? [] : [own])]) };
  }

  switch (type) {
    case 'ExplainStmt': {
      const target = decide(b.query, c, sensitive);
      if (explainAnalyzes(b.options, sensitive)) {
        // It runs the statement.
        return { ...target, innerKinds: inner(target.kind, target.innerKinds) };
      }
      return { kind: 'EXPLAIN', writes: false, innerKinds: inner(target.kind, target.innerKinds) };
    }
    case 'PrepareStmt': {
      const target = decide(b.query, c, sensitive);
      const d: Decision = { kind: 'PREPARE', writes: target.writes, innerKinds: inner(target.kind, target.innerKinds) };
      const name = asStr(b.name);
      if (name !== undefined) d.preparedName = name;
      return d;
    }
    case 'ExecuteStmt': {
      // What runs is the prepared statement: the caller resolves the name; until then assume it writes.
      const d: Decision = { kind: 'EXECUTE', writes: true, innerKinds: [] };
      const name = asStr(b.name);
      if (name !== undefined) d.preparedName = name;
      return d;
    }
    case 'DeallocateStmt': {
      const d: Decision = { kind: 'DEALLOCATE', writes: false, innerKinds: [] };
      const name = asStr(b.name);
      if (name !== undefined) d.preparedName = name;
      return d;
    }
    case 'DeclareCursorStmt': {
      const target = decide(b.query, c, sensitive);
      const d: Decision = { kind: 'DECLARE', writes: target.writes, innerKinds: inner(target.kind, target.innerKinds) };
      const name = asStr(b.portalname);
      if (name !== undefined) d.cursorName = name;
      return d;
    }
    case 'FetchStmt':
    case 'ClosePortalStmt': {
      const d: Decision = { ...(FIXED_KIND[type] ?? { kind: 'OTHER', writes: true }), innerKinds: [] };
      d.cursorName = asStr(b.portalname) ?? 'all';
      return d;
    }
    case 'CopyStmt': {
      const from = b.is_from === true;
      const program = b.is_program === true;
      const target = b.query !== undefined ? decide(b.query, c, sensitive) : undefined;
      // The options' values are read (masking parses the data by them): never shared by shape.
      if (asArr(b.options).length > 0) sensitive.value = true;
      const base = { program, copyDirection: from ? ('from' as const) : ('to' as const), copyOptions: copyOptions(b.options) };
      const modifying = severest(dml.map((d) => d.kind));
      if (target && modifying) return { ...base, kind: modifying, writes: true, innerKinds: inner(target.kind, target.innerKinds) };
      // COPY TO a server file or program, and every COPY FROM, change something outside the result.
      const writes = from || program || b.filename !== undefined || (target?.writes ?? false) || c.writeFunction;
      return { ...base, kind: 'COPY', writes, innerKinds: target ? inner(target.kind, target.innerKinds) : [] };
    }
    case 'CreateTableAsStmt': {
      const target = decide(b.query, c, sensitive);
      return { kind: 'CREATE', writes: true, innerKinds: inner(target.kind, target.innerKinds) };
    }
    case 'ViewStmt':
      return { kind: 'CREATE', writes: true, innerKinds: ['SELECT'] };
    case 'RuleStmt': {
      const kinds: StatementKind[] = [];
      for (const a of asArr(b.actions)) {
        const d = decide(a, c, sensitive, dmlWithin(a, c.dml));
        kinds.push(d.kind, ...d.innerKinds);
      }
      return { kind: 'CREATE_RULE', writes: true, innerKinds: unique(kinds) };
    }
    case 'VariableSetStmt': {
      const reset = b.kind === 'VAR_RESET' || b.kind === 'VAR_RESET_ALL';
      const setting = (asStr(b.name) ?? 'all').toLowerCase();
      return { kind: reset ? 'RESET' : 'SET', writes: PRIVILEGED_SETTINGS.has(setting), innerKinds: [], setting };
    }
    case 'VariableShowStmt':
      return { kind: 'SHOW', writes: false, innerKinds: [], setting: (asStr(b.name) ?? '').toLowerCase() };
    case 'ConstraintsSetStmt':
      return { kind: 'SET', writes: false, innerKinds: [], setting: 'constraints' };
    case 'DiscardStmt':
      // DISCARD ALL includes RESET ALL and SET SESSION AUTHORIZATION DEFAULT.
      return { kind: 'DISCARD', writes: b.target === 'DISCARD_ALL', innerKinds: [] };
    case 'VacuumStmt':
      return { kind: b.is_vacuumcmd === true ? 'VACUUM' : 'ANALYZE', writes: true, innerKinds: [] };
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return { kind: b.is_grant === true ? 'GRANT' : 'REVOKE', writes: true, innerKinds: [] };
    case 'RuleActionNothing':
      return { kind: 'OTHER', writes: false, innerKinds: [] };
    default:
      break;
  }
  const fixed = FIXED_KIND[type];
  if (fixed) return { ...fixed, innerKinds: [] };
  if (type.startsWith('Drop')) return { kind: 'DROP', writes: true, innerKinds: [] };
  if (type.startsWith('Alter')) return { kind: 'ALTER', writes: true, innerKinds: [] };
  if (type.startsWith('Create')) return { kind: 'CREATE', writes: true, innerKinds: [] };
  // CHECKPOINT, CLUSTER, REINDEX, LOAD, SECURITY LABEL, and anything newer: unknown means it may write.
  return { kind: 'OTHER', writes: true, innerKinds: [] };
}

/** Lineage for the statement as a whole: which node returns rows, which only filters. */
function lineageOf(node: unknown): LineageResult {
  const n = unwrap(node);
  const none: LineageResult = { predicateColumns: [], literalSensitive: false };
  if (!n) return none;
  const b = n.body;
  switch (n.type) {
    case 'SelectStmt':
      return queryLineage(node, b.intoClause === undefined);
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return queryLineage(node);
    case 'ExplainStmt': {
      const inner = lineageOf(b.query);
      return { predicateColumns: inner.predicateColumns, literalSensitive: inner.literalSensitive };
    }
    case 'PrepareStmt':
    case 'DeclareCursorStmt':
      return lineageOf(b.query);
    case 'CreateTableAsStmt': {
      const inner = lineageOf(b.query);
      return { predicateColumns: inner.predicateColumns, literalSensitive: inner.literalSensitive };
    }
    case 'CopyStmt': {
      const to = b.is_from !== true;
      if (b.query !== undefined) {
        const inner = lineageOf(b.query);
        if (!to) delete inner.outputColumns;
        return inner;
      }
      const rel = asObj(b.relation);
      if (to && rel) return { outputColumns: copyTableLineage(rel, stringList(b.attlist)), predicateColumns: [], literalSensitive: false };
      return none;
    }
    default:
      return none;
  }
}

/** Classify one statement (RawStmt.stmt). Throws only on trees too deep to walk. */
export function classifyStatement(stmt: unknown): ClassifiedStatement {
  const c = collect(stmt);
  const sensitive = { value: false };
  const d = decide(stmt, c, sensitive);
  const lineage = lineageOf(stmt);
  const facts: StatementFacts = {
    kind: d.kind,
    tables: c.tables,
    functions: c.functions,
    hasWhere: c.dml.every((x) => x.hasWhere),
    writes: d.writes,
    innerKinds: d.innerKinds,
    program: d.program ?? false,
    predicateColumns: lineage.predicateColumns,
    locking: c.locking,
  };
  if (d.copyDirection) facts.copyDirection = d.copyDirection;
  if (d.preparedName !== undefined) facts.preparedName = d.preparedName;
  if (d.setting !== undefined) facts.setting = d.setting;
  if (d.cursorName !== undefined) facts.cursorName = d.cursorName;
  if (d.copyOptions !== undefined) facts.copyOptions = d.copyOptions;
  if (lineage.outputColumns) facts.outputColumns = lineage.outputColumns;
  return { facts, literalSensitive: sensitive.value || lineage.literalSensitive };
}
