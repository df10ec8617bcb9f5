import { describe, it, expect } from '@jest/globals';
import type { Identity } from '../../core/policy/activation.js';
import type { AccessPolicy } from '../../core/resources/generated.js';
import type { ActiveGrant, PodConfig } from '../cluster/api-types.js';
import { compileConfig } from './compiled-config.js';
import { GrantUsage, matchingGrant, revocationReason, type LiveSession } from './revocation.js';

const NS = 'shop';
const ISS = 'https://issuer.example';

function policy(name: string, users: string[], connections = ['db']): AccessPolicy {
  return {
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace: NS },
    spec: {
      podSelector: { matchLabels: { app: 'agent' } },
      subjects: [{ oidc: { issuer: ISS, audience: 'agentgate', users } }],
      connections,
      rules: [{ name: 'reads', when: 'true', action: 'allow' }],
    },
  };
}

function config(o: { policies?: AccessPolicy[]; connections?: string[]; grants?: ActiveGrant[]; labels?: Record<string, string> } = {}): PodConfig {
  return {
    pod: { namespace: NS, name: 'agent-1', uid: 'u1', serviceAccount: 'agent', labels: o.labels ?? { app: 'agent' } },
    connections: (o.connections ?? ['db']).map((name) => ({
      namespace: NS, name, labels: {}, tls: { mode: 'disable' },
      spec: { protocol: 'postgres', target: { host: '127.0.0.1', port: 5432, database: 'x' }, credentials: { secretRef: { name: 's' } }, listen: { port: 15432 } },
    })),
    policies: o.policies ?? [policy('agents', ['alice@example.com'])],
    grants: o.grants ?? [],
    maskingKeys: {},
    etag: '"1"',
  };
}

const identity: Identity = {
  kind: 'oidc', sub: 'alice@example.com', iss: ISS, groups: [], claims: { aud: 'agentgate' },
  pod: { namespace: NS, name: 'agent-1', serviceAccount: 'agent', labels: { app: 'agent' } },
};
const session: LiveSession = { id: 's1', connection: 'db', identity };
const grant = (request: string, expiresInMs: number, now: number): ActiveGrant => ({
  request, policy: `${NS}/agents`, rule: 'reads', connection: 'db', identity: { sub: identity.sub, iss: ISS }, expiresAt: new Date(now + expiresInMs).toISOString(),
});

describe('revocationReason', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');

  it('keeps a session its policy still covers', () => {
    expect(revocationReason(session, compileConfig(config()), new GrantUsage(), now)).toBeUndefined();
  });

  it('ends a session whose connection is no longer configured', () => {
    expect(revocationReason(session, compileConfig(config({ connections: ['other'] })), new GrantUsage(), now))
      .toBe('connection db is no longer configured for this pod');
  });

  it('ends a session no policy covers any more: another subject, another connection, or the pod no longer selected', () => {
    const why = 'no AccessPolicy grants alice@example.com access to connection db any more';
    expect(revocationReason(session, compileConfig(config({ policies: [policy('agents', ['bob@example.com'])] })), new GrantUsage(), now)).toBe(why);
    expect(revocationReason(session, compileConfig(config({ policies: [policy('agents', ['alice@example.com'], ['other'])], connections: ['db', 'other'] })), new GrantUsage(), now)).toBe(why);
    // The pod as it is now: its labels changed, so the podSelector no longer picks it.
    expect(revocationReason(session, compileConfig(config({ labels: { app: 'batch' } })), new GrantUsage(), now)).toBe(why);
  });

  it('ends a session when a grant it went through expires, by the clock, even while the configuration still lists it', () => {
    const usage = new GrantUsage();
    const g = grant('ar-1', 5_000, now);
    usage.use('s1', g);
    const cfg = compileConfig(config({ grants: [g] }));
    expect(revocationReason(session, cfg, usage, now)).toBeUndefined();
    expect(revocationReason(session, cfg, usage, now + 5_000)).toBe(`the grant of AccessRequest ar-1 expired at ${g.expiresAt}`);
    // Another session never used it.
    expect(revocationReason({ ...session, id: 's2' }, cfg, usage, now + 5_000)).toBeUndefined();
  });

  it('tells a withdrawn grant from an expired one once it leaves the configuration', () => {
    const usage = new GrantUsage();
    usage.use('s1', grant('ar-1', 60_000, now));
    const without = compileConfig(config());
    expect(revocationReason(session, without, usage, now)).toBe('the grant of AccessRequest ar-1 was withdrawn');
    expect(revocationReason(session, without, usage, now + 60_000)).toMatch(/^the grant of AccessRequest ar-1 expired at /);
  });

  it('waits for the configuration that carries a just-approved grant, then follows it', () => {
    const usage = new GrantUsage();
    usage.use('s1', 'ar-2');
    expect(revocationReason(session, compileConfig(config()), usage, now)).toBeUndefined();
    const g = grant('ar-2', 1_000, now);
    usage.observe([g]);
    expect(revocationReason(session, compileConfig(config()), usage, now)).toBe('the grant of AccessRequest ar-2 was withdrawn');
    expect(revocationReason(session, compileConfig(config({ grants: [g] })), usage, now + 1_000)).toMatch(/expired at/);
    usage.forget('s1');
    expect(revocationReason(session, compileConfig(config()), usage, now + 1_000)).toBeUndefined();
  });
});

describe('matchingGrant', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  const q = { policy: `${NS}/agents`, rule: 'reads', connection: 'db', identity: { sub: identity.sub, iss: ISS } };

  it('matches the same rule, connection and identity while the grant lasts', () => {
    const g = grant('ar-1', 1_000, now);
    expect(matchingGrant([g], q, now)?.request).toBe('ar-1');
    expect(matchingGrant([g], q, now + 1_000)).toBeUndefined();
    expect(matchingGrant([g], { ...q, rule: 'writes' }, now)).toBeUndefined();
    expect(matchingGrant([g], { ...q, connection: 'other' }, now)).toBeUndefined();
    expect(matchingGrant([g], { ...q, identity: { sub: identity.sub, iss: 'https://elsewhere' } }, now)).toBeUndefined();
    expect(matchingGrant([g], { ...q, identity: { sub: 'mallory', iss: ISS } }, now)).toBeUndefined();
  });
});
