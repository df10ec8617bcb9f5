import { beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';
import { createServer } from 'node:net';
import type { PodFacts } from '../../core/policy/activation.js';
import { AuthError } from './auth-errors.js';
import { createTokenAuthenticator } from './token-authenticator.js';

const pod: PodFacts = { namespace: 'team-a', name: 'agent-1', serviceAccount: 'agent', labels: { app: 'agent' } };
const ISS = 'https://issuer.test';

let key: CryptoKey;
let otherKey: CryptoKey;
let jwks: JSONWebKeySet;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] };
});

const sign = async (
  claims: Record<string, unknown>,
  opts: { iss?: string; aud?: string; exp?: string | number; signer?: CryptoKey; sub?: string | null } = {},
): Promise<string> => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer(opts.iss ?? ISS).setAudience(opts.aud ?? 'agentgate');
  if (opts.sub !== null) jwt = jwt.setSubject(opts.sub ?? 'agent-7');
  if (opts.exp !== undefined) jwt = jwt.setExpirationTime(opts.exp);
  else jwt = jwt.setExpirationTime('5m');
  return await jwt.sign(opts.signer ?? key);
};

const auth = (allowPodIdentity = false) =>
  createTokenAuthenticator({ issuers: [{ issuer: ISS, audience: 'agentgate', jwks }], pod, allowPodIdentity });

const req = (credential: string | undefined) => ({ protocol: 'postgres' as const, connection: 'db', credential });

describe('token authenticator', () => {
  it('accepts a valid token and reads subject, groups and claims', async () => {
    const id = await auth().authenticate(req(await sign({ groups: ['agents', 'readers'], team: 'a' })));
    expect(id).toMatchObject({ kind: 'oidc', sub: 'agent-7', iss: ISS, groups: ['agents', 'readers'], pod });
    expect(id.claims.team).toBe('a');
  });

  it.each([
    ['a token signed by another key', () => sign({}, { signer: otherKey })],
    ['an expired token', () => sign({}, { exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['another audience', () => sign({}, { aud: 'someone-else' })],
    ['an untrusted issuer', () => sign({}, { iss: 'https://evil.test' })],
    ['no subject', () => sign({}, { sub: null })],
    ['groups that are not strings', () => sign({ groups: [1, 2] })],
    ['not a JWT', async () => 'definitely-not-a-jwt'],
    ['an unsigned token (alg none)', async () => {
      const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none' })}.${enc({ iss: ISS, aud: 'agentgate', sub: 'x', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    }],
  ])('refuses %s', async (_name, make) => {
    await expect(auth().authenticate(req(await make()))).rejects.toMatchObject({ code: 'AUTH_INVALID' });
  });

  it('uses the pod identity without a credential only when allowed', async () => {
    await expect(auth(false).authenticate(req(undefined))).rejects.toMatchObject({ code: 'AUTH_MISSING' });
    const id = await auth(true).authenticate(req(''));
    expect(id).toMatchObject({ kind: 'serviceAccount', sub: 'system:serviceaccount:team-a:agent', pod });
  });

  it('fails closed when the JWKS cannot be fetched', async () => {
    // A port that was just free: nothing answers there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
      });
    });
    const a = createTokenAuthenticator({ issuers: [{ issuer: ISS, audience: 'agentgate', jwksUrl: `http://127.0.0.1:${port}/jwks` }], pod });
    const err = await a.authenticate(req(await sign({}))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe('AUTH_UNAVAILABLE');
  });
});
