import { describe, it, expect } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { applyPatch, type Json } from '../webhooks/json-patch.js';
import { defaultInjectionConfig, SIDECAR_NAME, TOKEN_VOLUME, SPOOL_VOLUME, CA_VOLUME, CONNECTIONS_ANNOTATION } from './injection-config.js';
import { injectPod, selectingPolicies, type ConnectionForInjection, type InjectionInputs, type PolicyForInjection } from './pod-injector.js';

const cfg = defaultInjectionConfig({ sidecarImage: 'registry.local/agentgate:1.0', operatorNamespace: 'agentgate-system' });
const NS = 'agents';

const connections: Record<string, ConnectionForInjection> = {
  'agents/orders-db': { metadata: { name: 'orders-db', namespace: NS }, spec: { listen: { port: 15432 }, env: [{ name: 'PGHOST', value: '127.0.0.1' }, { name: 'PGPORT', value: '15432' }] } },
  'agents/ops-ssh': { metadata: { name: 'ops-ssh', namespace: NS }, spec: { listen: { port: 12222 }, env: [{ name: 'SSH_HOST', value: '127.0.0.1' }, { name: 'PGHOST', value: 'from-ops-ssh' }] } },
  'other/orders-db': { metadata: { name: 'orders-db', namespace: 'other' }, spec: { listen: { port: 15432 }, env: [{ name: 'OTHER', value: 'x' }] } },
};
const policy = (name: string, namespace: string, selector: PolicyForInjection['spec'] extends infer S ? S extends { podSelector?: infer L } ? L : never : never, conns: string[]): PolicyForInjection =>
  ({ metadata: { name, namespace }, spec: { podSelector: selector, connections: conns } });

const policies: PolicyForInjection[] = [
  policy('p-orders', NS, { matchLabels: { app: 'agent' } }, ['orders-db']),
  policy('p-ops', NS, { matchExpressions: [{ key: 'team', operator: 'In', values: ['ops'] }] }, ['ops-ssh', 'missing-conn']),
  policy('p-other-ns', 'other', {}, ['orders-db']),
];

function pod(over: Partial<NonNullable<V1Pod['spec']>> = {}, labels: Record<string, string> = { app: 'agent' }, annotations?: Record<string, string>): V1Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { generateName: 'agent-', namespace: NS, labels, ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'agent', image: 'agent:1' }], ...over },
  };
}
const inputs = (p: V1Pod, namespace = NS): InjectionInputs => ({
  pod: p, namespace, policies, connection: (ns, n) => connections[`${ns}/${n}`],
});
function injected(p: V1Pod): V1Pod {
  const r = injectPod(inputs(p), cfg);
  if (r.kind !== 'inject') throw new Error(`expected inject, got ${r.kind}: ${JSON.stringify(r)}`);
  return applyPatch(p as unknown as Json, r.patch) as unknown as V1Pod;
}
const envOf = (p: V1Pod, name: string): Record<string, string | undefined> =>
  Object.fromEntries(([...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find((c) => c.name === name)?.env ?? []).map((e) => [e.name, e.value]));

describe('injectPod: injection', () => {
  it('adds the native sidecar, its volumes and the connection env', () => {
    const out = injected(pod());
    const init = out.spec?.initContainers ?? [];
    expect(init.map((c) => c.name)).toEqual([SIDECAR_NAME]);
    const sc = init[0];
    expect(sc?.restartPolicy).toBe('Always');
    expect(sc?.image).toBe('registry.local/agentgate:1.0');
    expect(sc?.startupProbe?.httpGet?.path).toBe('/readyz');
    expect(sc?.startupProbe?.httpGet?.port).toBe(cfg.adminPort);
    expect(sc?.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: cfg.sidecarUid, runAsGroup: cfg.sidecarUid, readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sc?.resources?.limits).toBeDefined();
    expect(envOf(out, SIDECAR_NAME).AGENTGATE_CONNECTIONS).toBe('orders-db');
    expect(sc?.env?.find((e) => e.name === 'AGENTGATE_POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');

    const vols = Object.fromEntries((out.spec?.volumes ?? []).map((v) => [v.name, v]));
    expect(vols[TOKEN_VOLUME]?.projected?.sources?.[0]?.serviceAccountToken).toEqual({ audience: 'agentgate.dev/operator', expirationSeconds: 3600, path: 'token' });
    expect(vols[CA_VOLUME]?.configMap?.name).toBe('agentgate-ca');
    expect(vols[SPOOL_VOLUME]?.emptyDir?.sizeLimit).toBe('256Mi');

    // The token and spool are mounted only into the sidecar.
    expect(out.spec?.containers[0]?.volumeMounts ?? []).toEqual([]);
    expect(envOf(out, 'agent')).toEqual({ PGHOST: '127.0.0.1', PGPORT: '15432' });
    expect(out.metadata?.annotations?.[CONNECTIONS_ANNOTATION]).toBe('orders-db');
  });

  it('puts the sidecar first among init containers and gives them the env too', () => {
    const out = injected(pod({ initContainers: [{ name: 'migrate', image: 'm:1' }] }));
    expect(out.spec?.initContainers?.map((c) => c.name)).toEqual([SIDECAR_NAME, 'migrate']);
    expect(envOf(out, 'migrate').PGHOST).toBe('127.0.0.1');
    expect(envOf(out, SIDECAR_NAME).PGHOST).toBeUndefined();
  });

  it('never overwrites an env var the user set; the first connection (by name) wins between connections', () => {
    const p = pod({ containers: [{ name: 'agent', image: 'a', env: [{ name: 'PGPORT', value: '5432' }] }] }, { app: 'agent', team: 'ops' });
    const out = injected(p);
    expect(envOf(out, 'agent')).toEqual({ PGPORT: '5432', PGHOST: 'from-ops-ssh', SSH_HOST: '127.0.0.1' });
    expect(envOf(out, SIDECAR_NAME).AGENTGATE_CONNECTIONS).toBe('ops-ssh,orders-db');
  });

  it('configures only the connections of policies that select the pod, in its namespace', () => {
    const out = injected(pod({}, { app: 'web' }));
    expect(envOf(out, SIDECAR_NAME).AGENTGATE_CONNECTIONS).toBe('');
    expect(envOf(out, 'agent')).toEqual({});
    const r = injectPod(inputs(pod({}, { app: 'agent', team: 'ops' })), cfg);
    expect(r.kind === 'inject' && r.warnings).toEqual(['Connection agents/missing-conn does not exist; not configured']);
  });

  it('is idempotent: injecting an injected pod yields no ops', () => {
    for (const p of [pod(), pod({ initContainers: [{ name: 'migrate', image: 'm' }] }, { app: 'agent', team: 'ops' })]) {
      const once = injected(p);
      const again = injectPod(inputs(once), cfg);
      expect(again.kind).toBe('unchanged');
    }
  });

  it('replaces a hand-written look-alike sidecar with the real one', () => {
    const once = injected(pod());
    const forged = structuredClone(once);
    const sc = forged.spec?.initContainers?.[0];
    if (!sc) throw new Error('no sidecar');
    sc.image = 'attacker/fake-sidecar:1';
    const r = injectPod(inputs(forged), cfg);
    expect(r.kind).toBe('inject');
    if (r.kind !== 'inject') return;
    expect(r.patch).toEqual([{ op: 'replace', path: '/spec/initContainers/0/image', value: 'registry.local/agentgate:1.0' }]);
  });

  it('skips excluded namespaces and pods that opt out', () => {
    expect(injectPod(inputs(pod(), 'kube-system'), cfg).kind).toBe('skip');
    expect(injectPod(inputs(pod(), 'agentgate-system'), cfg).kind).toBe('skip');
    expect(injectPod(inputs(pod({}, { app: 'agent' }, { 'agentgate.dev/inject': 'false' })), cfg).kind).toBe('skip');
  });
});

describe('injectPod: refusals', () => {
  const uid = cfg.sidecarUid;
  const transparent = defaultInjectionConfig({ transparentMode: true });
  const cases: Array<[string, V1Pod, RegExp, typeof cfg?]> = [
    ['hostNetwork', pod({ hostNetwork: true }), /spec\.hostNetwork: true puts the pod in the node's network namespace/],
    ['shareProcessNamespace', pod({ shareProcessNamespace: true }), /spec\.shareProcessNamespace: true lets/],
    ['hostPID', pod({ hostPID: true }), /spec\.hostPID: true/],
    ['container runAsUser = sidecar uid', pod({ containers: [{ name: 'agent', image: 'a', securityContext: { runAsUser: uid } }] }),
      new RegExp(`spec\\.containers\\[name=agent\\]\\.securityContext\\.runAsUser: ${uid} is the sidecar's user`)],
    ['init container runAsUser = sidecar uid', pod({ initContainers: [{ name: 'init', image: 'a', securityContext: { runAsUser: uid } }] }),
      /spec\.initContainers\[name=init\]\.securityContext\.runAsUser/],
    ['pod runAsUser inherited', pod({ securityContext: { runAsUser: uid } }), /spec\.securityContext\.runAsUser: .* containers agent inherit it/],
    ['mounts the token volume', pod({ containers: [{ name: 'agent', image: 'a', volumeMounts: [{ name: TOKEN_VOLUME, mountPath: '/t' }] }] }),
      /spec\.containers\[name=agent\]\.volumeMounts\[name=agentgate-token\]: the volume agentgate-token belongs to the sidecar/],
    ['mounts the spool volume', pod({ containers: [{ name: 'agent', image: 'a', volumeMounts: [{ name: SPOOL_VOLUME, mountPath: '/s' }] }] }),
      /volumeMounts\[name=agentgate-spool\]/],
    ['own token with the operator audience', pod({ volumes: [{ name: 'mine', projected: { sources: [{ serviceAccountToken: { audience: 'agentgate.dev/operator', path: 't' } }] } }] }),
      /spec\.volumes\[name=mine\]\.projected\.sources\[0\]\.serviceAccountToken\.audience/],
    ['container named like the sidecar', pod({ containers: [{ name: SIDECAR_NAME, image: 'x' }] }), /reserved for the injected sidecar/],
    ['NET_ADMIN in transparent mode', pod({ containers: [{ name: 'agent', image: 'a', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }] }),
      /spec\.containers\[name=agent\]\.securityContext\.capabilities\.add: NET_ADMIN lets the agent change the traffic redirection/, transparent],
    ['CAP_NET_RAW in transparent mode', pod({ containers: [{ name: 'agent', image: 'a', securityContext: { capabilities: { add: ['CAP_NET_RAW'] } } }] }),
      /capabilities\.add: CAP_NET_RAW/, transparent],
    ['privileged in transparent mode', pod({ containers: [{ name: 'agent', image: 'a', securityContext: { privileged: true } }] }),
      /securityContext\.privileged/, transparent],
  ];
  it.each(cases)('%s', (_n, p, want, c = cfg) => {
    const r = injectPod(inputs(p), c);
    expect(r.kind).toBe('refuse');
    if (r.kind !== 'refuse') return;
    expect(r.refusals.map((x) => `${x.field}: ${x.reason}`).join('; ')).toMatch(want);
  });

  it('allows NET_ADMIN when transparent mode is off, and other users than the sidecar', () => {
    const p = pod({ securityContext: { runAsUser: 1000 }, containers: [{ name: 'agent', image: 'a', securityContext: { runAsUser: 2000, capabilities: { add: ['NET_ADMIN'] } } }] });
    expect(injectPod(inputs(p), cfg).kind).toBe('inject');
  });

  it('refuses a listen port clash between selected connections', () => {
    const clash: Record<string, ConnectionForInjection> = { ...connections, 'agents/ops-ssh': { metadata: { name: 'ops-ssh', namespace: NS }, spec: { listen: { port: 15432 } } } };
    const r = injectPod({ pod: pod({}, { app: 'agent', team: 'ops' }), namespace: NS, policies, connection: (ns, n) => clash[`${ns}/${n}`] }, cfg);
    expect(r.kind).toBe('refuse');
    if (r.kind === 'refuse') expect(r.refusals[0]?.field).toBe('Connection agents/orders-db spec.listen.port');
  });

  it('reports every refusal, not only the first', () => {
    const r = injectPod(inputs(pod({ hostNetwork: true, shareProcessNamespace: true })), cfg);
    expect(r.kind === 'refuse' && r.refusals.map((x) => x.field)).toEqual(['spec.hostNetwork', 'spec.shareProcessNamespace']);
  });
});

describe('selectingPolicies', () => {
  it('matches namespace and podSelector; a null selector selects nothing', () => {
    const ps = [...policies, policy('p-null', NS, null, ['x'])];
    expect(selectingPolicies(ps, NS, { app: 'agent' }).map((p) => p.metadata?.name)).toEqual(['p-orders']);
    expect(selectingPolicies(ps, 'other', {}).map((p) => p.metadata?.name)).toEqual(['p-other-ns']);
  });
});
