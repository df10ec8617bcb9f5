// Writes a self-contained kubeconfig (CA and client certificate embedded) with
// mode 0600, since it holds a private key.
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

export interface KubeconfigInput {
  server: string;
  caCertPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  userName: string;
  clusterName?: string;
}

export function kubeconfigYaml(input: KubeconfigInput): string {
  const cluster = input.clusterName ?? 'agentgate-e2e';
  const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: input.server, 'certificate-authority-data': b64(input.caCertPem) } }],
    users: [
      {
        name: input.userName,
        user: { 'client-certificate-data': b64(input.clientCertPem), 'client-key-data': b64(input.clientKeyPem) },
      },
    ],
    contexts: [{ name: `${input.userName}@${cluster}`, context: { cluster, user: input.userName, namespace: 'default' } }],
    'current-context': `${input.userName}@${cluster}`,
    preferences: {},
  });
}

export async function writeKubeconfig(file: string, input: KubeconfigInput): Promise<void> {
  await writeFile(file, kubeconfigYaml(input), { mode: 0o600 });
}
