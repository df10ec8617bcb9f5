// Whether an AccessPolicy subject names the identity asking.
import type { Identity, JsonValue } from './activation.js';
import type { SubjectLike } from './policy-input.js';

/** Problems with one subject, as "field: message" strings (empty when valid). */
export function validateSubject(subject: SubjectLike | undefined, field: string): string[] {
  if (subject === undefined || subject === null || typeof subject !== 'object') return [`${field}: must be an object`];
  const sa = subject.serviceAccount;
  const oidc = subject.oidc;
  if ((sa === undefined || sa === null) === (oidc === undefined || oidc === null)) {
    return [`${field}: exactly one of serviceAccount or oidc is required`];
  }
  const problems: string[] = [];
  if (sa !== undefined && sa !== null) {
    if (typeof sa.name !== 'string' || sa.name === '') problems.push(`${field}.serviceAccount.name: required`);
    if (sa.namespace !== undefined && (typeof sa.namespace !== 'string' || sa.namespace === '')) {
      problems.push(`${field}.serviceAccount.namespace: must be a non-empty string when set`);
    }
  }
  if (oidc !== undefined && oidc !== null) {
    if (typeof oidc.issuer !== 'string' || oidc.issuer === '') problems.push(`${field}.oidc.issuer: required`);
    for (const list of ['groups', 'users'] as const) {
      const v = oidc[list];
      if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) {
        problems.push(`${field}.oidc.${list}: must be a list of strings`);
      }
    }
  }
  return problems;
}

/**
 * serviceAccount: the identity is the pod's service account, with this name, in
 * this namespace (default: the policy's). oidc: the identity is an OIDC token
 * from this issuer (with this audience, when one is given) whose subject is in
 * `users` or whose groups intersect `groups`; both lists empty means any
 * identity of that issuer.
 */
export function subjectMatches(subject: SubjectLike, identity: Identity, policyNamespace: string): boolean {
  const sa = subject.serviceAccount;
  if (sa !== undefined && sa !== null) {
    if (subject.oidc !== undefined && subject.oidc !== null) return false;
    return (
      identity.kind === 'serviceAccount' &&
      identity.pod.serviceAccount === sa.name &&
      identity.pod.namespace === (sa.namespace ?? policyNamespace)
    );
  }
  const oidc = subject.oidc;
  if (oidc === undefined || oidc === null) return false;
  if (identity.kind !== 'oidc' || identity.iss !== oidc.issuer) return false;
  if (oidc.audience !== undefined && oidc.audience !== '' && !audienceIncludes(identity.claims['aud'], oidc.audience)) {
    return false;
  }
  const users = oidc.users ?? [];
  const groups = oidc.groups ?? [];
  if (users.length === 0 && groups.length === 0) return true;
  if (users.includes(identity.sub)) return true;
  if (groups.length === 0) return false;
  const mine = groupsOf(identity, oidc.groupsClaim);
  return groups.some((g) => mine.includes(g));
}

function audienceIncludes(aud: JsonValue | undefined, audience: string): boolean {
  if (typeof aud === 'string') return aud === audience;
  if (Array.isArray(aud)) return aud.includes(audience);
  return false;
}

// A subject that names its own groups claim reads that claim; otherwise the
// identity's groups (read by the authenticator from "groups").
function groupsOf(identity: Identity, groupsClaim: string | undefined): readonly string[] {
  if (groupsClaim === undefined || groupsClaim === '') return identity.groups;
  const v = identity.claims[groupsClaim];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}
