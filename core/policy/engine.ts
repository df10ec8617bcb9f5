// The policy engine: compiles AccessPolicies once, finds the ones that apply to
// a request (namespace, pod selector, connection, subject), evaluates all their
// rules and combines the effects deny > review > allow, default deny.
//
// Fail closed throughout: a rule that errors or yields a non-bool counts as a
// deny naming that rule; a policy that does not compile still applies (as
// widely as its valid parts allow) and denies every request it applies to; a
// request over the activation bounds is denied.
//
// Decision cache: when every rule an SQL request reaches cannot observe any
// text, now or session (cel-cacheability.ts), the decision is a function of
// identity, connection and the statements' other facts, so it is cached per
// identity object and connection, found by those facts (facts-match.ts). Never
// cached: decisions with errors. Bounds: decision-cache.ts; decisionCacheStats().
import {
  CachingConverter,
  DEFAULT_ACTIVATION_LIMITS,
  identityFields,
  sameIdentityFields,
  type Activation,
  type ActivationLimits,
  type CelBindings,
  type ConnectionFacts,
  type Identity,
  type IdentityFields,
  type ProtocolVariable,
} from './activation.js';
import { DEFAULT_CEL_LIMITS, DEFAULT_EVAL_LIMITS, EvalBudget, type CelLimits, type EvalLimits } from './cel-bounds.js';
import { CelCompiler, type CelProgram, type ExpressionError } from './cel-program.js';
import {
  DEFAULT_DECISION_CACHE_LIMITS,
  DecisionCachePool,
  type ConnectionDecisionCache,
  type DecisionCacheLimits,
  type DecisionCacheStats,
} from './decision-cache.js';
import { hashStatements, snapshotStatements, type FactsLimits } from './facts-match.js';
export { lintExpression } from './cel-program.js';
import {
  ActivationInvalidError,
  ActivationLimitError,
  PolicyCompileError,
  PolicySetCompileError,
  type PolicyCompileErrorReason,
} from './errors.js';
import { matchesLabelSelector, validateLabelSelector } from './label-selector.js';
import type { AccessPolicyLike, LabelSelectorLike, MaskingSpecLike, SubjectLike } from './policy-input.js';
import {
  mergeMasking,
  mergeSessionSettings,
  normalizeApproval,
  normalizeSession,
  validateMasking,
  type ApprovalSettings,
  type MaskingSettings,
  type SessionSettings,
} from './policy-settings.js';
import { subjectMatches, validateSubject } from './subject-match.js';

export type PolicyAction = 'allow' | 'deny' | 'review';
const ACTIONS: ReadonlySet<string> = new Set<PolicyAction>(['allow', 'deny', 'review']);

export const DEFAULT_DENY_MESSAGE = 'no policy allows this (default deny)';
/** Stands in for a rule name when a whole policy is invalid. */
export const INVALID_POLICY_RULE = '(invalid policy)';

/** A rule whose `when` was true (or that failed, counted as deny). */
export interface RuleMatch {
  /** "namespace/name" */
  policy: string;
  rule: string;
  action: PolicyAction;
}

/** Why a rule or the request could not be evaluated. Messages never carry request values. */
export interface DecisionError {
  policy?: string | undefined;
  rule?: string | undefined;
  message: string;
}

export interface Decision {
  action: PolicyAction;
  /** "namespace/name" of the deciding policy (absent for default deny and oversized requests) */
  policy?: string | undefined;
  /** the deciding rule */
  rule?: string | undefined;
  /** human-readable, names the policy and rule */
  message: string;
  /** the deciding policy's approval settings, when action is review */
  approval?: ApprovalSettings | undefined;
  /** every rule that matched (or failed), in stable order: policy namespace/name, then rule order */
  matched: RuleMatch[];
  errors?: DecisionError[] | undefined;
}

/** A policy that applies to an identity and connection, with its settings. */
export interface AppliedPolicy {
  /** "namespace/name" */
  key: string;
  namespace: string;
  name: string;
  /** false when the policy did not compile (it then denies everything it applies to) */
  valid: boolean;
  ruleNames: string[];
  approval?: ApprovalSettings | undefined;
  session: SessionSettings;
  masking?: MaskingSpecLike | undefined;
}

export interface PolicyEngineOptions {
  celLimits?: Partial<CelLimits>;
  evalLimits?: Partial<EvalLimits>;
  activationLimits?: Partial<ActivationLimits>;
  /** bounds of the decision cache (see the header); false turns it off */
  decisionCache?: Partial<DecisionCacheLimits> | false;
}

interface CompiledRule {
  name: string;
  action: PolicyAction;
  message: string | undefined;
  program: CelProgram;
  /** PROTOCOL_BITS of the protocol variables the rule mentions (0: none, it applies to every operation) */
  protocolBits: number;
  /** reads no text, now or session (cel-cacheability.ts) */
  cacheable: boolean;
}

const PROTOCOL_BITS: Readonly<Record<ProtocolVariable, number>> = { sql: 1, ssh: 2, http: 4 };

function protocolBitsOf(protocols: Iterable<ProtocolVariable>): number {
  let bits = 0;
  for (const p of protocols) bits |= PROTOCOL_BITS[p];
  return bits;
}

function presentProtocolBits(a: Activation): number {
  return (a.sql !== undefined ? 1 : 0) | (a.ssh !== undefined ? 2 : 0) | (a.http !== undefined ? 4 : 0);
}

// Applicability of one identity object, per connection name (see PolicyEngine.matching).
interface ApplicabilityEntry extends IdentityFields {
  readonly byConnection: Map<string, ConnectionEntry>;
}

interface ConnectionEntry {
  readonly policies: CompiledPolicy[];
  /** every policy valid, and every rule an SQL request reaches cacheable */
  readonly sqlCacheable: boolean;
  cache: ConnectionDecisionCache | undefined;
  // the connection facts the cache's decisions were made with (decisions may read them)
  protocol: string;
  host: string;
  port: number;
  labels: ConnectionFacts['labels'] | undefined;
}

function sqlCacheable(policies: readonly CompiledPolicy[]): boolean {
  return policies.every(
    (p) =>
      p.invalid === undefined &&
      // a rule that names only ssh/http is skipped for an SQL request (see decide)
      p.rules.every((r) => r.cacheable || (r.protocolBits !== 0 && (r.protocolBits & PROTOCOL_BITS.sql) === 0)),
  );
}

// Field by field, as CachingConverter converts them: another object with the same facts is the same connection.
function sameConnectionFacts(e: ConnectionEntry, c: ConnectionFacts): boolean {
  if (e.protocol !== c.protocol || e.host !== c.host || e.port !== c.port) return false;
  if (e.labels === c.labels) return true;
  if (e.labels === undefined || !sameOrderedRecord(e.labels, c.labels)) return false;
  e.labels = c.labels; // the next call compares references
  return true;
}

// Same own keys in the same order (CEL iterates maps in insertion order) with identical values.
function sameOrderedRecord(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  if (typeof b !== 'object' || b === null || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string;
    if (k !== kb[i] || a[k] !== b[k]) return false;
  }
  return true;
}

function isValidDate(d: unknown): boolean {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

function isCount(n: unknown): boolean {
  return typeof n === 'number' || typeof n === 'bigint';
}

// Stored decisions are shared by every later hit.
function freezeDecision(d: Decision): Decision {
  for (const m of d.matched) Object.freeze(m);
  Object.freeze(d.matched);
  return Object.freeze(d);
}
// Connection names come from the sidecar's configuration, but bound the map anyway.
const MAX_CONNECTIONS_PER_IDENTITY = 64;

interface CompiledPolicy {
  key: string;
  namespace: string | undefined; // undefined (invalid) applies in every namespace
  name: string;
  selector: LabelSelectorLike | undefined;
  selectorValid: boolean;
  subjects: readonly SubjectLike[];
  subjectsValid: boolean;
  connections: ReadonlySet<string> | undefined; // undefined (invalid) applies to every connection
  rules: CompiledRule[];
  ruleNames: string[];
  invalid: PolicyCompileError | undefined;
  approval: ApprovalSettings | undefined;
  session: SessionSettings;
  masking: MaskingSpecLike | undefined;
}

/**
 * Compiles the policies. Every policy is kept: one with errors is kept as an
 * invalid policy that denies whatever it applies to. The errors are returned
 * for the CLI lint and the admission webhook to print.
 */
export function compilePolicies(
  policies: readonly AccessPolicyLike[],
  options: PolicyEngineOptions = {},
): { engine: PolicyEngine; errors: PolicyCompileError[] } {
  const celLimits: CelLimits = { ...DEFAULT_CEL_LIMITS, ...options.celLimits };
  const compiler = new CelCompiler(celLimits);
  const cache = new Map<string, ReturnType<CelCompiler['compile']>>();
  const compileWhen = (when: string): ReturnType<CelCompiler['compile']> => {
    let r = cache.get(when);
    if (r === undefined) {
      r = compiler.compile(when);
      cache.set(when, r);
    }
    return r;
  };

  const errors: PolicyCompileError[] = [];
  const compiled: CompiledPolicy[] = [];
  const seen = new Set<string>();
  for (const policy of policies) {
    const c = compileOne(policy, compileWhen, celLimits, errors);
    if (seen.has(c.key)) {
      const dup = new PolicyCompileError({
        policy: c.key,
        field: 'metadata',
        message: 'the same policy is given twice',
        reason: 'invalid-policy',
      });
      errors.push(dup);
      c.invalid ??= dup;
    }
    seen.add(c.key);
    compiled.push(c);
  }
  compiled.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const engine = new PolicyEngine(compiled, {
    eval: { ...DEFAULT_EVAL_LIMITS, ...options.evalLimits },
    activation: { ...DEFAULT_ACTIVATION_LIMITS, ...options.activationLimits },
    decisionCache: options.decisionCache === false ? false : { ...DEFAULT_DECISION_CACHE_LIMITS, ...options.decisionCache },
  });
  return { engine, errors };
}

function compileOne(
  policy: AccessPolicyLike,
  compileWhen: (when: string) => ReturnType<CelCompiler['compile']>,
  celLimits: CelLimits,
  errors: PolicyCompileError[],
): CompiledPolicy {
  const meta = policy?.metadata;
  const namespace = typeof meta?.namespace === 'string' && meta.namespace !== '' ? meta.namespace : undefined;
  const name = typeof meta?.name === 'string' && meta.name !== '' ? meta.name : '(unnamed)';
  const key = `${namespace ?? '(no namespace)'}/${name}`;
  const spec = policy?.spec ?? {};
  const mine: PolicyCompileError[] = [];
  const fail = (field: string, message: string, reason: PolicyCompileErrorReason = 'invalid-policy', rule?: string): void => {
    mine.push(new PolicyCompileError({ policy: key, field, message, reason, rule }));
  };
  const problems = (list: string[]): void => {
    for (const p of list) {
      const i = p.indexOf(': ');
      fail(i > 0 ? p.slice(0, i) : 'spec', i > 0 ? p.slice(i + 2) : p);
    }
  };

  if (namespace === undefined) fail('metadata.namespace', 'required');
  if (name === '(unnamed)') fail('metadata.name', 'required');

  const selectorProblems = validateLabelSelector(spec.podSelector, 'spec.podSelector');
  problems(selectorProblems);

  const subjects = Array.isArray(spec.subjects) ? spec.subjects : [];
  let subjectsValid = Array.isArray(spec.subjects) && subjects.length > 0;
  if (!subjectsValid) fail('spec.subjects', 'name at least one subject');
  subjects.forEach((s, i) => {
    const p = validateSubject(s, `spec.subjects[${i}]`);
    if (p.length > 0) subjectsValid = false;
    problems(p);
  });

  let connections: Set<string> | undefined;
  if (!Array.isArray(spec.connections) || spec.connections.length === 0) {
    fail('spec.connections', 'name at least one connection');
  } else if (spec.connections.some((c) => typeof c !== 'string' || c === '')) {
    fail('spec.connections', 'must be a list of connection names');
  } else {
    connections = new Set(spec.connections);
  }

  const rules: CompiledRule[] = [];
  const ruleNames: string[] = [];
  const rulesIn = Array.isArray(spec.rules) ? spec.rules : [];
  if (!Array.isArray(spec.rules) || rulesIn.length === 0) fail('spec.rules', 'name at least one rule');
  let hasReview = false;
  rulesIn.forEach((rule, i) => {
    const field = `spec.rules[${i}]`;
    const ruleName = typeof rule?.name === 'string' && rule.name !== '' ? rule.name : undefined;
    if (ruleName === undefined) fail(`${field}.name`, 'required');
    else if (ruleNames.includes(ruleName)) fail(`${field}.name`, `duplicate rule name ${JSON.stringify(ruleName)}`, 'invalid-policy', ruleName);
    const label = ruleName ?? `#${i}`;
    ruleNames.push(label);
    const action = rule?.action;
    if (!ACTIONS.has(action)) {
      fail(`${field}.action`, `must be allow, deny or review (got ${JSON.stringify(action)})`, 'invalid-policy', label);
    }
    if (action === 'review') hasReview = true;
    if (rule?.message !== undefined && rule.message !== null && typeof rule.message !== 'string') {
      fail(`${field}.message`, 'must be a string', 'invalid-policy', label);
    }
    const when = rule?.when;
    if (typeof when !== 'string') {
      fail(`${field}.when`, 'required (a CEL expression)', 'syntax', label);
      return;
    }
    const r = compileWhen(when);
    if (!r.ok) {
      mine.push(expressionError(key, `${field}.when`, label, when, r.error));
      return;
    }
    if (ACTIONS.has(action)) {
      rules.push({
        name: label,
        action: action as PolicyAction,
        message: rule.message ?? undefined,
        program: r.program,
        protocolBits: protocolBitsOf(r.program.protocols),
        cacheable: r.program.cacheability.cacheable,
      });
    }
  });

  const settingProblems: string[] = [];
  const approval = normalizeApproval(spec.approval, 'spec.approval', settingProblems);
  if (hasReview && approval === undefined) {
    settingProblems.push('spec.approval: a policy with a review rule needs approval settings (approvers)');
  }
  const session = normalizeSession(spec.session, 'spec.session', settingProblems);
  validateMasking(spec.masking, 'spec.masking', settingProblems, celLimits.maxRegexLength);
  problems(settingProblems);

  errors.push(...mine);
  return {
    key,
    namespace,
    name,
    selector: spec.podSelector,
    selectorValid: selectorProblems.length === 0,
    subjects,
    subjectsValid,
    connections,
    rules,
    ruleNames,
    invalid: mine[0],
    approval,
    session,
    masking: spec.masking,
  };
}

function expressionError(policy: string, field: string, rule: string, expression: string, e: ExpressionError): PolicyCompileError {
  return new PolicyCompileError({
    policy,
    field,
    rule,
    expression,
    message: e.message,
    reason: e.reason,
    line: e.line,
    column: e.column,
  });
}

/**
 * Immutable once compiled, so it caches per identity and connection object:
 * which policies apply (per identity object and connection name) and the CEL
 * values of `identity` and `connection`. Callers must therefore not mutate an
 * Identity or ConnectionFacts object (or what it holds) after passing it in;
 * a session builds them once and passes the same objects with every
 * operation. A reassigned field (e.g. `identity.pod = ...`) is noticed; an
 * in-place change inside groups, claims or labels is not.
 */
export class PolicyEngine {
  readonly #converter: CachingConverter;
  readonly #applicability = new WeakMap<Identity, ApplicabilityEntry>();
  readonly #cache: DecisionCachePool | undefined;
  readonly #factsLimits: FactsLimits;

  /** @internal use compilePolicies() or PolicyEngine.compile() */
  constructor(
    private readonly policies: readonly CompiledPolicy[],
    private readonly limits: { eval: EvalLimits; activation: ActivationLimits; decisionCache?: DecisionCacheLimits | false },
  ) {
    this.#converter = new CachingConverter(limits.activation);
    const cache = limits.decisionCache ?? DEFAULT_DECISION_CACHE_LIMITS;
    this.#cache = cache !== false && cache.maxEntriesPerConnection > 0 && cache.maxTotalSize > 0 ? new DecisionCachePool(cache) : undefined;
    this.#factsLimits = {
      maxStringLength: limits.activation.maxStringLength,
      maxDepth: limits.activation.maxDepth,
      maxSnapshotSize: cache === false ? 0 : cache.maxFactsSize,
    };
  }

  /** Compiles the policies; throws PolicySetCompileError (with every error) if any policy has one. */
  static compile(policies: readonly AccessPolicyLike[], options: PolicyEngineOptions = {}): PolicyEngine {
    const { engine, errors } = compilePolicies(policies, options);
    if (errors.length > 0) throw new PolicySetCompileError(errors);
    return engine;
  }

  /** "namespace/name" of every policy, in evaluation order. */
  get policyKeys(): string[] {
    return this.policies.map((p) => p.key);
  }

  /** The policies that apply to this identity (and its pod) on this connection, in stable order. */
  applicable(identity: Identity, connectionName: string): AppliedPolicy[] {
    return this.matching(identity, connectionName).map((p) => ({
      key: p.key,
      namespace: p.namespace ?? '',
      name: p.name,
      valid: p.invalid === undefined,
      ruleNames: [...p.ruleNames],
      approval: p.approval,
      session: { ...p.session },
      masking: p.masking,
    }));
  }

  /** Masking and session settings of the applicable policies, merged (strictest wins). */
  settings(identity: Identity, connectionName: string): { policies: AppliedPolicy[]; masking: MaskingSettings; session: SessionSettings } {
    const policies = this.applicable(identity, connectionName);
    return { policies, ...mergeAppliedSettings(policies) };
  }

  /** Counters of the decision cache (all zero when it is off). */
  decisionCacheStats(): DecisionCacheStats {
    const pool = this.#cache;
    if (pool === undefined) return { hits: 0, misses: 0, bypassed: 0, evictions: 0, entries: 0 };
    return { ...pool.stats, entries: pool.entries };
  }

  /**
   * Evaluates every rule of every applicable policy; deny > review > allow;
   * nothing matching is deny. A decision from the cache is frozen (and shared).
   */
  decide(activation: Activation): Decision {
    const entry = this.#connectionEntry(activation.identity, activation.connection.name);
    const applicable = entry.policies;
    if (applicable.length === 0) return { action: 'deny', message: DEFAULT_DENY_MESSAGE, matched: [] };

    const pool = this.#cache;
    let cache: ConnectionDecisionCache | undefined;
    let hash: number | undefined;
    if (pool !== undefined) {
      hash = entry.sqlCacheable ? this.#factsHash(activation) : undefined;
      if (hash === undefined) {
        pool.stats.bypassed++;
      } else {
        cache = this.#cacheOf(entry, pool, activation.connection);
        // #factsHash checked that sql.statements is a list
        const hit = cache.get(hash, activation.sql?.statements ?? [], this.#factsLimits);
        if (hit !== undefined) {
          pool.stats.hits++;
          return hit;
        }
        pool.stats.misses++;
      }
    }
    const decision = this.#evaluate(activation, applicable);
    // Errors include the wall-clock budget: never cached. A conversion that failed has errors too.
    if (cache !== undefined && hash !== undefined && decision.errors === undefined && cache.admit(hash)) {
      const facts = snapshotStatements(activation.sql?.statements, this.#factsLimits);
      if (facts !== undefined) cache.set(hash, facts, freezeDecision(decision));
    }
    return decision;
  }

  /**
   * The facts hash of an SQL request, or undefined when it must be evaluated.
   * What the cache does not compare (the texts, session, now) must be such
   * that the activation conversion cannot fail on it, so that a hit, whose
   * facts once converted, stands for a successful conversion.
   */
  #factsHash(a: Activation): number | undefined {
    const sql = a.sql;
    if (sql === undefined || a.ssh !== undefined || a.http !== undefined) return undefined;
    const maxString = this.#factsLimits.maxStringLength;
    if (typeof sql.text !== 'string' || sql.text.length > maxString) return undefined;
    const s = a.session;
    if (typeof s.id !== 'string' || s.id.length > maxString || !isValidDate(s.startedAt)) return undefined;
    if (!isCount(s.statements) || !isCount(s.denied) || !isValidDate(a.now)) return undefined;
    return hashStatements(sql.statements, this.#factsLimits);
  }

  // The entry's cache, new when the connection's facts are not the ones its decisions were made with.
  #cacheOf(entry: ConnectionEntry, pool: DecisionCachePool, c: ConnectionFacts): ConnectionDecisionCache {
    if (entry.cache !== undefined && sameConnectionFacts(entry, c)) return entry.cache;
    if (entry.cache !== undefined) pool.detach(entry.cache);
    entry.protocol = c.protocol;
    entry.host = c.host;
    entry.port = c.port;
    entry.labels = c.labels;
    entry.cache = pool.create();
    return entry.cache;
  }

  #evaluate(activation: Activation, applicable: readonly CompiledPolicy[]): Decision {
    let bindings: CelBindings;
    try {
      bindings = this.#converter.bindings(activation);
    } catch (err) {
      if (err instanceof ActivationLimitError || err instanceof ActivationInvalidError) {
        return { action: 'deny', message: err.message, matched: [], errors: [{ message: err.message }] };
      }
      throw err;
    }

    const present = presentProtocolBits(activation);
    const budget = EvalBudget.start(this.limits.eval);
    const matched: RuleMatch[] = [];
    const messages: string[] = []; // messages[i] belongs to matched[i]
    let errors: DecisionError[] | undefined;

    for (const p of applicable) {
      if (p.invalid !== undefined) {
        const message = `policy ${p.key} is invalid and denies everything it applies to: ${p.invalid.message}`;
        const rule = p.invalid.rule ?? INVALID_POLICY_RULE;
        matched.push({ policy: p.key, rule, action: 'deny' });
        messages.push(message);
        (errors ??= []).push({ policy: p.key, rule, message });
        continue;
      }
      for (const r of p.rules) {
        // A rule about SQL says nothing about an SSH command or an HTTP request.
        if (r.protocolBits !== 0 && (r.protocolBits & present) === 0) continue;
        const outcome = r.program.evaluate(bindings, budget.forRule());
        if (!outcome.ok) {
          const at = outcome.line !== undefined ? `, at ${outcome.line}:${outcome.column ?? 1}` : '';
          const message = `rule ${r.name} failed to evaluate: ${outcome.reason} (policy ${p.key}${at})`;
          matched.push({ policy: p.key, rule: r.name, action: 'deny' });
          messages.push(message);
          (errors ??= []).push({ policy: p.key, rule: r.name, message });
        } else if (outcome.value) {
          matched.push({ policy: p.key, rule: r.name, action: r.action });
          messages.push(ruleMessage(r, p.key));
        }
      }
    }

    for (const action of ['deny', 'review', 'allow'] as const) {
      const i = matched.findIndex((m) => m.action === action);
      const first = matched[i];
      if (first === undefined) continue;
      const approval = action === 'review' ? applicable.find((p) => p.key === first.policy)?.approval : undefined;
      return {
        action,
        policy: first.policy,
        rule: first.rule,
        message: messages[i] ?? DEFAULT_DENY_MESSAGE,
        approval,
        matched,
        errors,
      };
    }
    return { action: 'deny', message: DEFAULT_DENY_MESSAGE, matched, errors };
  }

  private matching(identity: Identity, connectionName: string): CompiledPolicy[] {
    return this.#connectionEntry(identity, connectionName).policies;
  }

  // Cached per identity object and connection name: the engine never changes
  // and (by contract) neither does the identity; a reassigned field starts over
  // (and drops the decisions cached for the old fields).
  #connectionEntry(identity: Identity, connectionName: string): ConnectionEntry {
    let entry = this.#applicability.get(identity);
    if (entry === undefined || !sameIdentityFields(entry, identity)) {
      if (entry !== undefined) this.#dropCaches(entry);
      entry = { ...identityFields(identity), byConnection: new Map() };
      this.#applicability.set(identity, entry);
    }
    let found = entry.byConnection.get(connectionName);
    if (found === undefined) {
      const policies = this.policies.filter((p) => applies(p, identity, connectionName));
      if (entry.byConnection.size >= MAX_CONNECTIONS_PER_IDENTITY) this.#dropCaches(entry);
      found = { policies, sqlCacheable: sqlCacheable(policies), cache: undefined, protocol: '', host: '', port: 0, labels: undefined };
      entry.byConnection.set(connectionName, found);
    }
    return found;
  }

  #dropCaches(entry: ApplicabilityEntry): void {
    for (const c of entry.byConnection.values()) {
      if (c.cache !== undefined) this.#cache?.detach(c.cache);
    }
    entry.byConnection.clear();
  }
}

function ruleMessage(r: CompiledRule, policy: string): string {
  const verb = r.action === 'allow' ? 'allowed by' : r.action === 'deny' ? 'denied by' : 'review required by';
  const base = `${verb} policy ${policy} rule ${r.name}`;
  return r.message !== undefined && r.message !== '' ? `${base}: ${r.message}` : base;
}

// An invalid part widens applicability (fail closed: an invalid policy denies
// what it applies to, so it must not quietly apply to less).
function applies(p: CompiledPolicy, identity: Identity, connectionName: string): boolean {
  const pod = identity.pod;
  if (p.namespace !== undefined && pod.namespace !== p.namespace) return false;
  if (p.selectorValid && !matchesLabelSelector(p.selector, pod.labels)) return false;
  if (p.connections !== undefined && !p.connections.has(connectionName)) return false;
  if (p.subjectsValid && !p.subjects.some((s) => subjectMatches(s, identity, p.namespace ?? pod.namespace))) return false;
  return true;
}

/** Merges masking and session settings of applied policies (skipping invalid ones, which deny anyway). */
export function mergeAppliedSettings(policies: readonly AppliedPolicy[]): { masking: MaskingSettings; session: SessionSettings } {
  const valid = policies.filter((p) => p.valid);
  return {
    masking: mergeMasking(valid.map((p) => ({ policy: p.key, masking: p.masking }))),
    session: mergeSessionSettings(valid.map((p) => p.session)),
  };
}
