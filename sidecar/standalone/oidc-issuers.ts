// Token issuers the standalone sidecar trusts: exactly the OIDC issuers named
// by the policies' subjects, each with the union of the audiences they ask
// for. Keys come from a local JWKS file (--jwks-file [ISSUER=]FILE) or from
// the issuer's discovery document (jwks_uri, fetched and cached by jose).

import { readFile } from 'node:fs/promises';
import type { JSONWebKeySet } from 'jose';
import type { AccessPolicy } from '../../core/resources/generated.js';
import type { TokenIssuer } from '../gate/token-authenticator.js';
import { UsageError } from './pod-identity.js';

export interface IssuerNeeds {
  issuer: string;
  audiences: string[];
}

export function issuersFromPolicies(policies: readonly AccessPolicy[]): IssuerNeeds[] {
  const byIssuer = new Map<string, Set<string>>();
  for (const p of policies) {
    for (const s of p.spec.subjects) {
      const o = s.oidc;
      if (!o) continue;
      const set = byIssuer.get(o.issuer) ?? new Set<string>();
      if (o.audience) set.add(o.audience);
      byIssuer.set(o.issuer, set);
    }
  }
  return [...byIssuer].map(([issuer, auds]) => ({ issuer, audiences: [...auds].sort() }));
}

/** True when some policy accepts the pod's own service account (then no token is needed). */
export function policiesAllowPodIdentity(policies: readonly AccessPolicy[]): boolean {
  return policies.some((p) => p.spec.subjects.some((s) => s.serviceAccount !== undefined));
}

/** "--jwks-file FILE" applies to every issuer; "--jwks-file ISSUER=FILE" to one. */
export function parseJwksFileArgs(values: readonly string[]): { all?: string; byIssuer: Map<string, string> } {
  const byIssuer = new Map<string, string>();
  let all: string | undefined;
  for (const v of values) {
    const m = /^(https?:\/\/[^=]+)=(.+)$/.exec(v);
    if (m) byIssuer.set(m[1] ?? '', m[2] ?? '');
    else if (all === undefined) all = v;
    else throw new UsageError('--jwks-file without ISSUER= may be given once');
  }
  return all === undefined ? { byIssuer } : { all, byIssuer };
}

export async function readJwksFile(path: string): Promise<JSONWebKeySet> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--jwks-file ${path}: ${(err as Error).message}`);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(keys)) {
    throw new UsageError(`--jwks-file ${path}: not a JWKS ({"keys": [...]})`);
  }
  for (const k of keys) {
    if (typeof k === 'object' && k !== null && ('d' in k || 'k' in k)) {
      // A private or symmetric key has no place in a verifier's key set.
      throw new UsageError(`--jwks-file ${path}: contains private or symmetric key material; give public keys only`);
    }
  }
  return parsed as JSONWebKeySet;
}

/** Find the issuer's jwks_uri through OpenID discovery. */
export async function discoverJwksUri(issuer: string, timeoutMs = 5000): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!res.ok) throw new Error(`discovery ${url} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`discovery document of ${issuer} names issuer ${String(doc.issuer)}`);
  if (typeof doc.jwks_uri !== 'string' || !doc.jwks_uri.startsWith('https://')) {
    throw new Error(`discovery document of ${issuer} has no https jwks_uri`);
  }
  return doc.jwks_uri;
}

export interface ResolvedIssuers {
  issuers: TokenIssuer[];
  /** Issuers left out (no keys): their tokens are refused. */
  unavailable: Array<{ issuer: string; reason: string }>;
}

export async function resolveIssuers(
  needs: readonly IssuerNeeds[],
  jwksArgs: readonly string[],
  discover: (issuer: string) => Promise<string> = discoverJwksUri,
): Promise<ResolvedIssuers> {
  const files = parseJwksFileArgs(jwksArgs);
  const issuers: TokenIssuer[] = [];
  const unavailable: ResolvedIssuers['unavailable'] = [];
  for (const n of needs) {
    if (n.audiences.length === 0) {
      unavailable.push({ issuer: n.issuer, reason: 'no audience configured (an audience is required)' });
      continue;
    }
    const file = files.byIssuer.get(n.issuer) ?? files.all;
    if (file !== undefined) {
      const jwks = await readJwksFile(file);
      // Pin the algorithms to the ones the keys declare (when every key declares one).
      const algs = jwks.keys.map((k) => k.alg);
      const pinned = algs.every((a): a is string => typeof a === 'string') ? [...new Set(algs)] : undefined;
      issuers.push({ issuer: n.issuer, audience: n.audiences, jwks, ...(pinned ? { algorithms: pinned } : {}) });
      continue;
    }
    try {
      issuers.push({ issuer: n.issuer, audience: n.audiences, jwksUrl: await discover(n.issuer) });
    } catch (err) {
      unavailable.push({ issuer: n.issuer, reason: (err as Error).message });
    }
  }
  return { issuers, unavailable };
}
