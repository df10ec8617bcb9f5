// Pure certificate planning: given what the Secret holds and the time, what
// the operator should serve. A CA lives 10 years, a serving certificate one
// year; each is replaced `rotateBeforeMs` before it expires. After a CA
// rotation the previous CA stays in the trust bundle until it expires, so
// callers that still hold the old bundle keep working through the change.
import { X509Certificate } from 'node:crypto';
import { issueCertificate, splitPemBundle } from './x509.js';

export interface CertBundle {
  caCertPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  /** Current CA, then the previous one while it is valid (what clients trust). */
  trustBundlePem: string;
}

export interface CertPlanOptions {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  caValidityMs: number;
  servingValidityMs: number;
  rotateBeforeMs: number;
}

export const DAY_MS = 86_400_000;
export const DEFAULT_CERT_PLAN: Omit<CertPlanOptions, 'commonName' | 'dnsNames' | 'ipAddresses'> = {
  caValidityMs: 3650 * DAY_MS,
  servingValidityMs: 365 * DAY_MS,
  rotateBeforeMs: 30 * DAY_MS,
};

const parse = (pem: string | undefined): X509Certificate | undefined => {
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
};

const fresh = (c: X509Certificate, now: Date, rotateBeforeMs: number): boolean =>
  new Date(c.validFrom) <= now && new Date(c.validTo).getTime() - rotateBeforeMs > now.getTime();

export function planCertificates(
  existing: Partial<CertBundle> | undefined, now: Date, o: CertPlanOptions,
): { bundle: CertBundle; changed: boolean; rotatedCa: boolean; rotatedServing: boolean } {
  // Backdate a little: clocks in a cluster are never exactly in step.
  const notBefore = new Date(now.getTime() - 5 * 60_000);
  const ca = parse(existing?.caCertPem);
  let caCertPem = existing?.caCertPem ?? '';
  let caKeyPem = existing?.caKeyPem ?? '';
  let rotatedCa = false;
  if (!ca || !existing?.caKeyPem || !ca.ca || !fresh(ca, now, o.rotateBeforeMs)) {
    ({ certPem: caCertPem, keyPem: caKeyPem } = issueCertificate({
      commonName: `${o.commonName}-ca`, notBefore, notAfter: new Date(now.getTime() + o.caValidityMs), isCA: true,
    }));
    rotatedCa = true;
  }

  const caNow = new X509Certificate(caCertPem);
  const leaf = parse(existing?.certPem);
  const coversNames = (c: X509Certificate): boolean =>
    o.dnsNames.every((d) => c.checkHost(d, { wildcards: false }) === d) && o.ipAddresses.every((ip) => c.checkIP(ip) === ip);
  let certPem = existing?.certPem ?? '';
  let keyPem = existing?.keyPem ?? '';
  let rotatedServing = false;
  if (rotatedCa || !leaf || !existing?.keyPem || !leaf.checkIssued(caNow) || !leaf.verify(caNow.publicKey) ||
      !fresh(leaf, now, o.rotateBeforeMs) || !coversNames(leaf)) {
    ({ certPem, keyPem } = issueCertificate({
      commonName: o.commonName, notBefore, notAfter: new Date(now.getTime() + o.servingValidityMs), isCA: false,
      dnsNames: o.dnsNames, ipAddresses: o.ipAddresses, issuer: { certPem: caCertPem, keyPem: caKeyPem },
    }));
    rotatedServing = true;
  }

  // Trust: the current CA plus older CAs still valid (deduplicated).
  const trusted = [caCertPem];
  for (const pem of splitPemBundle(existing?.trustBundlePem ?? existing?.caCertPem ?? '')) {
    const c = parse(pem);
    if (c && c.ca && new Date(c.validTo) > now && !trusted.some((t) => parse(t)?.fingerprint256 === c.fingerprint256)) trusted.push(pem);
  }
  const trustBundlePem = trusted.join('');
  const changed = rotatedCa || rotatedServing || trustBundlePem !== existing?.trustBundlePem;
  return { bundle: { caCertPem, caKeyPem, certPem, keyPem, trustBundlePem }, changed, rotatedCa, rotatedServing };
}
