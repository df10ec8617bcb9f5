// Throwaway PKI for tests: a self-signed CA and leaf certificates with IP and
// DNS subject alternative names, made with the openssl CLI (EC P-256, fast).
// Lets tests run real verify-full TLS instead of turning verification off.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './processes.js';

export interface TestCa {
  certPem: string;
  keyPem: string;
  /** Issues a leaf certificate signed by this CA. */
  issue(opts: { commonName: string; ips?: string[]; dnsNames?: string[]; client?: boolean }): Promise<{ certPem: string; keyPem: string }>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await runCommand('openssl', args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args[0] ?? ''} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createTestCa(commonName = 'agentgate-test-ca'): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-ca-'));
  try {
    await openssl(
      ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3', '-subj', `/CN=${commonName}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
      dir,
    );
    const certPem = await readFile(join(dir, 'ca.crt'), 'utf8');
    const keyPem = await readFile(join(dir, 'ca.key'), 'utf8');
    return { certPem, keyPem, issue: (o) => issueLeaf(certPem, keyPem, o) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function issueLeaf(
  caCert: string,
  caKey: string,
  opts: { commonName: string; ips?: string[]; dnsNames?: string[]; client?: boolean },
): Promise<{ certPem: string; keyPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentgate-leaf-'));
  try {
    await writeFile(join(dir, 'ca.crt'), caCert);
    await writeFile(join(dir, 'ca.key'), caKey, { mode: 0o600 });
    const sans = [...(opts.ips ?? []).map((ip) => `IP:${ip}`), ...(opts.dnsNames ?? []).map((d) => `DNS:${d}`)];
    const ext = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${opts.client === true ? 'clientAuth' : 'serverAuth'}`,
      ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
    ].join('\n');
    await writeFile(join(dir, 'ext.cnf'), ext + '\n');
    await openssl(['req', ...EC, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${opts.commonName}`], dir);
    await openssl(
      ['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.crt',
        '-days', '3', '-extfile', 'ext.cnf'],
      dir,
    );
    return { certPem: await readFile(join(dir, 'leaf.crt'), 'utf8'), keyPem: await readFile(join(dir, 'leaf.key'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
