// One walk over a statement's parse tree that gathers what does not depend on
// the statement's kind: every relation and function named, every
// data-modifying statement wherever it sits (CTE bodies, rule actions,
// subqueries the analyser would later reject), row locks and SELECT INTO.
// Names that refer to a CTE in scope are not relations.

import {
  MAX_TREE_DEPTH, SqlTreeTooDeepError, asArr, asObj, asStr, isRangeVar, nodeOf, rangeVarName, stringList, unwrap,
  type Obj,
} from './parse-tree.js';
import { isWriteFunction } from './write-functions.js';

export type DmlKind = 'INSERT' | 'UPDATE' | 'DELETE' | 'MERGE';

export interface DmlInfo {
  kind: DmlKind;
  /** UPDATE/DELETE: a WHERE that looks at a column (or CURRENT OF); MERGE: an ON that does. */
  hasWhere: boolean;
  body: Obj;
}

export interface Collected {
  tables: string[];
  functions: string[];
  dml: DmlInfo[];
  writeFunction: boolean;
  locking: boolean;
  selectInto: boolean;
}

const DML_TYPES: Record<string, DmlKind> = {
  InsertStmt: 'INSERT', UpdateStmt: 'UPDATE', DeleteStmt: 'DELETE', MergeStmt: 'MERGE',
};

/** CTE names visible at a point of the tree, innermost WITH last. Compared as parsed (case matters). */
type CteScope = readonly ReadonlySet<string>[];

function inScope(scope: CteScope, name: string): boolean {
  for (const s of scope) if (s.has(name)) return true;
  return false;
}

/** Whether an expression looks at any column (a WHERE of `true` or `1 = 1` filters nothing). */
export function referencesColumn(v: unknown, depth = 0): boolean {
  if (depth > MAX_TREE_DEPTH) throw new SqlTreeTooDeepError();
  if (Array.isArray(v)) return v.some((x) => referencesColumn(x, depth + 1));
  const o = asObj(v);
  if (!o) return false;
  const n = unwrap(o);
  if (n && (n.type === 'ColumnRef' || n.type === 'CurrentOfExpr')) return true;
  for (const val of Object.values(n ? n.body : o)) if (referencesColumn(val, depth + 1)) return true;
  return false;
}

export function dmlHasWhere(kind: DmlKind, body: Obj): boolean {
  if (kind === 'INSERT') return true;
  const cond = kind === 'MERGE' ? body.joinCondition : body.whereClause;
  return cond !== undefined && referencesColumn(cond);
}

/** SQL-syntax forms (EXTRACT, SUBSTRING ... FROM, TRIM) are written without the pg_catalog the parser adds. */
export function funcCallName(body: Obj): string {
  let parts = stringList(body.funcname).map((p) => p.toLowerCase());
  if (body.funcformat === 'COERCE_SQL_SYNTAX' && parts.length === 2 && parts[0] === 'pg_catalog') parts = parts.slice(1);
  return parts.join('.');
}

class Collector {
  readonly tables = new Set<string>();
  readonly functions = new Set<string>();
  readonly dml: DmlInfo[] = [];
  writeFunction = false;
  locking = false;
  selectInto = false;

  walk(v: unknown, scope: CteScope, depth: number): void {
    if (depth > MAX_TREE_DEPTH) throw new SqlTreeTooDeepError();
    if (Array.isArray(v)) {
      for (const x of v) this.walk(x, scope, depth + 1);
      return;
    }
    const o = asObj(v);
    if (!o) return;
    const n = unwrap(o);
    if (n) {
      this.node(n.type, n.body, scope, depth + 1);
      return;
    }
    // A bare RangeVar sits in a typed field (a statement's target, INTO, REFERENCES): never a CTE.
    if (isRangeVar(o)) this.tables.add(rangeVarName(o));
    // A bare FuncCall: CALL's funccall.
    if (Array.isArray(o.funcname) && typeof o.funcformat === 'string') this.funcCall(o);
    for (const val of Object.values(o)) this.walk(val, scope, depth + 1);
  }

  private node(type: string, body: Obj, scope: CteScope, depth: number): void {
    switch (type) {
      case 'RangeVar': {
        const qualified = asStr(body.schemaname) !== undefined || asStr(body.catalogname) !== undefined;
        const name = asStr(body.relname) ?? '';
        if (qualified || !inScope(scope, name)) this.tables.add(rangeVarName(body));
        return;
      }
      case 'FuncCall':
        this.funcCall(body);
        break;
      case 'SelectStmt':
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        this.query(type, body, scope, depth);
        return;
      case 'DropStmt':
        this.dropped(body);
        break;
      case 'CommentStmt':
        if (body.objtype === 'OBJECT_TABLE' || body.objtype === 'OBJECT_VIEW' || body.objtype === 'OBJECT_MATVIEW') {
          const names = stringList(nodeOf(body.object, 'List')?.items);
          if (names.length > 0) this.tables.add(names.join('.').toLowerCase());
        } else if (body.objtype === 'OBJECT_COLUMN') {
          const names = stringList(nodeOf(body.object, 'List')?.items);
          if (names.length > 1) this.tables.add(names.slice(0, -1).join('.').toLowerCase());
        }
        break;
      default:
        break;
    }
    for (const val of Object.values(body)) this.walk(val, scope, depth);
  }

  private funcCall(body: Obj): void {
    const name = funcCallName(body);
    this.functions.add(name);
    if (isWriteFunction(name)) this.writeFunction = true;
  }

  private dropped(body: Obj): void {
    const tableLike = ['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX'];
    if (!tableLike.includes(asStr(body.removeType) ?? '')) return;
    for (const obj of asArr(body.objects)) {
      const names = stringList(nodeOf(obj, 'List')?.items);
      if (names.length > 0) this.tables.add(names.join('.').toLowerCase());
    }
  }

  private query(type: string, body: Obj, scope: CteScope, depth: number): void {
    let inner = scope;
    const withClause = asObj(body.withClause);
    if (withClause) {
      const ctes = asArr(withClause.ctes).map((c) => nodeOf(c, 'CommonTableExpr')).filter((c): c is Obj => c !== undefined);
      const names = ctes.map((c) => asStr(c.ctename) ?? '');
      const recursive = withClause.recursive === true;
      ctes.forEach((cte, i) => {
        // A non-recursive WITH sees only the CTEs before it; a later name is a relation.
        const visible = new Set(recursive ? names : names.slice(0, i));
        this.walk(cte.ctequery, [...scope, visible], depth + 1);
      });
      inner = [...scope, new Set(names)];
    }
    const dmlKind = DML_TYPES[type];
    if (dmlKind) {
      const rel = asObj(body.relation);
      if (rel) this.tables.add(rangeVarName(rel));
      this.dml.push({ kind: dmlKind, hasWhere: dmlHasWhere(dmlKind, body), body });
    } else {
      if (body.intoClause !== undefined) this.selectInto = true;
      if (asArr(body.lockingClause).length > 0) this.locking = true;
      for (const side of ['larg', 'rarg']) {
        const arm = asObj(body[side]);
        if (arm) this.query('SelectStmt', arm, inner, depth + 1);
      }
    }
    for (const [key, val] of Object.entries(body)) {
      if (key === 'withClause' || key === 'larg' || key === 'rarg' || key === 'relation') continue;
      this.walk(val, inner, depth + 1);
    }
  }
}

/** Walk one statement (a wrapped node from RawStmt.stmt). */
export function collect(stmt: unknown): Collected {
  const c = new Collector();
  c.walk(stmt, [], 0);
  return {
    tables: [...c.tables],
    functions: [...c.functions],
    dml: c.dml,
    writeFunction: c.writeFunction,
    locking: c.locking,
    selectInto: c.selectInto,
  };
}
