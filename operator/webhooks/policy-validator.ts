// The AccessPolicy validating webhook: a policy whose CEL does not compile, or
// that breaks the engine's bounds, is refused by `kubectl apply` with the
// field, the rule, the error and its position (and a caret under it). The
// offline CRD validation (core/resources/validate.ts) runs first, as a second
// line behind the API server's own schema check (e.g. a stale CRD).
import { compilePolicies } from '../../core/policy/engine.js';
import type { PolicyCompileError } from '../../core/policy/errors.js';
import type { AccessPolicyLike } from '../../core/policy/policy-input.js';
import { validateResource } from '../../core/resources/validate.js';
import { allowed, denied, type AdmissionHandler } from './admission.js';

export function formatCompileError(e: PolicyCompileError): string {
  const rule = e.rule !== undefined ? ` (rule ${JSON.stringify(e.rule)})` : '';
  const where = e.line !== undefined ? ` at line ${e.line}, column ${e.column ?? 1}` : '';
  let out = `${e.field}${rule}: ${e.detail}${where}`;
  if (e.expression !== undefined && e.line !== undefined) {
    const line = e.expression.split('\n')[e.line - 1];
    if (line !== undefined && line.length <= 400) out += `\n    ${line}\n    ${' '.repeat(Math.max(0, (e.column ?? 1) - 1))}^`;
  } else if (e.expression !== undefined && e.expression.length <= 400) {
    out += `\n    ${e.expression}`;
  }
  return out;
}

export function policyValidator(): AdmissionHandler {
  return (req) => {
    if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return allowed(req);
    if (req.kind.kind !== 'AccessPolicy') return allowed(req);
    const obj = req.object as AccessPolicyLike | undefined;
    if (!obj) return denied(req, 'agentgate: no AccessPolicy in the request', 400, 'BadRequest');
    const namespace = req.namespace ?? obj.metadata?.namespace;
    const name = obj.metadata?.name ?? req.name;
    const policy: AccessPolicyLike = { ...obj, metadata: { ...obj.metadata, namespace, name } };
    const offline = validateResource(policy, req.operation === 'UPDATE' && req.oldObject !== undefined ? { oldResource: req.oldObject } : {});
    if (!offline.ok) {
      return denied(req, `AccessPolicy ${namespace ?? ''}/${name ?? ''} is invalid:\n` +
        offline.errors.map((e) => `  ${e.path}: ${e.message}`).join('\n'), 422, 'Invalid');
    }
    const { errors } = compilePolicies([policy]);
    if (errors.length === 0) return allowed(req);
    const msg = `AccessPolicy ${namespace ?? ''}/${name ?? ''} is invalid (${errors.length} error${errors.length > 1 ? 's' : ''}):\n` +
      errors.map((e) => `  ${formatCompileError(e)}`).join('\n');
    return denied(req, msg, 422, 'Invalid');
  };
}
