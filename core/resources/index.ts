// The agentgate resource contract in one import: generated types and
// constants, the CRDs as objects, and offline loading and validation.
export * from './generated.js';
export { CRDS } from './generated-crds.js';
export type { CustomResourceDefinition, JSONSchemaProps, ValidationRule } from './schema-types.js';
export {
  agentgateKindOf,
  isAgentgateDocument,
  isStructural,
  loadManifests,
  ruleCheckFor,
  RULES_SKIPPED_MESSAGE,
  structuralErrors,
  validateResource,
  withDefaults,
  type ValidateOptions,
  type ValidationError,
  type ValidationResult,
} from './validate.js';
export { durationMs } from './rules.js';
export { ManifestParseError, ResourceError } from './errors.js';
