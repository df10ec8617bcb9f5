import { describe, it, expect } from '@jest/globals';
import { compilePolicies } from '../../core/policy/engine.js';
import { connectionReadiness, policyReadiness, secretRequirements } from './readiness.js';

describe('policyReadiness', () => {
  const compile = (when: string) => compilePolicies([{ metadata: { name: 'p', namespace: 'ns' }, spec: {
    podSelector: {}, subjects: [{ serviceAccount: { name: 'a' } }], connections: ['db'], rules: [{ name: 'r', when, action: 'allow' }],
  } }]).errors;

  it('ExpressionInvalid names rule, field and position', () => {
    const c = policyReadiness(3, 1, compile('sql.text ==='), ['db'], () => true);
    expect(c).toMatchObject({ type: 'Ready', status: 'False', reason: 'ExpressionInvalid', observedGeneration: 3 });
    expect(c.message).toMatch(/spec\.rules\[0\]\.when \(rule "r"\): .* at line 1, column \d+/);
  });

  it('ConnectionNotFound lists the missing ones', () => {
    const c = policyReadiness(1, 1, [], ['db', 'ssh', 'api'], (n) => n === 'db');
    expect(c).toMatchObject({ status: 'False', reason: 'ConnectionNotFound', message: 'Connections not found in the namespace: ssh, api' });
  });

  it('Valid when everything compiles and exists', () => {
    expect(policyReadiness(1, 2, compile('true'), ['db'], () => true)).toMatchObject({ status: 'True', reason: 'Valid' });
  });
});

describe('secretRequirements', () => {
  it.each([
    ['postgres static', { protocol: 'postgres', credentials: { secretRef: { name: 's' } } }, [{ name: 's', keys: ['username', 'password'] }]],
    ['postgres custom keys + tls CA', { protocol: 'postgres', credentials: { secretRef: { name: 's', usernameKey: 'u', passwordKey: 'p' } }, tls: { caSecretRef: { name: 'ca' } } },
      [{ name: 's', keys: ['u', 'p'] }, { name: 'ca', keys: ['ca.crt'] }]],
    ['ssh with private key', { protocol: 'ssh', credentials: { secretRef: { name: 'k', privateKeyKey: 'id' } } }, [{ name: 'k', keys: ['id'] }]],
    ['ssh with password', { protocol: 'ssh', credentials: { secretRef: { name: 'k' } } }, [{ name: 'k', keys: ['password'] }]],
    ['http token', { protocol: 'http', credentials: { secretRef: { name: 't', tokenKey: 'tok' } } }, [{ name: 't', keys: ['tok'] }]],
    ['jit postgres', { protocol: 'postgres', credentials: { jit: { postgres: { adminSecretRef: { name: 'adm' } } } } }, [{ name: 'adm', keys: ['username', 'password'] }]],
    ['jit ssh', { protocol: 'ssh', credentials: { jit: { ssh: { caSecretRef: { name: 'ca' } } } } }, [{ name: 'ca', keys: ['ssh-privatekey'] }]],
  ])('%s', (_n, spec, want) => {
    expect(secretRequirements(spec).map((r) => ({ name: r.name, keys: r.keys.map((k) => k.key) }))).toEqual(want);
  });
});

describe('connectionReadiness', () => {
  const reqs = secretRequirements({ protocol: 'postgres', credentials: { secretRef: { name: 'db-creds' } } });
  it('SecretNotFound', () => {
    const c = connectionReadiness(2, 'ns', reqs, () => undefined);
    expect(c).toMatchObject({ status: 'False', reason: 'SecretNotFound', observedGeneration: 2 });
    expect(c.message).toContain('Secret ns/db-creds');
  });
  it('SecretKeyMissing names the key and the field', () => {
    const c = connectionReadiness(2, 'ns', reqs, () => ['username']);
    expect(c).toMatchObject({ status: 'False', reason: 'SecretKeyMissing', message: 'Secret ns/db-creds has no key "password" (spec.credentials.secretRef.passwordKey)' });
  });
  it('Valid', () => {
    expect(connectionReadiness(2, 'ns', reqs, () => ['username', 'password'])).toMatchObject({ status: 'True', reason: 'Valid' });
  });
});
