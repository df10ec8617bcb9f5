// Approvals end to end against the real API server: the sidecar's
// ClusterApprovalService creates AccessRequests through the operator API,
// people decide with `kubectl agentgate` (run as a kubectl plugin, each with
// their own client certificate), and the operator's admission webhooks stamp
// the deciding user and refuse self-approval, outsiders, repeated and late
// decisions. Grants open a window that the sidecar's configuration carries.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import type { AccessRequest } from '../core/resources/generated.js';
import type { Identity } from '../core/policy/activation.js';
import type { ApprovalOutcome } from '../core/recording/events.js';
import { R } from '../operator/kube/resources.js';
import { KubeApiError } from '../operator/errors.js';
import { KubeClient } from '../operator/kube/kube-client.js';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterApprovalService } from '../sidecar/cluster/cluster-approval-service.js';
import { ClusterConfigSource } from '../sidecar/cluster/cluster-config-source.js';
import { OperatorClient } from '../sidecar/cluster/operator-client.js';
import { buildCli, kubectlAgentgate, startApiHarness, type ApiHarness } from './sidecar-api-harness.js';
import { settle } from './operator-e2e-support.js';

const NS = 'team-b';
const OWNER = 'owner@example.com';

const policy = (name: string, rule: string, approval: string): string => `
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: [ { oidc: { issuer: "https://issuer.example", audience: agents, users: ["${OWNER}"] } } ]
  connections: [orders-db]
  rules:
    - { name: ${rule}, when: "true", action: review, message: "needs a human" }
  approval: ${approval}
---`;

const MANIFESTS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: agentgate-e2e-approver }
rules:
  - { apiGroups: [agentgate.dev], resources: [accessrequests, sessionrecords], verbs: [get, list, watch] }
  - { apiGroups: [agentgate.dev], resources: [accessrequests/status], verbs: [get, patch, update] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: agentgate-e2e-approver }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: agentgate-e2e-approver }
subjects: [ { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "agentgate:users" } ]
---
${policy('orders', 'deletes', '{ approvers: { groups: [dba], users: [bob] }, timeout: 2m }')}
${policy('bulk', 'bulk-deletes', '{ approvers: { groups: [dba], users: [bob] }, required: 2, timeout: 2m }')}
${policy('quick', 'quick', '{ approvers: { groups: [dba] }, timeout: 3s }')}
${policy('ops', 'maintenance', '{ approvers: { groups: [dba] }, timeout: 2m, scope: grant, grantDuration: 1h }')}
`;

describe('e2e: approvals with kubectl agentgate', () => {
  let h: ApiHarness | undefined;
  const H = (): ApiHarness => {
    if (!h) throw new Error('harness not started');
    return h;
  };
  const users: Record<string, string> = {};
  let client: OperatorClient | undefined;
  let source: ClusterConfigSource | undefined;
  let approvals: ClusterApprovalService | undefined;
  let identity: Identity;

  beforeAll(async () => {
    await buildCli();
    h = await startApiHarness();
    await h.createPod(NS, 'agent-1', { labels: { app: 'agent' } });
    await h.apply(MANIFESTS);
    await settle(async () => H().resources.policies(NS).length, (n) => n === 4, 300);
    for (const [name, groups] of [
      ['alice', ['dba']], ['bob', []], ['carol', ['dba']], ['mallory', ['devs']], [OWNER, ['dba']],
    ] as const) {
      users[name] = await h.cp.makeUserKubeconfig(name, [...groups, 'agentgate:users']);
    }
    client = new OperatorClient({ url: h.apiUrl, caFile: h.caFile, tokenFile: await h.podToken(NS, 'agent-1') });
    source = new ClusterConfigSource({ client });
    source.start();
    await source.ready();
    approvals = new ClusterApprovalService({ client, grants: () => source?.current()?.grants ?? [], pollSeconds: 5 });
    identity = {
      kind: 'oidc', sub: OWNER, iss: 'https://issuer.example', groups: ['agents'], claims: {},
      pod: { namespace: NS, name: 'agent-1', serviceAccount: 'agent', labels: { app: 'agent' } },
    };
  }, 60 * 60_000);

  afterAll(async () => {
    await source?.stop();
    client?.close();
    await h?.stop();
  }, 120_000);

  /** A review decision through the sidecar's approval service: resolves the request name as soon as it exists. */
  async function ask(policyName: string, rule: string, operation: string, timeoutMs = 120_000): Promise<{ name: string; outcome: Promise<ApprovalOutcome> }> {
    if (!approvals) throw new Error('no approval service');
    let named: (n: string) => void = () => undefined;
    const name = new Promise<string>((r) => (named = r));
    const outcome = approvals.request({
      sessionId: 'sess-1', identity, connection: 'orders-db', protocol: 'postgres', operation,
      decision: { action: 'review', policy: `${NS}/${policyName}`, rule, message: 'needs a human', approval: { timeoutMs } },
    }, { signal: new AbortController().signal, onPending: named });
    return { name: await Promise.race([name, outcome.then((o) => `(resolved ${o} without a request)`)]), outcome };
  }

  const cli = (user: string, args: string[]) => kubectlAgentgate(H(), users[user] ?? '', [...args, '-n', NS]);
  const get = (name: string) => H().admin.get<AccessRequest>(R.accessRequests, NS, name);

  it('lists the pending request, refuses self-approval and an outsider, and releases it on an allowed approval', async () => {
    const { name, outcome } = await ask('orders', 'deletes', 'DELETE FROM orders WHERE id = 7');
    expect(name).toMatch(/^ar-/);

    const list = await cli('alice', ['requests']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${name}\\s+Pending\\s+${OWNER}\\s+agent-1\\s+orders-db\\s+orders/deletes\\s+0\\s+in \\d+[sm]\\s+DELETE FROM orders WHERE id = 7`));

    const self = await cli(OWNER, ['approve', name, '--reason', 'trust me']);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain(`approve ${name} refused`);
    expect(self.stderr).toContain(`self-approval refused: ${OWNER} is the requester of AccessRequest ${name}`);

    const outsider = await cli('mallory', ['approve', name, '--reason', 'looks fine']);
    expect(outsider.code).toBe(1);
    expect(outsider.stderr).toContain(`mallory is not an approver of AccessPolicy orders (approvers: users bob and groups dba)`);
    expect((await get(name)).status?.phase).toBe('Pending');

    const ok = await cli('alice', ['approve', name, '--reason', 'cleanup of a test order']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`accessrequest/${name} approved by alice`);
    expect(await outcome).toBe('approved');
    const ar = await get(name);
    expect(ar.status).toMatchObject({ phase: 'Approved', decidedBy: 'alice', reason: 'cleanup of a test order', approvals: [{ user: 'alice', reason: 'cleanup of a test order' }] });

    // Decided: a later deny changes nothing (the webhook refuses even a direct patch).
    const late = await cli('carol', ['deny', name, '--reason', 'too late']);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('already Approved by alice');
    const carol = carolClient();
    const direct = await carol.patch(R.accessRequests, NS, name, { status: { phase: 'Denied', reason: 'x' } }, 'merge', 'status').catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(KubeApiError);
    expect((direct as KubeApiError).message).toContain('is already Approved by alice; a decided request cannot change');
  });

  function carolClient(): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromFile(users.carol ?? '');
    return new KubeClient(kc, 'e2e');
  }

  it('stamps the authenticated user: an approval written in another name is recorded as its real author', async () => {
    const { name, outcome } = await ask('orders', 'deletes', 'DELETE FROM orders WHERE id = 8');
    const current = await get(name);
    await carolClient().patch(R.accessRequests, NS, name, {
      metadata: { resourceVersion: current.metadata.resourceVersion },
      status: { approvals: [{ user: 'bob', reason: 'signed as bob', at: new Date().toISOString() }], phase: 'Approved', decidedBy: 'bob' },
    }, 'merge', 'status');
    expect(await outcome).toBe('approved');
    const ar = await get(name);
    expect(ar.status?.decidedBy).toBe('carol');
    expect(ar.status?.approvals?.map((a) => a.user)).toEqual(['carol']);
  });

  it('needs two distinct approvers when the policy requires 2', async () => {
    const { name, outcome } = await ask('bulk', 'bulk-deletes', 'DELETE FROM orders WHERE total < 5');
    const first = await cli('alice', ['approve', name, '--reason', 'ok by me']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('recorded (1 so far); still Pending');
    const again = await cli('alice', ['approve', name, '--reason', 'really ok']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`alice has already approved AccessRequest ${name}; 1 more distinct approver(s) needed`);
    expect((await get(name)).status?.phase).toBe('Pending');
    const second = await cli('bob', ['approve', name, '--reason', 'second pair of eyes']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`accessrequest/${name} approved by bob (2 approval(s))`);
    expect(await outcome).toBe('approved');
  });

  it('refuses the operation on a deny', async () => {
    const { name, outcome } = await ask('orders', 'deletes', 'DELETE FROM orders');
    const noReason = await cli('bob', ['deny', name]);
    expect(noReason.code).toBe(2);
    const denied = await cli('bob', ['deny', name, '--reason', 'no WHERE clause']);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toContain(`accessrequest/${name} denied by bob`);
    expect(await outcome).toBe('denied');
    expect((await get(name)).status).toMatchObject({ phase: 'Denied', decidedBy: 'bob', reason: 'no WHERE clause' });
  });

  it('refuses the operation when the request expires, and nobody can decide it afterwards', async () => {
    const { name, outcome } = await ask('quick', 'quick', 'TRUNCATE orders');
    expect(await outcome).toBe('expired');
    const ar = await get(name);
    expect(Date.parse(ar.spec.expiresAt)).toBeLessThanOrEqual(Date.now());
    const late = await cli('alice', ['approve', name, '--reason', 'sorry, was away']);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('already Expired');
    // Straight to the API, past the plugin's own check: the webhook refuses it.
    const direct = await carolClient().patch(R.accessRequests, NS, name, {
      status: { approvals: [{ user: 'carol', reason: 'late', at: new Date().toISOString() }] },
    }, 'merge', 'status').catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(KubeApiError);
    expect((direct as KubeApiError).message).toContain(`AccessRequest ${name} expired at ${ar.spec.expiresAt}`);
  });

  it('refuses a review the operator cannot record (fail closed)', async () => {
    const down = new ClusterApprovalService({
      client: new OperatorClient({ url: 'https://127.0.0.1:1', caFile: H().caFile, tokenFile: H().caFile }),
      createTimeoutMs: 300, retryMs: 100,
    });
    await expect(down.request({
      sessionId: 's', identity, connection: 'orders-db', protocol: 'postgres', operation: 'DELETE FROM orders',
      decision: { action: 'review', policy: `${NS}/orders`, rule: 'deletes', message: '' },
    }, { signal: new AbortController().signal, onPending: () => undefined })).rejects.toMatchObject({ code: 'AG_APPROVAL_UNAVAILABLE' });
  });

  it('a grant opens a window: the configuration carries it and the next operation needs no new request', async () => {
    const { name, outcome } = await ask('ops', 'maintenance', 'VACUUM orders');
    const ok = await cli('carol', ['approve', name, '--reason', 'maintenance window']);
    expect(ok.code).toBe(0);
    expect(await outcome).toBe('approved');
    const cfg = await settle(async () => source?.current(), (c) => (c?.grants.length ?? 0) > 0, 300);
    expect(cfg?.grants).toEqual([expect.objectContaining({ request: name, policy: `${NS}/ops`, rule: 'maintenance', connection: 'orders-db', identity: { sub: OWNER, iss: 'https://issuer.example' } })]);
    const expiresIn = Date.parse(cfg?.grants[0]?.expiresAt ?? '') - Date.now();
    expect(expiresIn).toBeGreaterThan(55 * 60_000);
    const before = (await H().admin.list(R.accessRequests, NS)).items.length;
    const second = await ask('ops', 'maintenance', 'ANALYZE orders');
    expect(second.name).toBe('(resolved approved without a request)');
    expect(await second.outcome).toBe('approved');
    expect((await H().admin.list(R.accessRequests, NS)).items.length).toBe(before);
  });
});
