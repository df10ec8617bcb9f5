import { describe, it, expect } from '@jest/globals';
import type { AccessPolicy, AccessRequest, Connection } from '../../core/resources/generated.js';
import { activeGrants } from '../approvals/grants.js';
import { selectForPod } from './pod-config.js';

const policy = (name: string, ns: string, labels: Record<string, string>, connections: string[], extra: Partial<AccessPolicy['spec']> = {}): AccessPolicy => ({
  apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace: ns },
  spec: { podSelector: { matchLabels: labels }, subjects: [], connections, ...extra },
});
const conn = (name: string, ns: string): Connection => ({
  apiVersion: 'agentgate.dev/v1alpha1', kind: 'Connection', metadata: { name, namespace: ns },
  spec: { protocol: 'postgres', target: { host: 'db', port: 5432 }, credentials: { secretRef: { name: 's' } }, listen: { port: 15432 } },
});

describe('selectForPod', () => {
  it('keeps the policies of the pod namespace whose selector matches, and only the connections they name', () => {
    const out = selectForPod({ namespace: 'a', labels: { app: 'agent', tier: 'x' } }, [
      policy('p2', 'a', { app: 'agent' }, ['db2', 'missing']),
      policy('p1', 'a', { app: 'agent', tier: 'x' }, ['db1']),
      policy('other-labels', 'a', { app: 'web' }, ['db3']),
      policy('other-ns', 'b', { app: 'agent' }, ['db1']),
    ], [conn('db1', 'a'), conn('db2', 'a'), conn('db3', 'a'), conn('db1', 'b')]);
    expect(out.policies.map((p) => p.metadata.name)).toEqual(['p1', 'p2']);
    expect(out.connections.map((c) => `${c.metadata.namespace}/${c.metadata.name}`)).toEqual(['a/db1', 'a/db2']);
  });
});

describe('activeGrants', () => {
  const now = new Date('2026-11-21T10:30:00Z');
  const grantPolicy = policy('ops', 'a', {}, ['db1'], { approval: { approvers: { groups: ['dba'] }, scope: 'grant', grantDuration: '1h' } });
  const request = (name: string, o: { phase?: 'Approved' | 'Pending'; decidedAt?: string; uid?: string; pod?: string; scope?: 'once' | 'grant' } = {}): AccessRequest => ({
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessRequest',
    metadata: { name, namespace: 'a', labels: { 'agentgate.dev/pod-uid': o.uid ?? 'uid-1' } },
    spec: {
      requester: { sub: 'me', iss: 'iss', pod: { namespace: 'a', name: o.pod ?? 'agent-1' } }, policy: 'ops', rule: 'maint',
      connection: 'db1', protocol: 'postgres', operation: 'VACUUM', scope: o.scope ?? 'grant', expiresAt: '2026-11-21T10:10:00Z',
    },
    status: { phase: o.phase ?? 'Approved', decidedAt: o.decidedAt ?? '2026-11-21T10:00:00Z' },
  });
  const pod = { namespace: 'a', name: 'agent-1', uid: 'uid-1' };

  it('lists approved grants of this pod until decidedAt + grantDuration', () => {
    const grants = activeGrants(pod, [
      request('ar-ok'),
      request('ar-old', { decidedAt: '2026-11-21T09:00:00Z' }),
      request('ar-pending', { phase: 'Pending' }),
      request('ar-once', { scope: 'once' }),
      request('ar-other-pod', { pod: 'agent-2' }),
      request('ar-recreated-pod', { uid: 'uid-0' }),
    ], () => grantPolicy, now);
    expect(grants).toEqual([{ request: 'ar-ok', policy: 'a/ops', rule: 'maint', connection: 'db1', identity: { sub: 'me', iss: 'iss' }, expiresAt: '2026-11-21T11:00:00.000Z' }]);
  });

  it('closes every grant when the policy is gone or its grantDuration shrinks', () => {
    expect(activeGrants(pod, [request('ar-ok')], () => undefined, now)).toEqual([]);
    const shorter = policy('ops', 'a', {}, ['db1'], { approval: { approvers: { groups: ['dba'] }, scope: 'grant', grantDuration: '20m' } });
    expect(activeGrants(pod, [request('ar-ok')], () => shorter, now)).toEqual([]);
  });
});
