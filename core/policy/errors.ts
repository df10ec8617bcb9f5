// Error classes of the policy engine, one per failure mode, each with a stable
// `code` (documented in docs/errors.md by the lead). Messages never carry
// activation values (request text, tokens, claims): only policy text and limits.

/** Kinds of policy compile errors, for callers that branch on them. */
export type PolicyCompileErrorReason =
  | 'syntax' // the CEL expression does not parse
  | 'bounds' // too long / too deep / too many nodes / too many nested comprehensions
  | 'unknown-variable' // a top-level name other than identity, connection, session, now, sql, ssh, http
  | 'unknown-function' // a function or method CEL does not provide here
  | 'not-boolean' // the expression can be seen to yield something other than a bool
  | 'invalid-policy'; // a field other than a `when` is wrong (action, selector, subject, duration, ...)

export interface PolicyCompileErrorInit {
  policy: string;
  field: string;
  message: string;
  reason: PolicyCompileErrorReason;
  rule?: string | undefined;
  expression?: string | undefined;
  line?: number | undefined;
  column?: number | undefined;
}

/** One problem in one AccessPolicy: which policy, rule and field, and where in the expression (1-based). */
export class PolicyCompileError extends Error {
  readonly code = 'POLICY_COMPILE_ERROR';
  /** "namespace/name" */
  readonly policy: string;
  /** rule name when the problem is inside a rule */
  readonly rule: string | undefined;
  /** JSON-path-like field, e.g. "spec.rules[2].when" */
  readonly field: string;
  readonly reason: PolicyCompileErrorReason;
  /** the CEL expression, for expression errors */
  readonly expression: string | undefined;
  /** 1-based position inside `expression` */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** the message without the policy/field prefix */
  readonly detail: string;

  constructor(init: PolicyCompileErrorInit) {
    const where = init.line !== undefined ? ` at ${init.line}:${init.column ?? 1}` : '';
    const rule = init.rule !== undefined ? ` (rule ${init.rule})` : '';
    super(`policy ${init.policy}: ${init.field}${rule}: ${init.message}${where}`);
    this.name = 'PolicyCompileError';
    this.policy = init.policy;
    this.rule = init.rule;
    this.field = init.field;
    this.reason = init.reason;
    this.expression = init.expression;
    this.line = init.line;
    this.column = init.column;
    this.detail = init.message;
  }
}

/** Thrown by PolicyEngine.compile when any policy has an error; carries all of them. */
export class PolicySetCompileError extends Error {
  readonly code = 'POLICY_COMPILE_FAILED';
  readonly errors: readonly PolicyCompileError[];
  constructor(errors: readonly PolicyCompileError[]) {
    super(`${errors.length} policy error(s):\n${errors.map((e) => `  ${e.message}`).join('\n')}`);
    this.name = 'PolicySetCompileError';
    this.errors = errors;
  }
}

/** A duration string ("15m") that does not parse. */
export class DurationError extends Error {
  readonly code = 'INVALID_DURATION';
  readonly input: string;
  constructor(input: string, reason: string) {
    super(`invalid duration ${JSON.stringify(input.slice(0, 64))}: ${reason}`);
    this.name = 'DurationError';
    this.input = input;
  }
}

/** The request is too large to evaluate within the engine's bounds; the decision is deny. */
export class ActivationLimitError extends Error {
  readonly code = 'POLICY_ACTIVATION_LIMIT';
  /** where in the activation, e.g. "sql.statements" (a path, never a value) */
  readonly path: string;
  constructor(path: string, what: string) {
    super(`request too large for policy evaluation: ${path} ${what}`);
    this.name = 'ActivationLimitError';
    this.path = path;
  }
}

/** The activation has a value the engine cannot represent (e.g. an invalid Date); the decision is deny. */
export class ActivationInvalidError extends Error {
  readonly code = 'POLICY_ACTIVATION_INVALID';
  readonly path: string;
  constructor(path: string, what: string) {
    super(`invalid request facts for policy evaluation: ${path} ${what}`);
    this.name = 'ActivationInvalidError';
    this.path = path;
  }
}

/** Evaluation ran out of its step or time budget; the rule counts as deny. */
export class CelBudgetExceededError extends Error {
  readonly code = 'CEL_BUDGET_EXCEEDED';
  readonly kind: 'steps' | 'time';
  constructor(kind: 'steps' | 'time', limit: number) {
    super(
      kind === 'steps'
        ? `evaluation exceeded its budget of ${limit} steps (comprehension iterations and regex matches)`
        : `evaluation exceeded its time budget of ${limit} ms`,
    );
    this.name = 'CelBudgetExceededError';
    this.kind = kind;
  }
}
