// Column lineage from the parse tree alone (no catalog): for each output
// column, the source columns its value is computed from, and the columns that
// decide which rows come back (predicates). It is the second line of defence
// for masking: RowDescription's table OID and attribute number are exact for
// direct columns, this covers computed ones (`upper(ssn)`, `row_to_json(c)`).
//
// Without a catalog some answers are unknowable; every such case errs towards
// more references, never fewer:
// - an unqualified column with more than one candidate FROM item gets a ref
//   without a table (match it against masked columns of any table);
// - a column renamed by a table alias list (`FROM t AS x(a, b)`) is a
//   whole-row ref of t: which column `a` is needs the catalog;
// - a name that is both a FROM item and maybe a column is taken as the
//   whole-row reference;
// - a function in FROM passes on every column its arguments reference.

import {
  MAX_TREE_DEPTH, SqlTreeTooDeepError, asArr, asObj, asStr, nodeOf, rangeVarName, stringList, unwrap, type Obj,
} from './parse-tree.js';
import { funcCallName } from './collect.js';
import type { ColumnRef, OutputColumn } from './types.js';

interface Resolved {
  refs: ColumnRef[];
  direct: boolean;
}

/** What a FROM item says about an unqualified column name. */
type Lookup =
  | { certain: true; refs: ColumnRef[]; direct: boolean } // the item has this column
  | { certain: false; refs: ColumnRef[]; direct: boolean; tableBacked: boolean } // it may have it
  | undefined; // it does not

interface Source {
  /** The name it is referenced by (alias or relation name, as parsed); undefined for an unaliased subquery. */
  name?: string;
  /** Lowercase qualified name of an unaliased base table (for `schema.table.column`). */
  qualifiedName?: string;
  /** Reachable only as `name.column` (EXCLUDED, RETURNING's OLD/NEW): not in `*` or unqualified lookups. */
  qualifiedOnly?: boolean;
  lookup(column: string): Lookup;
  /** `name.column`. */
  qualified(column: string): Resolved;
  star(): OutputColumn[];
  wholeRow(): ColumnRef[];
}

interface Level {
  sources: Source[];
  /** Columns merged by JOIN ... USING, referenced unqualified. */
  using: Map<string, Resolved>;
}

interface Scope {
  levels: readonly Level[]; // innermost first
  ctes: ReadonlyMap<string, OutputColumn[]>;
}

const EMPTY_SCOPE: Scope = { levels: [], ctes: new Map() };

function refKey(r: ColumnRef): string {
  return `${r.table ?? ''}\u0000${r.column}`;
}

export function uniqueRefs(refs: Iterable<ColumnRef>): ColumnRef[] {
  if (Array.isArray(refs) && refs.length < 2) return refs.slice() as ColumnRef[];
  const seen = new Map<string, ColumnRef>();
  for (const r of refs) if (!seen.has(refKey(r))) seen.set(refKey(r), r);
  return [...seen.values()];
}

function allRefs(cols: readonly OutputColumn[]): ColumnRef[] {
  return uniqueRefs(cols.flatMap((c) => c.refs));
}

function lower(s: string): string {
  return s.toLowerCase();
}

function baseTable(rv: Obj): Source {
  const table = rangeVarName(rv);
  const alias = asObj(rv.alias);
  const renamed = new Set(stringList(alias?.colnames));
  const whole: ColumnRef[] = [{ table, column: '*' }];
  const refsFor = (column: string): ColumnRef[] => (renamed.has(column) ? whole : [{ table, column: lower(column) }]);
  const aliasName = asStr(alias?.aliasname);
  return {
    name: aliasName ?? asStr(rv.relname) ?? '',
    ...(aliasName === undefined ? { qualifiedName: table } : {}),
    lookup: (column) => ({ certain: false, refs: refsFor(column), direct: !renamed.has(column), tableBacked: true }),
    qualified: (column) => ({ refs: refsFor(column), direct: !renamed.has(column) }),
    star: () => [{ name: '*', refs: whole, direct: true, star: true }],
    wholeRow: () => whole,
  };
}

/** A row of the target table under another name (EXCLUDED, OLD, NEW). */
function pseudoRow(rv: Obj, name: string): Source {
  const { qualifiedName: _q, ...src } = baseTable({ ...rv, alias: undefined });
  return { ...src, name, qualifiedOnly: true };
}

/** Apply an alias column list (`AS s(a, b)`) to derived columns, positionally up to the first star. */
function renameColumns(cols: OutputColumn[], colnames: string[]): { cols: OutputColumn[]; unplaced: string[] } {
  const out = cols.map((c) => ({ ...c }));
  const unplaced: string[] = [];
  colnames.forEach((name, i) => {
    const starBefore = out.slice(0, i + 1).some((c) => c.star === true);
    const col = out[i];
    if (col && !starBefore) col.name = name;
    else unplaced.push(name);
  });
  return { cols: out, unplaced };
}

function derived(name: string | undefined, columns: OutputColumn[], colnames: string[]): Source {
  const { cols, unplaced } = renameColumns(columns, colnames);
  const everything = allRefs(cols);
  const stars = cols.filter((c) => c.star === true);
  return {
    name,
    lookup(column) {
      if (unplaced.includes(column)) return { certain: true, refs: everything, direct: false };
      const named = cols.filter((c) => c.star !== true && c.name === column);
      if (named.length > 0) {
        return { certain: true, refs: allRefs(named), direct: named.length === 1 && named[0]?.direct === true };
      }
      if (stars.length === 0) return undefined;
      // The column may come through a star: from a table, it is that table's column of this name.
      const refs = uniqueRefs(
        stars.flatMap((s) => s.refs.map((r) => (r.column === '*' && r.table !== undefined ? { table: r.table, column: lower(column) } : r))),
      );
      return { certain: false, refs, direct: stars.every((s) => s.direct), tableBacked: true };
    },
    qualified(column) {
      const l = this.lookup(column);
      return l ? { refs: l.refs, direct: l.direct } : { refs: everything, direct: false };
    },
    star: () => cols,
    wholeRow: () => everything,
  };
}

/** A FROM item whose columns are unknown (a function, XMLTABLE, JSON_TABLE): it passes on its arguments' references. */
function opaque(name: string | undefined, refs: ColumnRef[], colnames: string[]): Source {
  return {
    name,
    lookup: (column) =>
      colnames.includes(column)
        ? { certain: true, refs, direct: false }
        : { certain: false, refs, direct: false, tableBacked: false },
    qualified: () => ({ refs, direct: false }),
    star: () => [{ name: '*', refs, direct: false, star: true }],
    wholeRow: () => refs,
  };
}

/** An aliased join: its members are only reachable through it. */
function joinSource(name: string, members: Level): Source {
  const self: Source = {
    name,
    lookup(column) {
      const merged = members.using.get(column);
      if (merged) return { certain: true, ...merged };
      const found = members.sources.map((s) => s.lookup(column)).filter((l): l is NonNullable<Lookup> => l !== undefined);
      const certain = found.filter((l) => l.certain);
      const pool = certain.length > 0 ? certain : found;
      if (pool.length === 0) return undefined;
      const refs = uniqueRefs(pool.flatMap((l) => l.refs));
      const direct = pool.length === 1 && pool[0]?.direct === true;
      if (certain.length > 0) return { certain: true, refs, direct };
      return { certain: false, refs, direct, tableBacked: pool.every((l) => !('tableBacked' in l) || l.tableBacked) };
    },
    qualified(column) {
      const l = self.lookup(column);
      return l ? { refs: l.refs, direct: l.direct } : { refs: self.wholeRow(), direct: false };
    },
    star: () => members.sources.flatMap((s) => s.star()),
    wholeRow: () => uniqueRefs(members.sources.flatMap((s) => s.wholeRow())),
  };
  return self;
}

/** PostgreSQL's FigureColname, as far as it can be told from the raw tree. */
function figureName(v: unknown): string {
  const n = unwrap(v);
  if (!n) return '?column?';
  const b = n.body;
  switch (n.type) {
    case 'ColumnRef': {
      const fields = asArr(b.fields);
      const last = fields[fields.length - 1];
      const s = nodeOf(last, 'String');
      return s ? (asStr(s.sval) ?? '?column?') : '?column?';
    }
    case 'A_Indirection': {
      const ind = asArr(b.indirection);
      const s = nodeOf(ind[ind.length - 1], 'String');
      return s ? (asStr(s.sval) ?? '?column?') : figureName(b.arg);
    }
    case 'FuncCall': {
      const parts = stringList(b.funcname);
      return parts[parts.length - 1] ?? '?column?';
    }
    case 'TypeCast': {
      const inner = figureName(b.arg);
      if (inner !== '?column?') return inner;
      const names = stringList(asObj(b.typeName)?.names);
      return names[names.length - 1] ?? '?column?';
    }
    case 'CollateClause':
      return figureName(b.arg);
    case 'SubLink':
      if (b.subLinkType === 'EXISTS_SUBLINK') return 'exists';
      if (b.subLinkType === 'ARRAY_SUBLINK') return 'array';
      if (b.subLinkType === 'EXPR_SUBLINK') {
        const sel = nodeOf(b.subselect, 'SelectStmt');
        const first = nodeOf(asArr(sel?.targetList)[0], 'ResTarget');
        if (first) return asStr(first.name) ?? figureName(first.val);
      }
      return '?column?';
    case 'CaseExpr':
      return 'case';
    case 'A_ArrayExpr':
      return 'array';
    case 'RowExpr':
      return 'row';
    case 'CoalesceExpr':
      return 'coalesce';
    case 'MinMaxExpr':
      return b.op === 'IS_LEAST' ? 'least' : 'greatest';
    case 'NullIfExpr':
      return 'nullif';
    case 'SQLValueFunction':
      return lower(asStr(b.op)?.replace(/^SVFOP_/, '').replace(/_N$/, '') ?? '?column?');
    case 'XmlExpr':
      return lower(asStr(b.op)?.replace(/^IS_/, '') ?? 'xml');
    case 'GroupingFunc':
      return 'grouping';
    default:
      return '?column?';
  }
}

/** Walks statements, resolving references; gathers predicate columns across every subquery. */
class Lineage {
  readonly predicates: ColumnRef[] = [];
  /** A literal's value was read (positional ORDER BY): the result must not be shared across literals. */
  literalSensitive = false;
  private depth = 0;

  private enter(): void {
    if (++this.depth > MAX_TREE_DEPTH) throw new SqlTreeTooDeepError();
  }

  private leave(): void {
    this.depth--;
  }

  // ---- column references ----

  private unqualified(column: string, scope: Scope): Resolved {
    const maybes: { refs: ColumnRef[]; direct: boolean; tableBacked: boolean }[] = [];
    for (const level of scope.levels) {
      const merged = level.using.get(column);
      if (merged) return merged;
      const certain: { refs: ColumnRef[]; direct: boolean }[] = [];
      for (const src of level.sources) {
        if (src.qualifiedOnly === true) continue;
        const l = src.lookup(column);
        if (!l) continue;
        if (l.certain) certain.push(l);
        else maybes.push(l);
      }
      if (certain.length > 0) {
        return { refs: uniqueRefs(certain.flatMap((c) => c.refs)), direct: certain.length === 1 && certain[0]?.direct === true };
      }
      // A FROM item of that name at this level: the whole row as a value (row_to_json(c)).
      const named = level.sources.find((s) => s.name === column && s.qualifiedOnly !== true);
      if (named) return { refs: named.wholeRow(), direct: false };
    }
    if (maybes.length === 1 && maybes[0]) return { refs: maybes[0].refs, direct: maybes[0].direct };
    // Unknown or ambiguous without the catalog: a table-less ref, plus what non-table items pass on.
    const passed = maybes.filter((m) => !m.tableBacked).flatMap((m) => m.refs);
    return { refs: uniqueRefs([{ column: lower(column) }, ...passed]), direct: maybes.every((m) => m.tableBacked) };
  }

  private findSource(name: string, scope: Scope): Source | undefined {
    for (const level of scope.levels) {
      const s = level.sources.find((src) => src.name === name);
      if (s) return s;
    }
    const wanted = lower(name);
    for (const level of scope.levels) {
      const s = level.sources.find((src) => src.qualifiedName === wanted);
      if (s) return s;
    }
    return undefined;
  }

  /** A ColumnRef's fields: names and, possibly last, a star. */
  private columnRef(fieldsV: unknown, scope: Scope): Resolved & { star?: OutputColumn[] } {
    const fields = asArr(fieldsV);
    const names = fields.map((f) => asStr(nodeOf(f, 'String')?.sval));
    const isStar = fields.length > 0 && nodeOf(fields[fields.length - 1], 'A_Star') !== undefined;
    const qual = (isStar ? names.slice(0, -1) : names).filter((s): s is string => s !== undefined);
    if (isStar) {
      if (qual.length === 0) {
        const level = scope.levels[0];
        const star = level ? level.sources.filter((s) => s.qualifiedOnly !== true).flatMap((s) => s.star()) : [];
        return { refs: allRefs(star), direct: true, star };
      }
      const src = this.findSource(qual[qual.length - 1] ?? '', scope) ?? this.findSource(qual.join('.'), scope);
      const table = lower(qual.join('.'));
      const star = src ? src.star() : [{ name: '*', refs: [{ table, column: '*' }], direct: true, star: true }];
      return { refs: allRefs(star), direct: true, star };
    }
    if (qual.length === 1) return this.unqualified(qual[0] ?? '', scope);
    // t.c, s.t.c, d.s.t.c; or t.c.field (composite field): try the longest source prefix first.
    for (let cut = qual.length - 1; cut >= 1; cut--) {
      const prefix = qual.slice(0, cut);
      const column = qual[cut] ?? '';
      const src = prefix.length === 1 ? this.findSource(prefix[0] ?? '', scope) : this.findSource(prefix.join('.'), scope);
      if (src) return src.qualified(column);
    }
    // No FROM item of that name (PostgreSQL would refuse it): keep it as written.
    return { refs: [{ table: lower(qual.slice(0, -1).join('.')), column: lower(qual[qual.length - 1] ?? '') }], direct: true };
  }

  /** Every column an expression's value depends on. */
  exprRefs(v: unknown, scope: Scope): ColumnRef[] {
    const out: ColumnRef[] = [];
    this.collectRefs(v, scope, out);
    return uniqueRefs(out);
  }

  private collectRefs(v: unknown, scope: Scope, out: ColumnRef[]): void {
    this.enter();
    try {
      if (Array.isArray(v)) {
        for (const x of v) this.collectRefs(x, scope, out);
        return;
      }
      const o = asObj(v);
      if (!o) return;
      const n = unwrap(o);
      if (!n) {
        for (const val of Object.values(o)) this.collectRefs(val, scope, out);
        return;
      }
      if (n.type === 'ColumnRef') {
        out.push(...this.columnRef(n.body.fields, scope).refs);
        return;
      }
      if (n.type === 'SubLink') {
        this.collectRefs(n.body.testexpr, scope, out);
        const cols = this.query(n.body.subselect, scope);
        out.push(...allRefs(cols ?? []));
        return;
      }
      if (n.type === 'SelectStmt' || n.type in DML) {
        out.push(...allRefs(this.query(o, scope) ?? []));
        return;
      }
      // A window's PARTITION BY / ORDER BY / frame decides how the rows come back ordered and grouped.
      if (n.type === 'FuncCall' && n.body.over !== undefined) this.predicate(n.body.over, scope);
      for (const val of Object.values(n.body)) this.collectRefs(val, scope, out);
    } finally {
      this.leave();
    }
  }

  private predicate(v: unknown, scope: Scope): void {
    if (v === undefined) return;
    this.predicates.push(...this.exprRefs(v, scope));
  }

  // ---- target lists ----

  targetList(list: unknown, scope: Scope): OutputColumn[] {
    const cols: OutputColumn[] = [];
    for (const item of asArr(list)) {
      const rt = nodeOf(item, 'ResTarget');
      if (!rt) continue;
      const alias = asStr(rt.name);
      const col = nodeOf(rt.val, 'ColumnRef');
      if (col) {
        const r = this.columnRef(col.fields, scope);
        if (r.star) {
          cols.push(...r.star);
          continue;
        }
        cols.push({ name: alias ?? figureName(rt.val), refs: r.refs, direct: r.direct });
        continue;
      }
      cols.push({ name: alias ?? figureName(rt.val), refs: this.exprRefs(rt.val, scope), direct: false });
    }
    return cols;
  }

  /** ORDER BY / GROUP BY / DISTINCT ON items: an output name or position means that output column. */
  private sortItems(items: unknown, scope: Scope, outputs: OutputColumn[]): void {
    for (const item of asArr(items)) {
      const sortBy = nodeOf(item, 'SortBy');
      const expr = sortBy ? sortBy.node : item;
      const c = nodeOf(expr, 'A_Const');
      if (c && asObj(c.ival)) {
        this.literalSensitive = true;
        const pos = Number(asObj(c.ival)?.ival ?? 0);
        const out = outputs[pos - 1];
        if (out && !outputs.slice(0, pos).some((o) => o.star === true)) this.predicates.push(...out.refs);
        else this.predicates.push(...allRefs(outputs));
        continue;
      }
      const ref = nodeOf(expr, 'ColumnRef');
      const fields = ref ? asArr(ref.fields) : [];
      const only = fields.length === 1 ? asStr(nodeOf(fields[0], 'String')?.sval) : undefined;
      const named = only !== undefined ? outputs.filter((o) => o.star !== true && o.name === only) : [];
      if (named.length > 0) this.predicates.push(...allRefs(named));
      this.predicate(expr, scope);
    }
  }

  // ---- FROM ----

  private fromItem(item: unknown, level: Level, outer: Scope): void {
    const n = unwrap(item);
    if (!n) return;
    const b = n.body;
    // Functions and LATERAL subqueries see the FROM items before them.
    const lateralScope: Scope = { levels: [level, ...outer.levels], ctes: outer.ctes };
    switch (n.type) {
      case 'RangeVar': {
        const relname = asStr(b.relname) ?? '';
        const cte = b.schemaname === undefined && b.catalogname === undefined ? outer.ctes.get(relname) : undefined;
        if (cte) {
          const alias = asObj(b.alias);
          level.sources.push(derived(asStr(alias?.aliasname) ?? relname, cte, stringList(alias?.colnames)));
        } else {
          level.sources.push(baseTable(b));
        }
        return;
      }
      case 'RangeSubselect': {
        const alias = asObj(b.alias);
        const cols = this.query(b.subquery, b.lateral === true ? lateralScope : outer) ?? [];
        level.sources.push(derived(asStr(alias?.aliasname), cols, stringList(alias?.colnames)));
        return;
      }
      case 'RangeFunction': {
        const alias = asObj(b.alias);
        const refs: ColumnRef[] = [];
        const colnames = stringList(alias?.colnames);
        let fname: string | undefined;
        for (const pair of asArr(b.functions)) {
          const [call, coldefs] = asArr(nodeOf(pair, 'List')?.items);
          refs.push(...this.exprRefs(call, lateralScope));
          const fc = nodeOf(call, 'FuncCall');
          if (fc && fname === undefined) fname = funcCallName(fc).split('.').pop();
          for (const d of asArr(coldefs)) {
            const cn = asStr(nodeOf(d, 'ColumnDef')?.colname);
            if (cn) colnames.push(cn);
          }
        }
        for (const d of asArr(b.coldeflist)) {
          const cn = asStr(nodeOf(d, 'ColumnDef')?.colname);
          if (cn) colnames.push(cn);
        }
        const name = asStr(alias?.aliasname) ?? fname;
        if (colnames.length === 0 && name !== undefined) colnames.push(name);
        // A set-returning function decides how many rows its arguments make (generate_series(1, ascii(c.ssn))).
        this.predicates.push(...refs);
        level.sources.push(opaque(name, uniqueRefs(refs), colnames));
        return;
      }
      case 'RangeTableSample':
        this.fromItem(b.relation, level, outer);
        return;
      case 'JoinExpr': {
        const members: Level = { sources: [], using: new Map() };
        const memberScope: Scope = { levels: [members, level, ...outer.levels], ctes: outer.ctes };
        this.fromItem(b.larg, members, { levels: [level, ...outer.levels], ctes: outer.ctes });
        const leftCount = members.sources.length;
        this.fromItem(b.rarg, members, { levels: [level, ...outer.levels], ctes: outer.ctes });
        const left: Level = { sources: members.sources.slice(0, leftCount), using: new Map() };
        const right: Level = { sources: members.sources.slice(leftCount), using: new Map() };
        const usingCols = stringList(b.usingClause);
        const mergedUsing = new Map<string, Resolved>();
        for (const col of usingCols) {
          const l = this.unqualified(col, { levels: [left], ctes: outer.ctes });
          const r = this.unqualified(col, { levels: [right], ctes: outer.ctes });
          const refs = uniqueRefs([...l.refs, ...r.refs]);
          this.predicates.push(...refs);
          mergedUsing.set(col, { refs, direct: b.jointype !== 'JOIN_FULL' && l.direct });
        }
        for (const [k, v] of mergedUsing) members.using.set(k, v);
        // NATURAL joins on every column name the sides share, which only the catalog knows: whole rows.
        if (b.isNatural === true) this.predicates.push(...members.sources.flatMap((src) => src.wholeRow()));
        this.predicate(b.quals, memberScope);
        const alias = asStr(asObj(b.alias)?.aliasname);
        if (alias !== undefined) {
          level.sources.push(joinSource(alias, members));
        } else {
          level.sources.push(...members.sources);
          for (const [k, v] of members.using) level.using.set(k, v);
        }
        const usingAlias = asStr(asObj(b.join_using_alias)?.aliasname);
        if (usingAlias !== undefined) {
          level.sources.push(joinSource(usingAlias, { sources: [], using: mergedUsing }));
        }
        return;
      }
      default: {
        // XMLTABLE, JSON_TABLE and whatever comes next: columns unknown, arguments passed on.
        const alias = asObj(b.alias);
        level.sources.push(opaque(asStr(alias?.aliasname), this.exprRefs(b, lateralScope), stringList(alias?.colnames)));
      }
    }
  }

  // ---- statements ----

  /** Lineage of a query (a wrapped or bare SelectStmt, or a DML statement with RETURNING). */
  query(v: unknown, outer: Scope): OutputColumn[] | undefined {
    this.enter();
    try {
      const n = unwrap(v);
      if (n && n.type === 'SelectStmt') return this.select(n.body, outer);
      if (n && n.type in DML) return this.dml(n.type, n.body, outer);
      const bare = asObj(v);
      if (!n && bare) return this.select(bare, outer);
      return undefined;
    } finally {
      this.leave();
    }
  }

  private withCtes(withClause: unknown, outer: Scope): Scope {
    const wc = asObj(withClause);
    if (!wc) return outer;
    const ctes = new Map(outer.ctes);
    const recursive = wc.recursive === true;
    for (const item of asArr(wc.ctes)) {
      const cte = nodeOf(item, 'CommonTableExpr');
      if (!cte) continue;
      const name = asStr(cte.ctename) ?? '';
      const colnames = stringList(cte.aliascolnames);
      let cols: OutputColumn[];
      if (recursive) cols = this.recursiveCte(name, cte.ctequery, colnames, { levels: outer.levels, ctes });
      else cols = this.query(cte.ctequery, { levels: outer.levels, ctes }) ?? [];
      ctes.set(name, renameColumns(cols, colnames).cols);
    }
    return { levels: outer.levels, ctes };
  }

  /** A recursive CTE refers to itself: iterate its lineage to a fixed point (bounded), else merge everything. */
  private recursiveCte(name: string, query: unknown, colnames: string[], scope: Scope): OutputColumn[] {
    const sel = nodeOf(query, 'SelectStmt');
    const seed = sel && sel.op !== undefined && sel.op !== 'SETOP_NONE' ? this.query(asObj(sel.larg), scope) ?? [] : [];
    let current = renameColumns(seed, colnames).cols;
    const predicatesBefore = this.predicates.length;
    for (let round = 0; round < 6; round++) {
      this.predicates.length = predicatesBefore;
      const ctes = new Map(scope.ctes);
      ctes.set(name, current);
      const next = renameColumns(this.query(query, { levels: scope.levels, ctes }) ?? [], colnames).cols;
      const same =
        next.length === current.length &&
        next.every((c, i) => {
          const prev = current[i];
          return prev !== undefined && c.refs.length === prev.refs.length && c.refs.every((r) => prev.refs.some((p) => refKey(p) === refKey(r)));
        });
      current = next;
      if (same) return current;
    }
    const everything = allRefs(current);
    return current.map((c) => ({ ...c, refs: everything, direct: false }));
  }

  private select(sel: Obj, outer: Scope): OutputColumn[] {
    const scope0 = this.withCtes(sel.withClause, outer);
    if (sel.op !== undefined && sel.op !== 'SETOP_NONE') {
      const l = this.query(asObj(sel.larg), scope0) ?? [];
      const r = this.query(asObj(sel.rarg), scope0) ?? [];
      const cols = setOperation(l, r);
      // Every set operation but UNION ALL compares rows: which come back tells whether values are equal.
      if (!(sel.op === 'SETOP_UNION' && sel.all === true)) this.predicates.push(...allRefs(cols));
      this.sortItems(sel.sortClause, { levels: [], ctes: scope0.ctes }, cols);
      this.predicate(sel.limitCount, scope0);
      this.predicate(sel.limitOffset, scope0);
      return cols;
    }
    const values = asArr(sel.valuesLists);
    if (values.length > 0) {
      let width = 0; // a loop, not Math.max(...rows): a bulk VALUES can have more rows than a call has arguments
      for (const row of values) width = Math.max(width, asArr(nodeOf(row, 'List')?.items).length);
      const cols: OutputColumn[] = [];
      for (let i = 0; i < width; i++) {
        const refs = values.flatMap((row) => this.exprRefs(asArr(nodeOf(row, 'List')?.items)[i], scope0));
        cols.push({ name: `column${i + 1}`, refs: uniqueRefs(refs), direct: false });
      }
      return cols;
    }
    const level: Level = { sources: [], using: new Map() };
    for (const item of asArr(sel.fromClause)) this.fromItem(item, level, scope0);
    const scope: Scope = { levels: [level, ...scope0.levels], ctes: scope0.ctes };
    const cols = this.targetList(sel.targetList, scope);
    this.predicate(sel.whereClause, scope);
    this.predicate(sel.havingClause, scope);
    this.predicate(sel.windowClause, scope);
    this.sortItems(sel.groupClause, scope, cols);
    this.sortItems(sel.sortClause, scope, cols);
    this.sortItems(sel.distinctClause, scope, cols);
    // Plain DISTINCT (an empty item) compares whole output rows.
    if (asArr(sel.distinctClause).some((item) => unwrap(item) === undefined)) this.predicates.push(...allRefs(cols));
    // LIMIT/OFFSET decide how many rows come back: a scalar subquery there probes.
    this.predicate(sel.limitCount, scope);
    this.predicate(sel.limitOffset, scope);
    return cols;
  }

  private dml(type: string, b: Obj, outer: Scope): OutputColumn[] | undefined {
    const scope0 = this.withCtes(b.withClause, outer);
    const rel = asObj(b.relation);
    const level: Level = { sources: [], using: new Map() };
    const target = rel ? baseTable(rel) : undefined;
    if (target) level.sources.push(target);
    if (type === 'UpdateStmt') for (const item of asArr(b.fromClause)) this.fromItem(item, level, scope0);
    if (type === 'DeleteStmt') for (const item of asArr(b.usingClause)) this.fromItem(item, level, scope0);
    if (type === 'MergeStmt') this.fromItem(b.sourceRelation, level, scope0);
    const scope: Scope = { levels: [level, ...scope0.levels], ctes: scope0.ctes };
    if (type === 'InsertStmt') {
      this.query(b.selectStmt, scope0);
      const conflict = asObj(b.onConflictClause);
      if (conflict && rel) {
        const excluded = pseudoRow(rel, 'excluded');
        const cscope: Scope = { levels: [{ sources: [...level.sources, excluded], using: new Map() }, ...scope0.levels], ctes: scope0.ctes };
        this.predicate(conflict.whereClause, cscope);
        this.exprRefs(conflict.targetList, cscope);
        this.predicate(asObj(conflict.infer)?.whereClause, cscope);
      }
    }
    if (type === 'UpdateStmt') this.exprRefs(b.targetList, scope);
    this.predicate(b.whereClause, scope);
    if (type === 'MergeStmt') {
      this.predicate(b.joinCondition, scope);
      for (const w of asArr(b.mergeWhenClauses)) {
        const clause = nodeOf(w, 'MergeWhenClause');
        if (!clause) continue;
        this.predicate(clause.condition, scope);
        this.exprRefs(clause.targetList, scope);
        this.exprRefs(clause.values, scope);
      }
    }
    const returning = asObj(b.returningClause);
    const exprs = asArr(returning?.exprs);
    if (exprs.length === 0) return undefined;
    // RETURNING old.* / new.* (PostgreSQL 18) name the target row before and after.
    const rscope: Scope = target && rel
      ? {
          levels: [
            {
              sources: [
                ...level.sources,
                pseudoRow(rel, 'old'),
                pseudoRow(rel, 'new'),
              ],
              using: level.using,
            },
            ...scope0.levels,
          ],
          ctes: scope0.ctes,
        }
      : scope;
    for (const opt of asArr(returning?.options)) {
      const o = nodeOf(opt, 'ReturningOption');
      const alias = asStr(o?.value);
      if (alias !== undefined && rel && rscope.levels[0]) {
        rscope.levels[0].sources.push(pseudoRow(rel, alias));
      }
    }
    return this.targetList(exprs, rscope);
  }
}

const DML: Record<string, true> = { InsertStmt: true, UpdateStmt: true, DeleteStmt: true, MergeStmt: true };

function setOperation(l: OutputColumn[], r: OutputColumn[]): OutputColumn[] {
  if (l.some((c) => c.star === true) || r.some((c) => c.star === true) || l.length !== r.length) {
    return [{ name: '*', refs: uniqueRefs([...allRefs(l), ...allRefs(r)]), direct: false, star: true }];
  }
  return l.map((c, i) => ({ name: c.name, refs: uniqueRefs([...c.refs, ...(r[i]?.refs ?? [])]), direct: false }));
}

export interface LineageResult {
  outputColumns?: OutputColumn[];
  predicateColumns: ColumnRef[];
  literalSensitive: boolean;
}

/**
 * Lineage of a query-like node (wrapped SelectStmt / DML). `outputs: false`
 * still gathers predicates (SELECT INTO, CREATE TABLE AS return no rows).
 */
export function queryLineage(node: unknown, outputs = true): LineageResult {
  const l = new Lineage();
  const cols = l.query(node, EMPTY_SCOPE);
  const result: LineageResult = { predicateColumns: uniqueRefs(l.predicates), literalSensitive: l.literalSensitive };
  if (outputs && cols !== undefined) result.outputColumns = cols;
  return result;
}

/** COPY table [(cols)] TO: the table's columns. */
export function copyTableLineage(relation: Obj, attlist: string[]): OutputColumn[] {
  const table = rangeVarName(relation);
  if (attlist.length === 0) return [{ name: '*', refs: [{ table, column: '*' }], direct: true, star: true }];
  return attlist.map((c) => ({ name: c, refs: [{ table, column: lower(c) }], direct: true }));
}
