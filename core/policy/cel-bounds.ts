// Bounds on CEL expressions: what is refused before compiling, and the budget
// every evaluation runs under.
//
// @bufbuild/cel (0.6.1) has no cost model and no hook into its evaluator, so
// the engine bounds work itself:
//
//   Before compiling (refused with a positioned error):
//   - source length ............ maxExpressionLength characters
//   - bracket nesting .......... maxNestingDepth levels of ( [ { (checked on the
//                                text, before the recursive parser sees it)
//   - AST size ................. maxAstNodes nodes after macro expansion
//   - AST depth ................ maxAstDepth (long operator chains; the
//                                evaluator recurses once per level)
//   - comprehension nesting .... maxComprehensionNesting macros (all, exists,
//                                exists_one, map, filter) inside another's body
//
//   While evaluating (the rule then fails, which counts as deny):
//   - steps .................... every comprehension iteration and every
//                                matches() call is one step; more than maxSteps
//                                per rule aborts. Without comprehensions the
//                                number of operations is bounded by the AST size.
//   - time ..................... each step also checks a wall-clock deadline
//                                (per decision), the backstop for operations
//                                whose cost grows with value size.
//   How: each comprehension's loop condition is rewritten to
//   `@agentgate_tick && <condition>`; `@agentgate_tick` is not a legal CEL
//   identifier (no policy can name it) and resolves through a getter on the
//   bindings that counts the step and throws when over budget. A thrown
//   exception is not a CEL error value, so `||`/`&&` cannot absorb it; it
//   unwinds to the top of the evaluation. A budget overrun inside matches()
//   (where a throw becomes a CEL error value) is remembered on the budget and
//   fails the rule after evaluation, whatever the result.
//
//   Values: the activation is bounded when it is converted (activation.ts:
//   string length, list items, map entries, depth, total values; over a bound
//   the request is refused, never truncated). Regular expressions run on RE2
//   semantics (re2js: linear time, no backtracking), patterns are capped at
//   maxRegexLength and compiled patterns cached. CEL has no string repetition
//   operator; the strings extension's replace() and format() (output can grow
//   quadratically) are not offered.
import { RE2JS } from 're2js';
import { CelBudgetExceededError } from './errors.js';
import { callNode, childrenOf, identNode, lineColumnAt, maxId, type Expr } from './cel-ast.js';

export interface CelLimits {
  maxExpressionLength: number;
  maxNestingDepth: number;
  maxAstNodes: number;
  maxAstDepth: number;
  maxComprehensionNesting: number;
  maxRegexLength: number;
}

export const DEFAULT_CEL_LIMITS: Readonly<CelLimits> = Object.freeze({
  maxExpressionLength: 4096,
  maxNestingDepth: 32,
  maxAstNodes: 1500,
  maxAstDepth: 128,
  maxComprehensionNesting: 3,
  maxRegexLength: 1024,
});

export interface EvalLimits {
  /** comprehension iterations + regex matches, per rule evaluation */
  maxSteps: number;
  /** wall-clock budget for one decision (all its rules), milliseconds */
  timeoutMs: number;
}

// 50k steps take some tens of milliseconds: the sidecar's event loop serves
// every session, so one evaluation must not hold it for long.
export const DEFAULT_EVAL_LIMITS: Readonly<EvalLimits> = Object.freeze({
  maxSteps: 50_000,
  // A backstop, not the bound (steps are): wall-clock time also counts GC
  // pauses and a loaded machine, and at 100 ms about 1 in 100,000 ordinary
  // statements was refused under pgbench on 2 shared cores.
  timeoutMs: 500,
});

/** The identifier injected into comprehension loop conditions. Not a legal CEL identifier. */
export const TICK_VARIABLE = '@agentgate_tick';

export interface BoundsViolation {
  message: string;
  line: number;
  column: number;
}

/**
 * Checks the raw text: length, and bracket nesting (outside string literals),
 * before the recursive-descent parser runs on it.
 */
export function checkSourceBounds(text: string, limits: CelLimits = DEFAULT_CEL_LIMITS): BoundsViolation | undefined {
  if (text.length > limits.maxExpressionLength) {
    const at = lineColumnAt(text, limits.maxExpressionLength);
    return { message: `expression is ${text.length} characters long; the limit is ${limits.maxExpressionLength}`, ...at };
  }
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"' || ch === "'") {
      i = skipString(text, i);
      continue;
    }
    if (ch === '/' && text[i + 1] === '/') {
      // a comment runs to the end of the line
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') {
      depth++;
      if (depth > limits.maxNestingDepth) {
        return { message: `expression nests brackets more than ${limits.maxNestingDepth} levels deep`, ...lineColumnAt(text, i) };
      }
    } else if (ch === ')' || ch === ']' || ch === '}') {
      depth = Math.max(0, depth - 1);
    }
    i++;
  }
  return undefined;
}

// Returns the index after the string literal whose opening quote is at `start`.
// Handles triple quotes and raw strings (r'..', no escapes). An unterminated
// literal runs to the end of its line (or text); the parser reports it.
function skipString(text: string, start: number): number {
  const q = text[start] ?? '"';
  const raw = start > 0 && (text[start - 1] === 'r' || text[start - 1] === 'R');
  const triple = text.startsWith(q + q + q, start);
  const close = triple ? q + q + q : q;
  let i = start + close.length;
  while (i < text.length) {
    if (!raw && text[i] === '\\') {
      i += 2;
      continue;
    }
    if (text.startsWith(close, i)) return i + close.length;
    if (!triple && text[i] === '\n') return i;
    i++;
  }
  return i;
}

/** Checks the parsed AST: node count, depth, comprehension nesting. */
export function checkAstBounds(root: Expr, limits: CelLimits = DEFAULT_CEL_LIMITS): { message: string; id: bigint } | undefined {
  let nodes = 0;
  const stack: { e: Expr; depth: number; loops: number }[] = [{ e: root, depth: 1, loops: 0 }];
  while (stack.length > 0) {
    const top = stack.pop();
    if (top === undefined) break;
    const { e, depth, loops } = top;
    nodes++;
    if (nodes > limits.maxAstNodes) {
      return { message: `expression has more than ${limits.maxAstNodes} nodes`, id: e.id };
    }
    if (depth > limits.maxAstDepth) {
      return { message: `expression is nested more than ${limits.maxAstDepth} operations deep`, id: e.id };
    }
    const isLoop = e.exprKind.case === 'comprehensionExpr';
    for (const kid of childrenOf(e)) {
      const kidLoops = isLoop && kid.body ? loops + 1 : loops;
      if (kidLoops > limits.maxComprehensionNesting) {
        return {
          message: `expression nests comprehensions (all, exists, exists_one, map, filter) more than ${limits.maxComprehensionNesting} deep`,
          id: e.id,
        };
      }
      stack.push({ e: kid.expr, depth: depth + 1, loops: kidLoops });
    }
  }
  return undefined;
}

/** Rewrites every comprehension's loop condition to `@agentgate_tick && cond` (in place). */
export function instrumentComprehensions(root: Expr): void {
  let next = maxId(root) + 1n;
  const stack: Expr[] = [root];
  while (stack.length > 0) {
    const e = stack.pop();
    if (e === undefined) break;
    for (const kid of childrenOf(e)) stack.push(kid.expr);
    if (e.exprKind.case === 'comprehensionExpr') {
      const c = e.exprKind.value;
      if (c.loopCondition !== undefined) {
        const tick = identNode(next++, TICK_VARIABLE);
        c.loopCondition = callNode(next++, '_&&_', [tick, c.loopCondition]);
      }
    }
  }
}

/** Step and time budget of one rule evaluation (the deadline is shared by a decision). */
export class EvalBudget {
  steps = 0;
  exceeded: CelBudgetExceededError | undefined;
  constructor(
    readonly maxSteps: number,
    /** performance.now() value after which evaluation stops */
    readonly deadline: number,
    readonly timeoutMs: number,
  ) {}

  static start(limits: EvalLimits = DEFAULT_EVAL_LIMITS): EvalBudget {
    return new EvalBudget(limits.maxSteps, performance.now() + limits.timeoutMs, limits.timeoutMs);
  }

  /** A fresh step count under the same deadline. */
  forRule(): EvalBudget {
    return new EvalBudget(this.maxSteps, this.deadline, this.timeoutMs);
  }

  /** Counts a step; throws CelBudgetExceededError when over the step or time budget. */
  tick(): void {
    if (this.exceeded !== undefined) throw this.exceeded;
    this.steps++;
    if (this.steps > this.maxSteps) {
      this.exceeded = new CelBudgetExceededError('steps', this.maxSteps);
      throw this.exceeded;
    }
    if (performance.now() >= this.deadline) {
      this.exceeded = new CelBudgetExceededError('time', this.timeoutMs);
      throw this.exceeded;
    }
  }
}

// Evaluation is synchronous, so the budget of the evaluation in progress can
// live here for matches(), which CEL calls without any context of ours.
let activeBudget: EvalBudget | undefined;

export function withBudget<T>(budget: EvalBudget, fn: () => T): T {
  const previous = activeBudget;
  activeBudget = budget;
  try {
    return fn();
  } finally {
    activeBudget = previous;
  }
}

export class RegexTooLongError extends Error {
  readonly code = 'CEL_REGEX_TOO_LONG';
  constructor(limit: number) {
    super(`regular expression is longer than ${limit} characters`);
    this.name = 'RegexTooLongError';
  }
}

/**
 * The RE2 engine handed to CEL for matches(): re2js (linear time), patterns
 * capped in length, compiled patterns kept in a small LRU cache (policies
 * repeat the same few patterns; compiling on every call would dominate).
 */
export function boundedRe2(maxRegexLength: number = DEFAULT_CEL_LIMITS.maxRegexLength, cacheSize = 256): {
  compile(pattern: string): { test(text: string): boolean };
} {
  const cache = new Map<string, RE2JS>();
  return {
    compile(pattern: string) {
      if (pattern.length > maxRegexLength) throw new RegexTooLongError(maxRegexLength);
      let re = cache.get(pattern);
      if (re === undefined) {
        re = RE2JS.compile(pattern);
        if (cache.size >= cacheSize) {
          const oldest = cache.keys().next();
          if (oldest.done !== true) cache.delete(oldest.value);
        }
      } else {
        cache.delete(pattern);
      }
      cache.set(pattern, re);
      const compiled = re;
      return {
        test(text: string): boolean {
          activeBudget?.tick();
          return compiled.test(text);
        },
      };
    },
  };
}
