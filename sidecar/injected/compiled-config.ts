// One configuration from the operator, made ready for the hot path: the
// policies compiled once (a policy that does not compile still applies and
// denies what it covers), the connections by name, the pod as policies see it,
// the masking keys decoded, and what the authenticator needs (OIDC issuers,
// whether the pod's own identity is accepted).
import { compilePolicies, type PolicyEngine } from '../../core/policy/engine.js';
import type { PolicyCompileError } from '../../core/policy/errors.js';
import type { ConnectionFacts, PodFacts } from '../../core/policy/activation.js';
import type { AccessPolicyLike } from '../../core/policy/policy-input.js';
import type { PodConfig, PodConfigConnection, ActiveGrant } from '../cluster/api-types.js';
import { issuersFromPolicies, policiesAllowPodIdentity, type IssuerNeeds } from '../standalone/oidc-issuers.js';

export interface CompiledConfig {
  etag: string;
  pod: PodFacts;
  engine: PolicyEngine;
  compileErrors: readonly PolicyCompileError[];
  connections: ReadonlyMap<string, PodConfigConnection>;
  grants: readonly ActiveGrant[];
  /** "namespace/policy" → key for the keyed-hash masking strategy. */
  maskingKeys: ReadonlyMap<string, Buffer>;
  issuers: IssuerNeeds[];
  allowPodIdentity: boolean;
  /** Connection name → does some policy naming it have an OIDC subject (then clients send a token)? */
  tokenConnections: ReadonlySet<string>;
}

export function compileConfig(cfg: PodConfig): CompiledConfig {
  // The operator admitted these policies with the same compiler; anything it
  // could not compile is kept as an invalid policy that denies.
  const { engine, errors } = compilePolicies(cfg.policies as unknown as AccessPolicyLike[]);
  const maskingKeys = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cfg.maskingKeys)) maskingKeys.set(k, Buffer.from(v, 'base64'));
  const tokenConnections = new Set<string>();
  for (const p of cfg.policies) {
    if (p.spec.subjects.some((s) => s.oidc !== undefined)) for (const c of p.spec.connections) tokenConnections.add(c);
  }
  return {
    etag: cfg.etag,
    pod: { namespace: cfg.pod.namespace, name: cfg.pod.name, serviceAccount: cfg.pod.serviceAccount, labels: { ...cfg.pod.labels } },
    engine,
    compileErrors: errors,
    connections: new Map(cfg.connections.map((c) => [c.name, c])),
    grants: cfg.grants,
    maskingKeys,
    issuers: issuersFromPolicies(cfg.policies),
    allowPodIdentity: policiesAllowPodIdentity(cfg.policies),
    tokenConnections,
  };
}

/** What policies see of a connection. */
export function connectionFactsOf(c: PodConfigConnection): ConnectionFacts {
  let host = c.spec.target.host ?? '';
  let port = c.spec.target.port ?? 0;
  if (c.spec.protocol === 'http' && c.spec.target.url !== undefined) {
    const u = new URL(c.spec.target.url);
    host = u.hostname;
    port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  }
  return { name: c.name, protocol: c.spec.protocol, host, port, labels: { ...c.labels } };
}

/**
 * What a running listener depends on (everything but `env`, which only the
 * webhook uses): when it changes, the listener is replaced.
 */
export function listenerShape(c: PodConfigConnection): string {
  const { env: _env, ...spec } = c.spec;
  return JSON.stringify({ spec, labels: c.labels, tls: c.tls });
}
