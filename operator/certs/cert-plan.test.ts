import { describe, it, expect } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { DAY_MS, DEFAULT_CERT_PLAN, planCertificates, type CertPlanOptions } from './cert-plan.js';
import { splitPemBundle } from './x509.js';

const o: CertPlanOptions = { ...DEFAULT_CERT_PLAN, commonName: 'agentgate-operator', dnsNames: ['agentgate-operator.agentgate-system.svc'], ipAddresses: ['127.0.0.1'] };
const t0 = new Date('2026-06-01T00:00:00Z');
const at = (days: number): Date => new Date(t0.getTime() + days * DAY_MS);

describe('planCertificates', () => {
  const first = planCertificates(undefined, t0, o);

  it('creates a CA and a serving certificate it signed, covering the names', () => {
    expect(first.changed && first.rotatedCa && first.rotatedServing).toBe(true);
    const ca = new X509Certificate(first.bundle.caCertPem);
    const leaf = new X509Certificate(first.bundle.certPem);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.checkHost('agentgate-operator.agentgate-system.svc')).toBeDefined();
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(splitPemBundle(first.bundle.trustBundlePem)).toHaveLength(1);
  });

  it('changes nothing while both are fresh', () => {
    const again = planCertificates(first.bundle, at(100), o);
    expect(again.changed).toBe(false);
    expect(again.bundle).toEqual(first.bundle);
  });

  it('renews the serving certificate 30 days before it expires, keeping the CA', () => {
    const r = planCertificates(first.bundle, at(336), o);
    expect(r.rotatedServing).toBe(true);
    expect(r.rotatedCa).toBe(false);
    expect(r.bundle.caCertPem).toBe(first.bundle.caCertPem);
    expect(r.bundle.certPem).not.toBe(first.bundle.certPem);
    expect(planCertificates(first.bundle, at(334), o).changed).toBe(false);
  });

  it('re-issues the serving certificate when a name is added', () => {
    const r = planCertificates(first.bundle, at(1), { ...o, ipAddresses: ['127.0.0.1', '10.0.0.7'] });
    expect(r.rotatedServing).toBe(true);
    expect(new X509Certificate(r.bundle.certPem).checkIP('10.0.0.7')).toBe('10.0.0.7');
  });

  it('rotates the CA before it expires and keeps trusting the old one until it does', () => {
    const r = planCertificates(first.bundle, at(3650 - 29), o);
    expect(r.rotatedCa && r.rotatedServing).toBe(true);
    const trusted = splitPemBundle(r.bundle.trustBundlePem);
    expect(trusted).toEqual([r.bundle.caCertPem, first.bundle.caCertPem]);
    // After the old CA expires it leaves the bundle.
    const later = planCertificates(r.bundle, at(3651), o);
    expect(splitPemBundle(later.bundle.trustBundlePem)).toEqual([r.bundle.caCertPem]);
  });

  it('replaces a serving certificate that the CA did not sign', () => {
    const other = planCertificates(undefined, t0, o);
    const mixed = { ...first.bundle, certPem: other.bundle.certPem, keyPem: other.bundle.keyPem };
    const r = planCertificates(mixed, at(1), o);
    expect(r.rotatedServing).toBe(true);
    expect(r.rotatedCa).toBe(false);
  });

  it('starts over from garbage', () => {
    const r = planCertificates({ caCertPem: 'junk', caKeyPem: 'junk', certPem: 'junk', keyPem: 'junk' }, t0, o);
    expect(r.rotatedCa && r.rotatedServing).toBe(true);
  });
});
