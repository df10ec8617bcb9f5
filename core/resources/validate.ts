// Offline validation of agentgate resources, as the API server would admit
// them: defaults applied, the CRD's OpenAPI schema checked (with strict field
// validation: unknown fields are errors, like `kubectl apply`), then the CRD's
// CEL rules through their TypeScript mirror (rules.ts). Used by the CLI, the
// tests and anything that reads manifests without a cluster.
import { applyDefaults } from './defaults.js';
import { child, mapKey, quote, shown, ROOT_PATH, type ValidationError } from './field-path.js';
import { CRDS } from './generated-crds.js';
import { API_VERSION, GROUP, KINDS, type AgentgateKind, type AgentgateResource } from './generated.js';
import { RULE_CHECKS, type RuleCheck } from './rules.js';
import { ruleSites } from './rule-sites.js';
import { isObject, validateSchema, type SchemaError } from './schema-validator.js';
import type { JSONSchemaProps } from './schema-types.js';

export { loadManifests } from './manifests.js';
export { isStructural, structuralErrors } from './structural.js';
export type { ValidationError } from './field-path.js';

export type ValidationResult = { ok: true; resource: AgentgateResource } | { ok: false; errors: ValidationError[] };

export interface ValidateOptions {
  /**
   * The stored object this document would replace. When given, rules that
   * compare with the old value (immutability, phase transitions) run too.
   */
  oldResource?: unknown;
}

const SCHEMAS: ReadonlyMap<string, JSONSchemaProps> = new Map(
  CRDS.map((crd) => [crd.spec.names.kind, crd.spec.versions[0]?.schema.openAPIV3Schema ?? {}]),
);

/** The message the API server adds when it skips CEL rules because of earlier errors. */
export const RULES_SKIPPED_MESSAGE = 'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** The agentgate kind of a parsed document, or undefined for anything else (Secrets, …). */
export function agentgateKindOf(doc: unknown): AgentgateKind | undefined {
  if (!isObject(doc) || doc['apiVersion'] !== API_VERSION) return undefined;
  const kind = doc['kind'];
  return (KINDS as readonly unknown[]).includes(kind) ? (kind as AgentgateKind) : undefined;
}

/** True for any document in the agentgate.dev group (whatever its version or kind). */
export function isAgentgateDocument(doc: unknown): boolean {
  return isObject(doc) && typeof doc['apiVersion'] === 'string' && doc['apiVersion'].startsWith(`${GROUP}/`);
}

/** The document with the CRD schema's defaults applied (a copy; non-agentgate documents are copied unchanged). */
export function withDefaults<T>(resource: T): T {
  const kind = agentgateKindOf(resource);
  const schema = kind === undefined ? undefined : SCHEMAS.get(kind);
  return (schema === undefined ? structuredClone(resource) : applyDefaults(resource, schema)) as T;
}

/**
 * Validates one parsed document against its CRD: schema, then the CEL rules.
 * On success returns the defaulted resource (what the API server would store).
 */
export function validateResource(doc: unknown, options: ValidateOptions = {}): ValidationResult {
  if (!isObject(doc)) return fail([{ path: ROOT_PATH, message: 'Invalid value: a resource must be a YAML/JSON object' }]);
  const kind = agentgateKindOf(doc);
  if (kind === undefined) return fail(identifyErrors(doc));
  const schema = SCHEMAS.get(kind);
  if (schema === undefined) return fail([{ path: 'kind', message: `no schema for kind ${kind}` }]);

  const value = applyDefaults(doc, schema);
  const schemaErrors: SchemaError[] = [];
  validateSchema(value, schema, '', schemaErrors, { metadata: checkMetadata });
  const errors: ValidationError[] = schemaErrors.map(({ path, message }) => ({ path, message }));
  if (schemaErrors.some((e) => e.blocking)) {
    errors.push({ path: ROOT_PATH, message: RULES_SKIPPED_MESSAGE });
  } else {
    const old = options.oldResource === undefined ? undefined : applyDefaults(options.oldResource, schema);
    runRules(kind, value, old, schema, errors);
  }
  return errors.length === 0 ? { ok: true, resource: value as AgentgateResource } : fail(errors);
}

function fail(errors: ValidationError[]): ValidationResult {
  return { ok: false, errors };
}

function identifyErrors(doc: Record<string, unknown>): ValidationError[] {
  const apiVersion = doc['apiVersion'];
  const kind = doc['kind'];
  const errors: ValidationError[] = [];
  if (apiVersion === undefined) errors.push({ path: 'apiVersion', message: 'Required value' });
  else if (apiVersion !== API_VERSION) {
    errors.push({ path: 'apiVersion', message: `Unsupported value: ${quote(apiVersion)}: supported values: "${API_VERSION}"` });
  }
  if (kind === undefined) errors.push({ path: 'kind', message: 'Required value' });
  else if (!(KINDS as readonly unknown[]).includes(kind)) {
    errors.push({ path: 'kind', message: `Unsupported value: ${quote(kind)}: supported values: ${KINDS.map((k) => `"${k}"`).join(', ')}` });
  }
  return errors;
}

// ObjectMeta as the API server validates it for a namespaced custom resource,
// plus the CRD's own restrictions of metadata.name.
function checkMetadata(value: unknown, schema: JSONSchemaProps, path: string, errors: SchemaError[]): void {
  const err = (at: string, message: string, blocking = false): void => {
    errors.push({ path: at, message, blocking });
  };
  if (!isObject(value)) {
    err(path, 'Invalid value: metadata must be an object', true);
    return;
  }
  const name = value['name'];
  const generateName = value['generateName'];
  if (name === undefined && generateName === undefined) err(child(path, 'name'), 'Required value: name or generateName is required', true);
  for (const [k, v] of [['name', name], ['generateName', generateName]] as const) {
    if (v === undefined) continue;
    if (typeof v !== 'string') {
      err(child(path, k), 'Invalid value: must be of type string', true);
      continue;
    }
    if (k === 'name' && (v === '' || v === '.' || v === '..' || /[/%]/.test(v))) {
      err(child(path, k), `Invalid value: ${quote(v)}: may not be '.', '..' or contain '/' or '%'`);
    }
    const own = schema.properties?.[k];
    if (own !== undefined) validateSchema(v, own, child(path, k), errors);
  }
  const ns = value['namespace'];
  if (ns !== undefined && (typeof ns !== 'string' || ns.length > 63 || !DNS_LABEL.test(ns))) {
    err(child(path, 'namespace'), `Invalid value: ${quote(ns)}: a lowercase RFC 1123 label (at most 63 characters)`);
  }
  checkStringMap(value['labels'], child(path, 'labels'), true, err);
  checkStringMap(value['annotations'], child(path, 'annotations'), false, err);
}

function checkStringMap(v: unknown, path: string, labels: boolean, err: (at: string, message: string, blocking?: boolean) => void): void {
  if (v === undefined) return;
  if (!isObject(v)) {
    err(path, 'Invalid value: must be a map of strings', true);
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') {
      err(mapKey(path, k), 'Invalid value: must be of type string', true);
      continue;
    }
    if (!labels) continue;
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const nameOnly = slash >= 0 ? k.slice(slash + 1) : k;
    if ((prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) || nameOnly.length > 63 || !LABEL_NAME.test(nameOnly)) {
      err(mapKey(path, k), `Invalid value: ${quote(k)}: not a valid label key`);
    }
    if (val.length > 63 || !LABEL_VALUE.test(val)) err(mapKey(path, k), `Invalid value: ${quote(val)}: not a valid label value`);
  }
}

const CHECKS = new Map<string, RuleCheck>(RULE_CHECKS.map((c) => [`${c.kind} ${c.at} ${c.rule}`, c]));

/** The TypeScript check for a CRD rule, if there is one. */
export function ruleCheckFor(kind: AgentgateKind, at: string, rule: string): RuleCheck | undefined {
  return CHECKS.get(`${kind} ${at} ${rule}`);
}

function runRules(kind: AgentgateKind, value: unknown, old: unknown, schema: JSONSchemaProps, errors: ValidationError[]): void {
  for (const site of ruleSites(value, old, schema)) {
    const c = ruleCheckFor(kind, site.at, site.rule.rule);
    const message = site.rule.message ?? `failed rule: ${site.rule.rule}`;
    const path = shown(site.path);
    if (c === undefined) {
      // Fail closed: a rule without its offline mirror must not pass silently.
      errors.push({ path, message: `Internal error: rule has no offline check (${site.rule.rule})` });
    } else if (c.transition !== undefined) {
      if (site.oldSelf !== undefined && site.oldSelf !== null && !c.transition(site.self, site.oldSelf)) errors.push({ path, message: `Invalid value: ${message}` });
    } else if (c.check !== undefined && !c.check(site.self)) {
      errors.push({ path, message: `Invalid value: ${message}` });
    }
  }
}
