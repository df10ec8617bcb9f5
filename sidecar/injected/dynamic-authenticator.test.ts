import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { AccessPolicy } from '../../core/resources/generated.js';
import type { PodConfig } from '../cluster/api-types.js';
import { compileConfig } from './compiled-config.js';
import { DynamicAuthenticator } from './dynamic-authenticator.js';

const ISS = 'https://issuer.example';

function config(subjects: AccessPolicy['spec']['subjects']): PodConfig {
  return {
    pod: { namespace: 'shop', name: 'agent-1', uid: 'u1', serviceAccount: 'agent', labels: { app: 'agent' } },
    connections: [],
    policies: [{
      apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p', namespace: 'shop' },
      spec: { podSelector: {}, subjects, connections: ['db'], rules: [{ name: 'r', when: 'true', action: 'allow' }] },
    }],
    grants: [],
    maskingKeys: {},
    etag: `"${Math.random()}"`,
  };
}

const req = (credential?: string) => ({ protocol: 'postgres' as const, connection: 'db', credential });

describe('DynamicAuthenticator', () => {
  let server: http.Server | undefined;
  let jwksUrl = '';
  let key: CryptoKey;
  const token = (): Promise<string> =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuer(ISS).setSubject('agent-7').setAudience('agentgate').setExpirationTime('5m').sign(key);

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' };
    server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('refuses everything before the first configuration', async () => {
    await expect(new DynamicAuthenticator().authenticate(req())).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE' });
  });

  it("refuses an issuer's tokens while its keys cannot be had, retries, then accepts them; keys are found once per issuer", async () => {
    let calls = 0;
    const unavailable: string[] = [];
    const auth = new DynamicAuthenticator({
      retryMs: 50,
      discover: async () => {
        calls++;
        if (calls === 1) throw new Error('discovery answered 503');
        return jwksUrl;
      },
      onUnavailable: (issuer, reason) => unavailable.push(`${issuer}: ${reason}`),
    });
    const cfg = compileConfig(config([{ oidc: { issuer: ISS, audience: 'agentgate' } }]));
    await auth.update(cfg);
    expect(unavailable).toEqual([`${ISS}: discovery answered 503`]);
    await expect(auth.authenticate(req(await token()))).rejects.toMatchObject({ code: 'AUTH_INVALID', message: 'token issuer is not trusted' });

    let identity;
    for (let i = 0; i < 200 && identity === undefined; i++) {
      identity = await auth.authenticate(req(await token())).catch(() => undefined);
      if (identity === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    expect(identity).toMatchObject({ kind: 'oidc', sub: 'agent-7', iss: ISS, pod: { namespace: 'shop', name: 'agent-1', serviceAccount: 'agent' } });
    // A new configuration naming the same issuer and audience reuses what was found.
    await auth.update(compileConfig(config([{ oidc: { issuer: ISS, audience: 'agentgate', users: ['agent-7'] } }])));
    expect(calls).toBe(2);
    expect(await auth.authenticate(req(await token()))).toMatchObject({ sub: 'agent-7' });
    auth.close();
  });

  it("follows the configuration: the pod's own identity only while a policy names its service account", async () => {
    const auth = new DynamicAuthenticator({ discover: async () => jwksUrl });
    await auth.update(compileConfig(config([{ serviceAccount: { name: 'agent' } }])));
    expect(await auth.authenticate(req())).toMatchObject({ kind: 'serviceAccount', sub: 'system:serviceaccount:shop:agent', pod: { labels: { app: 'agent' } } });
    await auth.update(compileConfig(config([{ oidc: { issuer: ISS, audience: 'agentgate' } }])));
    await expect(auth.authenticate(req())).rejects.toMatchObject({ code: 'AUTH_MISSING' });
    auth.close();
  });
});
