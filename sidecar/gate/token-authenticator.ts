// Agent identity. A presented credential must be a JWT from a configured
// issuer (signature checked against the issuer's JWKS, `exp` and `sub`
// required, audience checked); without a credential, and only when allowed,
// the identity is the pod's own service account. Any doubt is a refusal.
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { JsonValue, PodFacts } from '../../core/policy/activation.js';
import { AuthError } from './auth-errors.js';
import type { Authenticator, AuthRequest, Identity } from './gate.js';

export interface TokenIssuer {
  issuer: string;
  audience: string | string[];
  /** JWKS endpoint (fetched and cached by jose), or a fixed key set. */
  jwksUrl?: string;
  jwks?: JSONWebKeySet;
  /** Claim holding the groups (default "groups"). */
  groupsClaim?: string;
  /** Accepted algorithms (default: asymmetric only). */
  algorithms?: string[];
}

export interface TokenAuthenticatorOptions {
  issuers: TokenIssuer[];
  /** The pod the sidecar runs in: every identity carries it. */
  pod: PodFacts;
  /** Accept a missing credential as the pod's service-account identity. */
  allowPodIdentity?: boolean;
  /** Issuer recorded for pod identities (default "kubernetes"). */
  podIssuer?: string;
  clockToleranceSec?: number;
  /** Longest accepted token (default 16 KiB). */
  maxTokenLength?: number;
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function toJson(value: unknown): Record<string, JsonValue> {
  return JSON.parse(JSON.stringify(value)) as Record<string, JsonValue>;
}

function groupsFrom(payload: JWTPayload, claim: string): string[] {
  const v = payload[claim];
  if (v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((g): g is string => typeof g === 'string')) return v;
  throw new AuthError('AUTH_INVALID', `token claim "${claim}" is not a list of strings`);
}

export function podIdentity(pod: PodFacts, issuer = 'kubernetes'): Identity {
  return {
    kind: 'serviceAccount',
    sub: `system:serviceaccount:${pod.namespace}:${pod.serviceAccount}`,
    iss: issuer,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${pod.namespace}`, 'system:authenticated'],
    claims: {},
    pod,
  };
}

export function createTokenAuthenticator(opts: TokenAuthenticatorOptions): Authenticator {
  const verifiers = new Map<string, { issuer: TokenIssuer; keys: JWTVerifyGetKey }>();
  for (const issuer of opts.issuers) {
    if (verifiers.has(issuer.issuer)) throw new Error(`issuer ${issuer.issuer} configured twice`);
    let keys: JWTVerifyGetKey;
    if (issuer.jwks !== undefined) keys = createLocalJWKSet(issuer.jwks);
    else if (issuer.jwksUrl !== undefined) keys = createRemoteJWKSet(new URL(issuer.jwksUrl), { timeoutDuration: 5000 });
    else throw new Error(`issuer ${issuer.issuer} has neither jwks nor jwksUrl`);
    verifiers.set(issuer.issuer, { issuer, keys });
  }
  const maxLen = opts.maxTokenLength ?? 16 * 1024;

  return {
    async authenticate(req: AuthRequest): Promise<Identity> {
      const token = req.credential;
      if (token === undefined || token === '') {
        if (opts.allowPodIdentity === true) return podIdentity(opts.pod, opts.podIssuer);
        throw new AuthError('AUTH_MISSING', 'a token is required');
      }
      if (token.length > maxLen) throw new AuthError('AUTH_INVALID', 'token is too long');
      let iss: string | undefined;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        throw new AuthError('AUTH_INVALID', 'credential is not a JWT');
      }
      const v = iss === undefined ? undefined : verifiers.get(iss);
      if (v === undefined) throw new AuthError('AUTH_INVALID', 'token issuer is not trusted');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, v.keys, {
          issuer: v.issuer.issuer,
          audience: v.issuer.audience,
          algorithms: v.issuer.algorithms ?? ASYMMETRIC,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: opts.clockToleranceSec ?? 30,
        }));
      } catch (err: unknown) {
        if (err instanceof joseErrors.JWKSTimeout || (err instanceof joseErrors.JOSEError && err.code === 'ERR_JWKS_INVALID')) {
          throw new AuthError('AUTH_UNAVAILABLE', 'cannot fetch the issuer keys', { cause: err });
        }
        if (err instanceof joseErrors.JWTExpired) throw new AuthError('AUTH_INVALID', 'token has expired');
        if (err instanceof joseErrors.JWTClaimValidationFailed) throw new AuthError('AUTH_INVALID', `token claim "${err.claim}" is invalid`);
        if (err instanceof joseErrors.JOSEError) throw new AuthError('AUTH_INVALID', `token rejected (${err.code})`);
        throw new AuthError('AUTH_UNAVAILABLE', 'token verification failed', { cause: err });
      }
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub === '') throw new AuthError('AUTH_INVALID', 'token has no subject');
      return {
        kind: 'oidc',
        sub,
        iss: v.issuer.issuer,
        groups: groupsFrom(payload, v.issuer.groupsClaim ?? 'groups'),
        claims: toJson(payload),
        pod: opts.pod,
      };
    },
  };
}
