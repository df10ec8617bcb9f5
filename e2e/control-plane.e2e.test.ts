// The e2e control plane itself: a real kube-apiserver + etcd, driven with the
// real kubectl and with @kubernetes/client-node. Checks what the agentgate e2e
// tests rely on: admin access, Pods accepted (they stay Pending), pod-bound
// service-account tokens through TokenRequest + TokenReview, and RBAC denying a
// client-certificate user.
import { spawn } from 'node:child_process';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { ApiException, AuthenticationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './harness/control-plane.js';

const KUBECTL = '/usr/bin/kubectl';
const NS = 'agentgate-e2e';
const SA = 'agent';
const POD = 'agent-pod';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function kubectlOk(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const res = await kubectl(kubeconfig, args, input);
  if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${String(res.code)}: ${res.stderr}`);
  return res.stdout;
}

/**
 * Re-runs `attempt` until it returns a value (RBAC and token lookups read from
 * informer caches, which trail a write by a moment). Bounded by `tries`; the
 * assertion is made by the caller on the last value.
 */
async function settle<T>(attempt: () => Promise<T>, done: (v: T) => boolean, tries = 100): Promise<T> {
  let last = await attempt();
  for (let i = 1; i < tries && !done(last); i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = await attempt();
  }
  return last;
}

function clientsFor(kubeconfigPath: string): { core: CoreV1Api; authn: AuthenticationV1Api; rbac: RbacAuthorizationV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { core: kc.makeApiClient(CoreV1Api), authn: kc.makeApiClient(AuthenticationV1Api), rbac: kc.makeApiClient(RbacAuthorizationV1Api) };
}

const podManifest = `apiVersion: v1
kind: Pod
metadata:
  name: ${POD}
  namespace: ${NS}
  labels: { app: agent }
spec:
  serviceAccountName: ${SA}
  containers:
    - name: agent
      image: registry.example/agent:1
`;

describe('e2e control plane (kube-apiserver + etcd)', () => {
  let cp: ControlPlane | undefined;
  const plane = (): ControlPlane => {
    if (cp === undefined) throw new Error('control plane not started');
    return cp;
  };

  // A cold build of kube-apiserver takes many minutes; afterwards startup takes seconds.
  beforeAll(async () => {
    cp = await startControlPlane();
  }, 60 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  it('serves the built version to kubectl with the admin kubeconfig', async () => {
    const out = JSON.parse(await kubectlOk(plane().kubeconfigPath, ['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    expect(out.serverVersion?.gitVersion).toBe(plane().version);
    expect(plane().server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(plane().caCertPem).toContain('BEGIN CERTIFICATE');
  });

  it('creates a namespace, a ServiceAccount and a Pod that stays Pending', async () => {
    const admin = plane().kubeconfigPath;
    await kubectlOk(admin, ['create', 'namespace', NS]);
    await kubectlOk(admin, ['-n', NS, 'create', 'serviceaccount', SA]);
    await kubectlOk(admin, ['apply', '-f', '-'], podManifest);

    const { core } = clientsFor(admin);
    const pod = await core.readNamespacedPod({ name: POD, namespace: NS });
    expect(pod.spec?.serviceAccountName).toBe(SA);
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.spec?.nodeName).toBeUndefined();
  });

  it('issues a pod-bound token (TokenRequest) that TokenReview authenticates, until the Pod is gone', async () => {
    const { core, authn } = clientsFor(plane().kubeconfigPath);
    const pod = await core.readNamespacedPod({ name: POD, namespace: NS });
    const tr = await core.createNamespacedServiceAccountToken({
      name: SA,
      namespace: NS,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: POD, uid: pod.metadata?.uid },
        },
      },
    });
    const token = tr.status?.token;
    expect(typeof token).toBe('string');

    const review = await authn.createTokenReview({ body: { spec: { token: token ?? '' } } });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${NS}:${SA}`);
    expect(review.status?.user?.groups).toEqual(expect.arrayContaining(['system:serviceaccounts', `system:serviceaccounts:${NS}`]));
    expect(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name']).toEqual([POD]);
    expect(review.status?.user?.extra?.['authentication.kubernetes.io/pod-uid']).toEqual([pod.metadata?.uid]);

    // The issuer in the token matches what the harness reports, and discovery serves it.
    const payload = JSON.parse(Buffer.from((token ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: string };
    expect(payload.iss).toBe(plane().serviceAccountIssuer);
    const discovery = JSON.parse(await kubectlOk(plane().kubeconfigPath, ['get', '--raw', '/.well-known/openid-configuration'])) as { issuer?: string };
    expect(discovery.issuer).toBe(plane().serviceAccountIssuer);

    // A token with a forged signature is not authenticated.
    const parts = (token ?? '').split('.');
    const forged = `${parts[0] ?? ''}.${parts[1] ?? ''}.${Buffer.from('not-the-signature').toString('base64url')}`;
    const forgedReview = await authn.createTokenReview({ body: { spec: { token: forged } } });
    expect(forgedReview.status?.authenticated).not.toBe(true);

    // kubectl's own TokenRequest path gives a token for the same identity.
    const kubectlToken = (
      await kubectlOk(plane().kubeconfigPath, ['-n', NS, 'create', 'token', SA, '--bound-object-kind', 'Pod', '--bound-object-name', POD])
    ).trim();
    const kubectlReview = await authn.createTokenReview({ body: { spec: { token: kubectlToken } } });
    expect(kubectlReview.status?.authenticated).toBe(true);
    expect(kubectlReview.status?.user?.username).toBe(`system:serviceaccount:${NS}:${SA}`);

    // Bound to the Pod: once it is deleted (unscheduled Pods go at once), the token stops working.
    await kubectlOk(plane().kubeconfigPath, ['-n', NS, 'delete', 'pod', POD, '--wait=true']);
    const afterDelete = await settle(
      () => authn.createTokenReview({ body: { spec: { token: token ?? '' } } }),
      (r) => r.status?.authenticated !== true,
      300, // successful authentications are cached for 10s by kube-apiserver
    );
    expect(afterDelete.status?.authenticated).not.toBe(true);
  });

  it('gives makeUserKubeconfig users their identity, and RBAC forbids them secrets until a Role allows it', async () => {
    const user = 'alice@example.com';
    const group = 'agentgate:approvers';
    const userConfig = await plane().makeUserKubeconfig(user, [group]);

    const whoami = JSON.parse(await kubectlOk(userConfig, ['auth', 'whoami', '-o', 'json'])) as {
      status?: { userInfo?: { username?: string; groups?: string[] } };
    };
    expect(whoami.status?.userInfo?.username).toBe(user);
    expect(whoami.status?.userInfo?.groups).toEqual(expect.arrayContaining([group, 'system:authenticated']));

    const denied = await kubectl(userConfig, ['-n', NS, 'get', 'secrets']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/forbidden/i);
    expect(denied.stderr).toContain(`User "${user}" cannot list resource "secrets"`);

    const { core } = clientsFor(userConfig);
    const err = await core.listNamespacedSecret({ namespace: NS }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(403);

    // The 403 is an RBAC decision: granting the group a Role makes the same call succeed.
    const { rbac } = clientsFor(plane().kubeconfigPath);
    await rbac.createNamespacedRole({
      namespace: NS,
      body: { metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: 'approvers-read-secrets' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
      },
    });
    const allowed = await settle(
      () =>
        core.listNamespacedSecret({ namespace: NS }).then(
          (list) => ({ items: list.items as unknown, error: undefined as unknown }),
          (e: unknown) => ({ items: undefined as unknown, error: e }),
        ),
      (r) => r.error === undefined,
    );
    expect(allowed.error).toBeUndefined();
    expect(Array.isArray(allowed.items)).toBe(true);
  });
});
