import { describe, it, expect, afterAll } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AccessPolicy } from '../../core/resources/generated.js';
import { createLogger } from './logger.js';
import { issuersFromPolicies, parseJwksFileArgs, policiesAllowPodIdentity, resolveIssuers } from './oidc-issuers.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function policy(subjects: AccessPolicy['spec']['subjects']): AccessPolicy {
  return {
    apiVersion: 'agentgate.dev/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'p', namespace: 'ns' },
    spec: { podSelector: {}, subjects, connections: ['db'], rules: [] },
  };
}

describe('OIDC issuers for standalone', () => {
  it('collects each issuer once with every audience the policies ask for', () => {
    const ps = [
      policy([{ oidc: { issuer: 'https://a', audience: 'x' } }, { serviceAccount: { name: 'agent' } }]),
      policy([{ oidc: { issuer: 'https://a', audience: 'y' } }, { oidc: { issuer: 'https://b', audience: 'z' } }]),
    ];
    expect(issuersFromPolicies(ps)).toEqual([
      { issuer: 'https://a', audiences: ['x', 'y'] },
      { issuer: 'https://b', audiences: ['z'] },
    ]);
    expect(policiesAllowPodIdentity(ps)).toBe(true);
    expect(policiesAllowPodIdentity([ps[1]!])).toBe(false);
  });

  it('takes keys from a JWKS file (algorithms pinned) or discovery, and reports issuers it cannot serve', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentgate-jwks-'));
    dirs.push(dir);
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    await writeFile(join(dir, 'a.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', kid: '1' }] }));
    await writeFile(join(dir, 'private.json'), JSON.stringify({ keys: [await exportJWK(privateKey)] }));
    expect(parseJwksFileArgs(['https://a=/x.json', '/all.json'])).toEqual({ all: '/all.json', byIssuer: new Map([['https://a', '/x.json']]) });

    const r = await resolveIssuers(
      [
        { issuer: 'https://a', audiences: ['x'] },
        { issuer: 'https://b', audiences: ['z'] },
        { issuer: 'https://c', audiences: ['z'] },
      ],
      [`https://a=${join(dir, 'a.json')}`],
      async (issuer) => {
        if (issuer === 'https://b') return 'https://b/keys';
        throw new Error('discovery failed: 503');
      },
    );
    expect(r.issuers).toEqual([
      expect.objectContaining({ issuer: 'https://a', audience: ['x'], algorithms: ['ES256'] }),
      { issuer: 'https://b', audience: ['z'], jwksUrl: 'https://b/keys' },
    ]);
    expect(r.unavailable).toEqual([{ issuer: 'https://c', reason: 'discovery failed: 503' }]);
    await expect(resolveIssuers([{ issuer: 'https://a', audiences: ['x'] }], [join(dir, 'private.json')])).rejects.toMatchObject({
      message: expect.stringContaining('private or symmetric key material'),
    });
  });
});

describe('logger', () => {
  it('redacts credential-looking fields', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info({ password: 'p1', token: 't1', backend: { password: 'p2', user: 'app' }, req: { headers: { authorization: 'Bearer t2' } } }, 'hello');
    const text = lines.join('');
    for (const secret of ['p1', 't1', 'p2', 'Bearer t2']) expect(text).not.toContain(secret);
    expect(text).toContain('"user":"app"');
    expect(() => createLogger('loud')).toThrow(/--log-level/);
  });
});
