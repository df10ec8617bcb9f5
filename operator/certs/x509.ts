// A minimal X.509 v3 issuer on node:crypto (ECDSA P-256, SHA-256): a CA and
// the serving certificates it signs. Why not the openssl CLI: the operator
// image need not ship openssl (distroless has none), no child process, and
// private keys never touch the filesystem. Parsing and verification use
// node:crypto's X509Certificate; tests cross-check with `openssl verify` and a
// real TLS handshake.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, bool, explicit, implicit, octetString, oid, seq, set, smallInt, time, uint, utf8String } from './der.js';
import { CertificateError } from '../errors.js';

const OID = {
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface IssueOptions {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Signer; omit for a self-signed certificate. */
  issuer?: KeyPairPem;
}

const name = (cn: string): Buffer => seq(
  set(seq(oid(OID.organization), utf8String('agentgate'))),
  set(seq(oid(OID.commonName), utf8String(cn))),
);

const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  critical ? seq(oid(id), bool(true), octetString(value)) : seq(oid(id), octetString(value));

function ipBytes(ip: string): Buffer {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map((x) => Number(x)));
  if (v === 6) {
    const [head = '', tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
    return b;
  }
  throw new CertificateError(`not an IP address: ${ip}`);
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
function keyId(spkiDer: Buffer): Buffer {
  // SPKI = SEQ { SEQ algorithm, BIT STRING key }; for P-256 the key is the last 65 bytes.
  return createHash('sha1').update(spkiDer.subarray(spkiDer.length - 65)).digest();
}

export function issueCertificate(opts: IssueOptions): KeyPairPem {
  if (opts.notAfter <= opts.notBefore) throw new CertificateError('notAfter must be after notBefore');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  let signerKey: KeyObject = privateKey;
  let issuerName = name(opts.commonName);
  let authorityKeyId = keyId(spki);
  if (opts.issuer) {
    const ca = new X509Certificate(opts.issuer.certPem);
    signerKey = createPrivateKey(opts.issuer.keyPem);
    issuerName = tbsSubjectDer(ca);
    authorityKeyId = keyId(ca.publicKey.export({ type: 'spki', format: 'der' }));
  }
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive, as RFC 5280 requires

  const sans: Buffer[] = [
    ...(opts.dnsNames ?? []).map((d) => implicit(2, Buffer.from(d, 'ascii'))),
    ...(opts.ipAddresses ?? []).map((ip) => implicit(7, ipBytes(ip))),
  ];
  const exts: Buffer[] = [
    extension(OID.basicConstraints, true, opts.isCA ? seq(bool(true), smallInt(0)) : seq()),
    // digitalSignature (bit 0); a CA also keyCertSign (5) and cRLSign (6).
    extension(OID.keyUsage, true, opts.isCA ? bitString(Buffer.from([0x86]), 1) : bitString(Buffer.from([0x80]), 7)),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId(spki))),
    extension(OID.authorityKeyIdentifier, false, seq(implicit(0, authorityKeyId))),
  ];
  if (!opts.isCA) exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))));
  if (sans.length > 0) exts.push(extension(OID.subjectAltName, false, seq(...sans)));

  const sigAlg = seq(oid(OID.ecdsaWithSHA256));
  const tbs = seq(
    explicit(0, smallInt(2)), // v3
    uint(serial),
    sigAlg,
    issuerName,
    seq(time(opts.notBefore), time(opts.notAfter)),
    name(opts.commonName),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = sign('sha256', tbs, signerKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, sigAlg, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem };
}

/** The DER of the subject Name inside a certificate (so issuer == CA subject byte for byte). */
function tbsSubjectDer(cert: X509Certificate): Buffer {
  const der = cert.raw;
  const tbs = children(der, 0)[0];
  if (!tbs) throw new CertificateError('malformed CA certificate');
  const fields = children(der, tbs.start);
  // version [0], serial, sigAlg, issuer, validity, subject
  const subject = fields[0]?.tag === 0xa0 ? fields[5] : fields[4];
  if (!subject) throw new CertificateError('malformed CA certificate');
  return der.subarray(subject.start, subject.end);
}

interface Node { tag: number; start: number; end: number }
/** The TLVs directly inside the constructed TLV starting at `at`. */
function children(der: Buffer, at: number): Node[] {
  const header = (pos: number): { tag: number; len: number; hdr: number } => {
    const tag = der[pos] ?? 0;
    const l0 = der[pos + 1] ?? 0;
    if (l0 < 0x80) return { tag, len: l0, hdr: 2 };
    const n = l0 & 0x7f;
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[pos + 2 + i] ?? 0);
    return { tag, len, hdr: 2 + n };
  };
  const outer = header(at);
  const out: Node[] = [];
  let p = at + outer.hdr;
  const end = at + outer.hdr + outer.len;
  while (p < end) {
    const h = header(p);
    out.push({ tag: h.tag, start: p, end: p + h.hdr + h.len });
    p += h.hdr + h.len;
  }
  return out;
}

export function notAfter(certPem: string): Date {
  try {
    return new Date(new X509Certificate(certPem).validTo);
  } catch (err) {
    throw new CertificateError('cannot parse certificate', { cause: err });
  }
}

/** All PEM certificates in a bundle. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((s) => s.endsWith('\n') ? s : `${s}\n`) ?? [];
}
