// Masking: content detectors (linear-time scanners + RE2 custom patterns),
// strategies (redact, partial, keyed hash, null), JSON field paths, and the
// per-policy compiled masking used by every protocol's data path. Compile once
// when configuration loads (compileMasking); the hot path only evaluates.
export * from './errors.js';
export * from './strategies.js';
export * from './detectors.js';
export type { Scanner } from './detector-types.js';
export { DETECTOR_TYPES } from './detector-types.js';
export { parseJsonPath, JsonPathMatcher, type JsonPathRule, type PathSegment, type PathStates } from './json-path.js';
export { MAX_JSON_DEPTH, type JsonTextResult } from './json-masker.js';
export * from './masker.js';
export * from './pg-value-masker.js';
export * from './lineage-rules.js';
export * from './pg-copy-masker.js';
export * from './pg-error-masker.js';
export { HmacSha256 } from './hmac-sha256.js';
