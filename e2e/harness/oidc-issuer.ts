// An OIDC issuer of our own for the e2e tests and the demo: a discovery
// document and a JWKS over HTTPS on a random loopback port, and ES256 tokens
// it signs for any subject. Its CA (written to `caFile`) is the only thing a
// sidecar must trust to verify the tokens by discovery, as with a real IdP.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createTestCa } from '../../testkit/test-certs.js';

export interface OidcIssuer {
  /** https://127.0.0.1:PORT (the `iss` of its tokens). */
  url: string;
  /** PEM file of the CA that signed the issuer's serving certificate. */
  caFile: string;
  /** A token for `sub` with this issuer's audience, groups ["agents"], valid for 2 hours. */
  token(sub: string): Promise<string>;
  close(): Promise<void>;
}

export async function startOidcIssuer(o: { dir: string; audience: string }): Promise<OidcIssuer> {
  const ca = await createTestCa('agentgate-e2e-oidc-ca');
  const leaf = await ca.issue({ commonName: 'oidc.local', ips: ['127.0.0.1'], dnsNames: ['localhost'] });
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'e2e-1', alg: 'ES256', use: 'sig' };
  let url = '';
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const body = req.url === '/.well-known/openid-configuration' ? { issuer: url, jwks_uri: `${url}/jwks` } : req.url === '/jwks' ? { keys: [jwk] } : undefined;
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caFile = join(o.dir, 'oidc-ca.crt');
  await writeFile(caFile, ca.certPem);
  return {
    url,
    caFile,
    token: (sub) =>
      new SignJWT({ groups: ['agents'] }).setProtectedHeader({ alg: 'ES256', kid: 'e2e-1' }).setIssuer(url).setSubject(sub)
        .setAudience(o.audience).setIssuedAt().setExpirationTime('2h').sign(privateKey),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
