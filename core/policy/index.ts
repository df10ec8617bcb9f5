// core/policy: the CEL policy engine shared by the CLI (lint, test), the
// sidecar (decisions on every operation) and the operator (admission: a policy
// that does not compile is refused with the error and its position).
// Compile once, evaluate under bounds, deny > review > allow > default deny.
export * from './activation.js';
export * from './cel-bounds.js';
export { CelCompiler, createCelEnv, sanitizeMessage } from './cel-program.js';
export type { CelProgram, EvalOutcome, ExpressionError } from './cel-program.js';
export { classifyCacheability, type Cacheability } from './cel-cacheability.js';
export { DEFAULT_DECISION_CACHE_LIMITS, type DecisionCacheLimits, type DecisionCacheStats } from './decision-cache.js';
export * from './duration.js';
export * from './engine.js';
export * from './errors.js';
export * from './label-selector.js';
export type * from './policy-input.js';
export * from './policy-settings.js';
export * from './subject-match.js';
