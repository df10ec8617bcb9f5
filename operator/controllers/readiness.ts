// Pure readiness decisions for the reconcilers: given a resource and what
// exists around it, the Ready condition it should carry. No I/O, table-tested.
import type { PolicyCompileError } from '../../core/policy/errors.js';
import type { ConditionInput } from '../kube/conditions.js';
import { formatCompileError } from '../webhooks/policy-validator.js';

export const REASONS = {
  valid: 'Valid',
  expressionInvalid: 'ExpressionInvalid',
  policyInvalid: 'PolicyInvalid',
  connectionNotFound: 'ConnectionNotFound',
  secretNotFound: 'SecretNotFound',
  secretKeyMissing: 'SecretKeyMissing',
  expired: 'Expired',
} as const;

const EXPRESSION_REASONS = new Set(['syntax', 'bounds', 'unknown-variable', 'unknown-function', 'not-boolean']);

export function policyReadiness(
  generation: number | undefined, ruleCount: number, errors: readonly PolicyCompileError[], connections: readonly string[], connectionExists: (name: string) => boolean,
): ConditionInput {
  const base = { type: 'Ready', ...(generation !== undefined ? { observedGeneration: generation } : {}) };
  if (errors.length > 0) {
    const expr = errors.some((e) => EXPRESSION_REASONS.has(e.reason));
    return { ...base, status: 'False', reason: expr ? REASONS.expressionInvalid : REASONS.policyInvalid, message: errors.map(formatCompileError).join('\n') };
  }
  const missing = connections.filter((c) => !connectionExists(c));
  if (missing.length > 0) {
    return { ...base, status: 'False', reason: REASONS.connectionNotFound, message: `Connection${missing.length > 1 ? 's' : ''} not found in the namespace: ${missing.join(', ')}` };
  }
  return { ...base, status: 'True', reason: REASONS.valid, message: `${ruleCount} rule${ruleCount === 1 ? '' : 's'} compiled; connections: ${connections.join(', ') || '(none)'}` };
}

/** A Secret the Connection needs, and the keys it must hold, with the field that asks for each. */
export interface SecretRequirement {
  name: string;
  keys: Array<{ key: string; field: string }>;
}

interface ConnectionSpecForSecrets {
  protocol?: string;
  tls?: { caSecretRef?: { name: string; key?: string } };
  credentials?: {
    secretRef?: { name: string; usernameKey?: string; passwordKey?: string; privateKeyKey?: string; tokenKey?: string };
    jit?: {
      postgres?: { adminSecretRef?: { name: string; usernameKey?: string; passwordKey?: string } };
      ssh?: { caSecretRef?: { name: string; key?: string } };
    };
  };
}

/** Which Secrets and keys a Connection needs (defaults as in crds/connections.yaml). */
export function secretRequirements(spec: ConnectionSpecForSecrets | undefined): SecretRequirement[] {
  const reqs = new Map<string, SecretRequirement>();
  const need = (name: string, key: string, field: string): void => {
    let r = reqs.get(name);
    if (!r) reqs.set(name, (r = { name, keys: [] }));
    if (!r.keys.some((k) => k.key === key)) r.keys.push({ key, field });
  };
  const s = spec ?? {};
  const ref = s.credentials?.secretRef;
  if (ref) {
    const p = 'spec.credentials.secretRef';
    if (s.protocol === 'postgres') {
      need(ref.name, ref.usernameKey ?? 'username', `${p}.usernameKey`);
      need(ref.name, ref.passwordKey ?? 'password', `${p}.passwordKey`);
    } else if (s.protocol === 'ssh') {
      if (ref.privateKeyKey) need(ref.name, ref.privateKeyKey, `${p}.privateKeyKey`);
      else need(ref.name, ref.passwordKey ?? 'password', `${p}.passwordKey`);
    } else if (s.protocol === 'http') {
      need(ref.name, ref.tokenKey ?? 'token', `${p}.tokenKey`);
    }
  }
  const pgAdmin = s.credentials?.jit?.postgres?.adminSecretRef;
  if (pgAdmin) {
    const p = 'spec.credentials.jit.postgres.adminSecretRef';
    need(pgAdmin.name, pgAdmin.usernameKey ?? 'username', `${p}.usernameKey`);
    need(pgAdmin.name, pgAdmin.passwordKey ?? 'password', `${p}.passwordKey`);
  }
  const sshCa = s.credentials?.jit?.ssh?.caSecretRef;
  if (sshCa) need(sshCa.name, sshCa.key ?? 'ssh-privatekey', 'spec.credentials.jit.ssh.caSecretRef.key');
  const tlsCa = s.tls?.caSecretRef;
  if (tlsCa) need(tlsCa.name, tlsCa.key ?? 'ca.crt', 'spec.tls.caSecretRef.key');
  return [...reqs.values()];
}

/** `secretKeys(name)` gives the key names of a Secret, or undefined if it does not exist. */
export function connectionReadiness(
  generation: number | undefined, namespace: string, reqs: readonly SecretRequirement[], secretKeys: (name: string) => readonly string[] | undefined,
): ConditionInput {
  const base = { type: 'Ready', ...(generation !== undefined ? { observedGeneration: generation } : {}) };
  const notFound: string[] = [];
  const missingKeys: string[] = [];
  for (const r of reqs) {
    const keys = secretKeys(r.name);
    if (keys === undefined) {
      notFound.push(`Secret ${namespace}/${r.name} (${r.keys.map((k) => k.field).join(', ')})`);
      continue;
    }
    for (const k of r.keys) if (!keys.includes(k.key)) missingKeys.push(`Secret ${namespace}/${r.name} has no key "${k.key}" (${k.field})`);
  }
  if (notFound.length > 0) return { ...base, status: 'False', reason: REASONS.secretNotFound, message: `not found: ${notFound.join('; ')}` };
  if (missingKeys.length > 0) return { ...base, status: 'False', reason: REASONS.secretKeyMissing, message: missingKeys.join('; ') };
  return { ...base, status: 'True', reason: REASONS.valid, message: reqs.length > 0 ? `Secrets present: ${reqs.map((r) => r.name).join(', ')}` : 'no Secrets referenced' };
}
