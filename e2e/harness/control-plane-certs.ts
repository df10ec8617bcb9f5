// Certificates and keys for a throwaway control plane, made with the openssl
// CLI: a serving CA + serving certificate (IP SAN 127.0.0.1), a client CA +
// client certificates (CN = user, O = groups, as kube-apiserver reads them),
// and the service-account signing key pair.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ControlPlaneError } from './control-plane-errors.js';

const execFileAsync = promisify(execFile);

export interface KeyPairFiles {
  certPath: string;
  keyPath: string;
}

export interface ControlPlanePki {
  dir: string;
  servingCa: KeyPairFiles;
  serving: KeyPairFiles;
  clientCa: KeyPairFiles;
  admin: KeyPairFiles;
  serviceAccountKeyPath: string;
  serviceAccountPubPath: string;
}

const VALID_DAYS = '30';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { maxBuffer: 1 << 20 });
  } catch (err: unknown) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new ControlPlaneError('CONTROL_PLANE_CERTS_FAILED', `openssl ${args[0] ?? ''} failed: ${stderr || String(err)}`, { cause: err });
  }
}

/** An openssl -subj value; `/`, `+`, `=` and `\` are escaped so a name cannot add attributes. */
export function opensslSubject(commonName: string, organizations: readonly string[]): string {
  const check = (v: string, what: string): string => {
    if (v === '' || /[\p{Cc}]/u.test(v)) {
      throw new ControlPlaneError('CONTROL_PLANE_BAD_ARGUMENT', `${what} must be non-empty without control characters`);
    }
    return v.replace(/[\\/+=]/g, (c) => `\\${c}`);
  };
  return `/CN=${check(commonName, 'user')}` + organizations.map((o) => `/O=${check(o, 'group')}`).join('');
}

async function makeCa(dir: string, name: string, commonName: string): Promise<KeyPairFiles> {
  const files = { certPath: path.join(dir, `${name}.crt`), keyPath: path.join(dir, `${name}.key`) };
  await openssl([
    'req', '-x509', ...EC_KEY, '-keyout', files.keyPath, '-out', files.certPath, '-days', VALID_DAYS,
    '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  return files;
}

/** Issues a leaf certificate signed by `ca`; `serverIps`/`serverDns` make it a serving certificate. */
export async function issueCertificate(
  ca: KeyPairFiles,
  dir: string,
  name: string,
  subject: { commonName: string; organizations?: readonly string[]; serverIps?: readonly string[]; serverDns?: readonly string[] },
): Promise<KeyPairFiles> {
  const files = { certPath: path.join(dir, `${name}.crt`), keyPath: path.join(dir, `${name}.key`) };
  const csrPath = path.join(dir, `${name}.csr`);
  const extPath = path.join(dir, `${name}.ext`);
  const sans = [...(subject.serverIps ?? []).map((ip) => `IP:${ip}`), ...(subject.serverDns ?? []).map((d) => `DNS:${d}`)];
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${sans.length > 0 ? 'serverAuth' : 'clientAuth'}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  await writeFile(extPath, ext.join('\n') + '\n');
  await openssl([
    'req', '-new', '-utf8', ...EC_KEY, '-keyout', files.keyPath, '-out', csrPath,
    '-subj', opensslSubject(subject.commonName, subject.organizations ?? []),
  ]);
  await openssl([
    'x509', '-req', '-in', csrPath, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', randomSerial(),
    '-days', VALID_DAYS, '-extfile', extPath, '-out', files.certPath,
  ]);
  return files;
}

function randomSerial(): string {
  // 64 random bits, positive: openssl takes a decimal or 0x-prefixed hex serial.
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return '0x' + bytes.toString('hex');
}

export async function generateControlPlanePki(dir: string): Promise<ControlPlanePki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [servingCa, clientCa] = await Promise.all([
    makeCa(dir, 'serving-ca', 'agentgate-e2e-serving-ca'),
    makeCa(dir, 'client-ca', 'agentgate-e2e-client-ca'),
  ]);
  const serviceAccountKeyPath = path.join(dir, 'service-account.key');
  const serviceAccountPubPath = path.join(dir, 'service-account.pub');
  const [serving, admin] = await Promise.all([
    issueCertificate(servingCa, dir, 'kube-apiserver', {
      commonName: 'kube-apiserver',
      serverIps: ['127.0.0.1', '10.0.0.1'],
      serverDns: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    }),
    issueCertificate(clientCa, dir, 'admin', { commonName: 'agentgate-e2e-admin', organizations: ['system:masters'] }),
    // RSA so the tokens are RS256, what most JWT verifiers expect by default.
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', serviceAccountKeyPath]),
  ]);
  await openssl(['pkey', '-in', serviceAccountKeyPath, '-pubout', '-out', serviceAccountPubPath]);
  return { dir, servingCa, serving, clientCa, admin, serviceAccountKeyPath, serviceAccountPubPath };
}

export async function readPem(file: string): Promise<string> {
  return readFile(file, 'utf8');
}
