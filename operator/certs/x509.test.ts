import { describe, it, expect, afterAll } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueCertificate, notAfter, splitPemBundle } from './x509.js';
import { oid, time, uint } from './der.js';

const dir = mkdtempSync(join(tmpdir(), 'agentgate-x509-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = new Date();
const inDays = (d: number): Date => new Date(now.getTime() + d * 86_400_000);
const ca = issueCertificate({ commonName: 'agentgate-ca', notBefore: now, notAfter: inDays(3650), isCA: true });
const leaf = issueCertificate({
  commonName: 'agentgate-operator', notBefore: now, notAfter: inDays(365), isCA: false,
  dnsNames: ['agentgate-operator.agentgate-system.svc', 'localhost'], ipAddresses: ['127.0.0.1', '::1'], issuer: ca,
});

describe('der', () => {
  it('encodes known values', () => {
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(uint(Buffer.from([0x80])).toString('hex')).toBe('02020080');
    expect(uint(Buffer.from([0, 0, 5])).toString('hex')).toBe('020105');
    expect(time(new Date('2030-01-02T03:04:05Z')).toString('ascii').slice(2)).toBe('300102030405Z');
    expect(time(new Date('2051-01-02T03:04:05Z')).toString('ascii').slice(2)).toBe('20510102030405Z');
  });
});

describe('issueCertificate', () => {
  it('makes a CA that node:crypto reads as a CA', () => {
    const c = new X509Certificate(ca.certPem);
    expect(c.ca).toBe(true);
    expect(c.subject).toContain('CN=agentgate-ca');
    expect(c.verify(c.publicKey)).toBe(true);
  });

  it('makes a serving certificate signed by the CA with the requested names', () => {
    const c = new X509Certificate(leaf.certPem);
    const cac = new X509Certificate(ca.certPem);
    expect(c.ca).toBe(false);
    expect(c.checkIssued(cac)).toBe(true);
    expect(c.verify(cac.publicKey)).toBe(true);
    expect(c.checkHost('agentgate-operator.agentgate-system.svc')).toBe('agentgate-operator.agentgate-system.svc');
    expect(c.checkHost('evil.example')).toBeUndefined();
    expect(c.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(c.checkIP('::1')).toBe('::1');
    expect(c.checkIP('10.0.0.1')).toBeUndefined();
    expect(Math.abs(notAfter(leaf.certPem).getTime() - inDays(365).getTime())).toBeLessThan(1000);
  });

  it('passes openssl verify for serverAuth', () => {
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, 'tls.crt'), leaf.certPem);
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]).toString();
    expect(out.trim()).toBe(`${join(dir, 'tls.crt')}: OK`);
  });

  it('is refused by openssl verify against another CA', () => {
    const other = issueCertificate({ commonName: 'other', notBefore: now, notAfter: inDays(10), isCA: true });
    writeFileSync(join(dir, 'other.crt'), other.certPem);
    expect(() => execFileSync('openssl', ['verify', '-CAfile', join(dir, 'other.crt'), join(dir, 'tls.crt')], { stdio: 'pipe' })).toThrow();
  });

  it('serves TLS that a client trusting only the CA accepts', async () => {
    const server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const body = await new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port, path: '/', ca: ca.certPem }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => { b += c.toString(); });
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      expect(body).toBe('ok');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses notAfter before notBefore', () => {
    expect(() => issueCertificate({ commonName: 'x', notBefore: now, notAfter: inDays(-1), isCA: true })).toThrow(/notAfter/);
  });

  it('splits a PEM bundle', () => {
    expect(splitPemBundle(ca.certPem + leaf.certPem)).toEqual([ca.certPem, leaf.certPem]);
    expect(splitPemBundle('junk')).toEqual([]);
  });
});
