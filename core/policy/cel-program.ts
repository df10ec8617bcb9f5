// Compiling one `when` expression (bounds, parse, static checks, plan) and
// evaluating it under a budget. Compiled once per policy load; the hot path is
// CelProgram.evaluate.
import { celEnv, celType, isCelError, parse, plan, type CelEnv, type CelInput, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import {
  ACTIVATION_VARIABLES,
  PROTOCOL_VARIABLES,
  type CelBindings,
  type ProtocolVariable,
} from './activation.js';
import { childrenOf, positionOf, type Expr, type SourceInfo } from './cel-ast.js';
import { classifyCacheability, type Cacheability } from './cel-cacheability.js';
import {
  DEFAULT_CEL_LIMITS,
  TICK_VARIABLE,
  boundedRe2,
  checkAstBounds,
  checkSourceBounds,
  instrumentComprehensions,
  withBudget,
  type CelLimits,
  type EvalBudget,
} from './cel-bounds.js';
import { TIME_FUNCS } from './cel-time.js';
import { CelBudgetExceededError, type PolicyCompileErrorReason } from './errors.js';

/** Why an expression was refused, and where (1-based, inside the expression). */
export interface ExpressionError {
  reason: PolicyCompileErrorReason;
  message: string;
  line: number;
  column: number;
}

export type EvalOutcome =
  | { ok: true; value: boolean }
  | { ok: false; reason: string; line?: number | undefined; column?: number | undefined };

export interface CelProgram {
  readonly source: string;
  /** protocol variables (sql, ssh, http) the expression mentions */
  readonly protocols: ReadonlySet<ProtocolVariable>;
  /** whether the result depends only on identity, connection and the statements' non-text facts (cel-cacheability.ts) */
  readonly cacheability: Cacheability;
  /** Evaluates against bindings from toCelBindings(). Never throws. */
  evaluate(bindings: CelBindings, budget: EvalBudget): EvalOutcome;
}

// The strings extension minus replace() and format(): their output can grow
// with the product of input sizes.
const SAFE_STRING_FUNCS = strings.filter((f) => f.name !== 'replace' && f.name !== 'format');

const TYPE_IDENTS = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);
const KNOWN_VARIABLES: ReadonlySet<string> = new Set(ACTIVATION_VARIABLES);
const PROTOCOLS: ReadonlySet<string> = new Set(PROTOCOL_VARIABLES);

/** Builds the CEL environment: std library, safe string extension, cached time-zone accessors, bounded RE2 for matches(). */
export function createCelEnv(limits: CelLimits = DEFAULT_CEL_LIMITS): CelEnv {
  return celEnv({ funcs: [...SAFE_STRING_FUNCS, ...TIME_FUNCS], re2: boundedRe2(limits.maxRegexLength) });
}

export class CelCompiler {
  readonly env: CelEnv;
  constructor(readonly limits: CelLimits = DEFAULT_CEL_LIMITS) {
    this.env = createCelEnv(limits);
  }

  compile(source: string): { ok: true; program: CelProgram } | { ok: false; error: ExpressionError } {
    if (typeof source !== 'string') {
      return { ok: false, error: { reason: 'syntax', message: 'expression must be a string', line: 1, column: 1 } };
    }
    if (source.trim() === '') {
      return { ok: false, error: { reason: 'syntax', message: 'expression is empty', line: 1, column: 1 } };
    }
    const bounds = checkSourceBounds(source, this.limits);
    if (bounds !== undefined) return { ok: false, error: { reason: 'bounds', ...bounds } };

    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(source);
    } catch (err) {
      return { ok: false, error: syntaxError(err) };
    }
    const root = parsed.expr;
    const info = parsed.sourceInfo;
    const at = (id: bigint | undefined): { line: number; column: number } =>
      positionOf(info, source, id) ?? { line: 1, column: 1 };

    const astBounds = checkAstBounds(root, this.limits);
    if (astBounds !== undefined) {
      return { ok: false, error: { reason: 'bounds', message: astBounds.message, ...at(astBounds.id) } };
    }

    const names = new NameChecker(this.env);
    names.visit(root, new Map());
    if (names.error !== undefined) {
      return { ok: false, error: { reason: names.error.reason, message: names.error.message, ...at(names.error.id) } };
    }

    const kind = inferKind(root, new Map());
    if (kind !== 'bool' && kind !== 'dyn') {
      return {
        ok: false,
        error: { reason: 'not-boolean', message: `expression must evaluate to a bool, but it yields ${kind}`, ...at(root.id) },
      };
    }

    // before instrumenting: the injected tick is not a name the analysis knows
    const cacheability = classifyCacheability(root);
    instrumentComprehensions(root);
    let fn: (ctx?: Record<string, CelInput>) => CelResult;
    try {
      fn = plan(this.env, parsed);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, error: { reason: 'syntax', message: `cannot plan expression: ${message}`, line: 1, column: 1 } };
    }
    return { ok: true, program: new PlannedProgram(source, info, names.protocols, cacheability, fn) };
  }
}

/**
 * What CEL resolves names against: the request's bindings plus the step
 * counter behind TICK_VARIABLE. A class rather than Object.create(bindings,
 * {getter}) so every scope shares one shape (that form cost ~10x as much,
 * mostly in garbage collection). The budget is private: no CEL name reaches it.
 */
class EvalScope {
  readonly identity: CelInput | undefined;
  readonly connection: CelInput | undefined;
  readonly session: CelInput | undefined;
  readonly now: CelInput | undefined;
  readonly sql: CelInput | undefined;
  readonly ssh: CelInput | undefined;
  readonly http: CelInput | undefined;
  readonly #budget: EvalBudget;
  constructor(bindings: CelBindings, budget: EvalBudget) {
    this.identity = bindings['identity'];
    this.connection = bindings['connection'];
    this.session = bindings['session'];
    this.now = bindings['now'];
    this.sql = bindings['sql'];
    this.ssh = bindings['ssh'];
    this.http = bindings['http'];
    this.#budget = budget;
  }
  get [TICK_VARIABLE](): boolean {
    this.#budget.tick();
    return true;
  }
}

class PlannedProgram implements CelProgram {
  constructor(
    readonly source: string,
    private readonly info: SourceInfo | undefined,
    readonly protocols: ReadonlySet<ProtocolVariable>,
    readonly cacheability: Cacheability,
    private readonly fn: (ctx?: Record<string, CelInput>) => CelResult,
  ) {}

  evaluate(bindings: CelBindings, budget: EvalBudget): EvalOutcome {
    const ctx = new EvalScope(bindings, budget) as unknown as Record<string, CelInput>;
    let result: CelResult;
    try {
      result = withBudget(budget, () => this.fn(ctx));
    } catch (err) {
      // plan() catches what it can; anything else (e.g. a stack overflow) still fails closed.
      return { ok: false, reason: budget.exceeded?.message ?? sanitizeMessage(err instanceof Error ? err.message : '') };
    }
    // An overrun inside matches() may have been absorbed by || or &&; it still fails the rule.
    if (budget.exceeded !== undefined) return { ok: false, reason: budget.exceeded.message };
    if (isCelError(result)) {
      if (result.cause instanceof CelBudgetExceededError) return { ok: false, reason: result.cause.message };
      const pos = positionOf(this.info, this.source, result.exprId);
      return { ok: false, reason: sanitizeMessage(result.message), line: pos?.line, column: pos?.column };
    }
    if (typeof result !== 'boolean') return { ok: false, reason: `result is ${typeName(result)}, not a bool` };
    return { ok: true, value: result };
  }
}

function typeName(v: CelResult): string {
  try {
    return isCelError(v) ? 'an error' : `of type ${celType(v).name}`;
  } catch {
    return 'of an unknown type';
  }
}

/**
 * Maps a CEL evaluation error to a fixed description. CEL messages can quote
 * values (a missing map key, a timestamp), and values come from the request:
 * they must never reach a client error, a log line or a recording.
 */
export function sanitizeMessage(message: string): string {
  const m = message.toLowerCase();
  if (m.includes('divide by zero') || m.includes('modulus by zero')) return 'division by zero';
  if (m.includes('out of bounds') || m.includes('index out of range')) return 'list index out of range';
  if (m.includes('field not found') || m.includes('no such key') || m.includes('key not found')) return 'no such key or field';
  if (m.includes('no matching overload') || m.includes('no such overload')) return 'no matching overload (an operand has the wrong type)';
  if (m.includes('overflow')) return 'numeric overflow';
  if (m.includes('regular expression is longer')) return 'regular expression too long';
  if (m.includes('regexp') || m.includes('regular expression') || m.includes('regex')) return 'invalid regular expression';
  if (m.includes('timezone') || m.includes('time zone')) return 'invalid time zone';
  if (m.includes('unresolved attribute') || m.includes('undeclared reference')) return 'unknown variable or attribute';
  if (m.includes('unbound function')) return 'unknown function';
  if (m.includes('type mismatch')) return 'type mismatch';
  if (m.includes('unsupported key type')) return 'unsupported map key type';
  if (m.includes('key conflict')) return 'duplicate map key';
  if (m.includes('range')) return 'value out of range';
  return 'evaluation error';
}

function syntaxError(err: unknown): ExpressionError {
  let line = 1;
  let column = 1;
  let message = 'syntax error';
  if (err instanceof Error) {
    message = err.message.replace(/^<input>:\d+:\d+:\s*/, '');
    const loc: unknown = (err as { location?: unknown }).location;
    if (loc !== null && typeof loc === 'object' && 'start' in loc) {
      const start: unknown = loc.start;
      if (start !== null && typeof start === 'object' && 'line' in start && 'column' in start) {
        if (typeof start.line === 'number') line = start.line;
        if (typeof start.column === 'number') column = start.column;
      }
    }
  }
  return { reason: 'syntax', message: `syntax error: ${message}`, line, column };
}

type NameError = { reason: PolicyCompileErrorReason; message: string; id: bigint };

/** Finds unknown top-level variables and unknown functions; records protocol variables used. */
class NameChecker {
  error: NameError | undefined;
  readonly protocols = new Set<ProtocolVariable>();
  constructor(private readonly env: CelEnv) {}

  // scope: names bound by enclosing comprehensions (iteration and accumulator variables)
  visit(e: Expr, scope: ReadonlyMap<string, true>): void {
    if (this.error !== undefined) return;
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr': {
        const name = k.value.name;
        if (scope.has(name) || TYPE_IDENTS.has(name)) return;
        if (KNOWN_VARIABLES.has(name)) {
          if (PROTOCOLS.has(name)) this.protocols.add(name as ProtocolVariable);
          return;
        }
        this.error = {
          reason: 'unknown-variable',
          message: `unknown variable '${name}' (known: ${ACTIVATION_VARIABLES.join(', ')})`,
          id: e.id,
        };
        return;
      }
      case 'callExpr': {
        const call = k.value;
        if (call.target !== undefined) {
          const qual = qualifiedName(call.target);
          if (qual !== undefined && !scope.has(qual.split('.')[0] ?? '') && this.env.funcs.find(`${qual}.${call.function}`) !== undefined) {
            for (const a of call.args) this.visit(a, scope);
            return;
          }
        }
        if (/^[A-Za-z]/.test(call.function) && this.env.funcs.find(call.function) === undefined) {
          this.error = { reason: 'unknown-function', message: `unknown function '${call.function}'`, id: e.id };
          return;
        }
        break;
      }
      case 'comprehensionExpr': {
        const c = k.value;
        if (c.iterRange !== undefined) this.visit(c.iterRange, scope);
        if (c.accuInit !== undefined) this.visit(c.accuInit, scope);
        const inner = new Map(scope);
        inner.set(c.iterVar, true);
        if (c.iterVar2 !== '') inner.set(c.iterVar2, true);
        inner.set(c.accuVar, true);
        if (c.loopCondition !== undefined) this.visit(c.loopCondition, inner);
        if (c.loopStep !== undefined) this.visit(c.loopStep, inner);
        const result = new Map(scope);
        result.set(c.accuVar, true);
        if (c.result !== undefined) this.visit(c.result, result);
        return;
      }
      default:
        break;
    }
    for (const kid of childrenOf(e)) this.visit(kid.expr, scope);
  }
}

function qualifiedName(e: Expr): string | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') return k.value.name;
  if (k.case === 'selectExpr' && !k.value.testOnly && k.value.operand !== undefined) {
    const parent = qualifiedName(k.value.operand);
    return parent === undefined ? undefined : `${parent}.${k.value.field}`;
  }
  return undefined;
}

type Kind = 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'list' | 'map' | 'timestamp' | 'duration' | 'type' | 'a number, string or list' | 'dyn';

const BOOL_FUNCS = new Set([
  '_==_', '_!=_', '_<_', '_<=_', '_>_', '_>=_', '_&&_', '_||_', '!_', '@in', '@not_strictly_false',
  'matches', 'startsWith', 'endsWith', 'contains', 'bool',
]);
const RESULT_KIND: Readonly<Record<string, Kind>> = {
  size: 'int', int: 'int', indexOf: 'int', lastIndexOf: 'int',
  getHours: 'int', getMinutes: 'int', getSeconds: 'int', getMilliseconds: 'int', getDayOfWeek: 'int',
  getDayOfMonth: 'int', getDayOfYear: 'int', getDate: 'int', getMonth: 'int', getFullYear: 'int',
  uint: 'uint', double: 'double', string: 'string', bytes: 'bytes', timestamp: 'timestamp', duration: 'duration',
  type: 'type', lowerAscii: 'string', upperAscii: 'string', trim: 'string', substring: 'string', charAt: 'string',
  join: 'string', split: 'list',
};
const ARITHMETIC = new Set(['_+_', '_-_', '_*_', '_/_', '_%_', '-_']);

/** What an expression yields, where that can be seen without types of the variables ('dyn' otherwise). */
function inferKind(e: Expr, accus: ReadonlyMap<string, Kind>): Kind {
  const k = e.exprKind;
  switch (k.case) {
    case 'constExpr':
      switch (k.value.constantKind.case) {
        case 'boolValue': return 'bool';
        case 'int64Value': return 'int';
        case 'uint64Value': return 'uint';
        case 'doubleValue': return 'double';
        case 'stringValue': return 'string';
        case 'bytesValue': return 'bytes';
        case 'nullValue': return 'null';
        default: return 'dyn';
      }
    case 'listExpr':
      return 'list';
    case 'structExpr':
      return k.value.messageName === '' ? 'map' : 'dyn';
    case 'identExpr':
      return accus.get(k.value.name) ?? 'dyn';
    case 'selectExpr':
      return k.value.testOnly ? 'bool' : 'dyn';
    case 'callExpr': {
      const fn = k.value.function;
      if (BOOL_FUNCS.has(fn)) return 'bool';
      if (fn === '_?_:_') {
        const [, t, f] = k.value.args;
        const a = t === undefined ? 'dyn' : inferKind(t, accus);
        const b = f === undefined ? 'dyn' : inferKind(f, accus);
        if (a === 'dyn' || b === 'dyn' || a === 'bool' || b === 'bool') return a === b ? a : 'dyn';
        return a;
      }
      if (ARITHMETIC.has(fn)) {
        // `_+_` also concatenates strings and lists; name what the operands show, never bool.
        for (const a of k.value.args) {
          const ak = inferKind(a, accus);
          if (ak !== 'dyn' && ak !== 'bool') return ak;
        }
        return 'a number, string or list';
      }
      return RESULT_KIND[fn] ?? 'dyn';
    }
    case 'comprehensionExpr': {
      const c = k.value;
      const accuKind = c.accuInit === undefined ? 'dyn' : inferKind(c.accuInit, accus);
      const inner = new Map(accus);
      inner.set(c.accuVar, accuKind);
      return c.result === undefined ? 'dyn' : inferKind(c.result, inner);
    }
    default:
      return 'dyn';
  }
}

const defaultCompiler = new CelCompiler();

/**
 * Checks one `when` expression the way the engine would compile it: bounds,
 * syntax, known variables (identity, connection, session, now, sql, ssh, http)
 * and functions, and that the result can be a bool. Positions are 1-based.
 */
export function lintExpression(expr: string): { ok: true } | { ok: false; message: string; line: number; column: number } {
  const r = defaultCompiler.compile(expr);
  if (r.ok) return { ok: true };
  return { ok: false, message: r.error.message, line: r.error.line, column: r.error.column };
}
