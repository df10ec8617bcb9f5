// Whether a rule's result can be cached across SQL statements that differ
// only in their text (and in the clock and session counters): the engine's
// decision cache (engine.ts) keys on the statements' facts without `text`,
// so a cacheable rule must not be able to observe any text, `now` or
// `session`.
//
// A small abstract interpretation over the parsed AST (before the budget
// instrumentation). Every value gets a kind:
//   SQL    the `sql` variable        only `sql.statements` and `has(sql.statements)`
//   STMTS  a list of statements      range of a comprehension, size(), [int literal]
//   STMT   one statement             `.f` / `has(.f)` with f != text
//   FREE   anything else             used freely
// Any other use of a non-FREE value (==, in, a function argument, a map
// key/value, dynamic index, dyn(), ...), and any mention of now, session,
// ssh or http, makes the rule not cacheable. Treating a FREE value as a more
// restricted kind is always safe (fewer uses are allowed), which is what
// joins (`c ? a : b`, loop accumulators) do.
import type { Expr } from './cel-ast.js';

type Kind = 'free' | 'stmt' | 'stmts' | 'sql';
const Kind = { Free: 'free', Stmt: 'stmt', Stmts: 'stmts', Sql: 'sql' } as const;

export type Cacheability = { readonly cacheable: true } | { readonly cacheable: false; readonly reason: string };

const CACHEABLE: Cacheability = Object.freeze({ cacheable: true });

// Names that are always the same for one identity object and one connection object.
const FREE_GLOBALS: ReadonlySet<string> = new Set([
  'identity',
  'connection',
  // type names (`type(x) == string`)
  'int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn',
]);

class NotCacheable extends Error {}

function join(a: Kind, b: Kind, what: string): Kind {
  if (a === b || b === Kind.Free) return a;
  if (a === Kind.Free) return b;
  throw new NotCacheable(`${what} mixes a statement, statements and sql`);
}

const KIND_NAME: Readonly<Record<Kind, string>> = {
  free: 'a value',
  stmt: 'a statement',
  stmts: 'the statement list',
  sql: 'sql',
};

function isIntLiteral(e: Expr): boolean {
  const k = e.exprKind;
  return k.case === 'constExpr' && (k.value.constantKind.case === 'int64Value' || k.value.constantKind.case === 'uint64Value');
}

type Scope = ReadonlyMap<string, Kind>;

// Recursion depth is bounded by the compiler's AST depth limit (maxAstDepth), checked before this runs.
function kindOf(e: Expr, scope: Scope): Kind {
  const k = e.exprKind;
  switch (k.case) {
    case 'constExpr':
      return Kind.Free;
    case 'identExpr': {
      const name = k.value.name;
      const bound = scope.get(name);
      if (bound !== undefined) return bound;
      if (name === 'sql') return Kind.Sql;
      if (FREE_GLOBALS.has(name)) return Kind.Free;
      throw new NotCacheable(`it reads ${name}`);
    }
    case 'selectExpr': {
      const { operand, field, testOnly } = k.value;
      if (operand === undefined) throw new NotCacheable('a select without an operand');
      const of = kindOf(operand, scope);
      switch (of) {
        case Kind.Free:
          return Kind.Free;
        case Kind.Sql:
          if (field === 'statements') return testOnly ? Kind.Free : Kind.Stmts;
          throw new NotCacheable(`it reads sql.${field}`);
        case Kind.Stmt:
          if (field === 'text') throw new NotCacheable("it reads a statement's text");
          return Kind.Free;
        default:
          throw new NotCacheable(`it selects .${field} of ${KIND_NAME[of]}`);
      }
    }
    case 'listExpr': {
      let out: Kind = Kind.Free;
      for (const el of k.value.elements) {
        const ek = kindOf(el, scope);
        if (ek === Kind.Free) continue;
        if (ek !== Kind.Stmt) throw new NotCacheable(`it puts ${KIND_NAME[ek]} in a list`);
        out = Kind.Stmts;
      }
      return out;
    }
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') requireFree(entry.keyKind.value, scope, 'a map key');
        if (entry.value !== undefined) requireFree(entry.value, scope, 'a map or message value');
      }
      return Kind.Free;
    case 'callExpr':
      return callKind(k.value.function, k.value.target, k.value.args, scope);
    case 'comprehensionExpr':
      return comprehensionKind(k.value, scope);
    default:
      throw new NotCacheable(`unexpected expression ${String(k.case)}`);
  }
}

function requireFree(e: Expr, scope: Scope, what: string): void {
  const k = kindOf(e, scope);
  if (k !== Kind.Free) throw new NotCacheable(`it uses ${KIND_NAME[k]} as ${what}`);
}

function callKind(fn: string, target: Expr | undefined, args: readonly Expr[], scope: Scope): Kind {
  // size(x) / x.size(): the number of statements is part of the cache key.
  const sizeOf = fn !== 'size' ? undefined : target === undefined ? (args.length === 1 ? args[0] : undefined) : args.length === 0 ? target : undefined;
  if (sizeOf !== undefined) {
    const ak = kindOf(sizeOf, scope);
    if (ak === Kind.Free || ak === Kind.Stmts) return Kind.Free;
    throw new NotCacheable(`it takes the size of ${KIND_NAME[ak]}`);
  }
  if (fn === '_[_]' && target === undefined && args.length === 2) {
    const [list, index] = args as [Expr, Expr];
    const lk = kindOf(list, scope);
    if (lk === Kind.Stmts && isIntLiteral(index)) return Kind.Stmt;
    if (lk !== Kind.Free) throw new NotCacheable(`it indexes ${KIND_NAME[lk]} other than by an int literal`);
    requireFree(index, scope, 'an index');
    return Kind.Free;
  }
  if (fn === '_?_:_' && target === undefined && args.length === 3) {
    const [cond, a, b] = args as [Expr, Expr, Expr];
    requireFree(cond, scope, 'a condition');
    return join(kindOf(a, scope), kindOf(b, scope), 'a conditional');
  }
  // List concatenation: the macros' accumulators (filter, map) are built this way.
  if (fn === '_+_' && target === undefined && args.length === 2) {
    const ak = kindOf(args[0] as Expr, scope);
    const bk = kindOf(args[1] as Expr, scope);
    if ((ak === Kind.Free || ak === Kind.Stmts) && (bk === Kind.Free || bk === Kind.Stmts)) {
      return ak === Kind.Stmts || bk === Kind.Stmts ? Kind.Stmts : Kind.Free;
    }
    throw new NotCacheable(`it adds ${KIND_NAME[ak === Kind.Free ? bk : ak]}`);
  }
  if (target !== undefined) requireFree(target, scope, `the target of ${fn}()`);
  for (const a of args) requireFree(a, scope, `an argument of ${fn}`);
  return Kind.Free;
}

type Comprehension = Extract<Expr['exprKind'], { case: 'comprehensionExpr' }>['value'];

function comprehensionKind(c: Comprehension, scope: Scope): Kind {
  if (c.iterRange === undefined || c.accuInit === undefined || c.loopStep === undefined || c.result === undefined) {
    throw new NotCacheable('an incomplete comprehension');
  }
  const range = kindOf(c.iterRange, scope);
  const inner = new Map(scope);
  if (c.iterVar2 !== '') {
    // Two-variable forms: the first variable is an index or a map key; keep it simple.
    if (range !== Kind.Free) throw new NotCacheable(`a two-variable comprehension over ${KIND_NAME[range]}`);
    inner.set(c.iterVar, Kind.Free);
    inner.set(c.iterVar2, Kind.Free);
  } else if (range === Kind.Stmts) {
    inner.set(c.iterVar, Kind.Stmt);
  } else if (range === Kind.Free) {
    inner.set(c.iterVar, Kind.Free);
  } else {
    // over a statement: iterates its keys (which tells whether it has a text)
    throw new NotCacheable(`it iterates over ${KIND_NAME[range]}`);
  }
  // The accumulator's kind: a fixed point of the loop step (the kind lattice has height 2).
  let accu = kindOf(c.accuInit, scope);
  for (let round = 0; ; round++) {
    inner.set(c.accuVar, accu);
    if (c.loopCondition !== undefined) requireFree(c.loopCondition, inner, 'a loop condition');
    const next = join(accu, kindOf(c.loopStep, inner), 'a loop accumulator');
    if (next === accu) break;
    if (round >= 3) throw new NotCacheable('a loop accumulator does not settle');
    accu = next;
  }
  const result = new Map(scope);
  result.set(c.accuVar, accu);
  return kindOf(c.result, result);
}

/**
 * Whether the expression's value depends only on identity, connection and the
 * non-text fields of sql.statements (see the file header). Never throws; when
 * in doubt, not cacheable.
 */
export function classifyCacheability(root: Expr): Cacheability {
  try {
    const k = kindOf(root, new Map());
    if (k !== Kind.Free) return { cacheable: false, reason: `it yields ${KIND_NAME[k]}` };
    return CACHEABLE;
  } catch (err) {
    if (err instanceof NotCacheable) return { cacheable: false, reason: err.message };
    return { cacheable: false, reason: 'it could not be analysed' };
  }
}
