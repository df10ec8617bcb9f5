// The objects the control-plane benchmarks create: realistic, valid shapes
// (the rules of examples/postgres-customers.yaml), so admission and the
// reconcilers do their real work, CEL compilation included.

export const GROUP_PATH = '/apis/agentgate.dev/v1alpha1';

export const paths = {
  pods: (ns: string) => `/api/v1/namespaces/${ns}/pods`,
  secrets: (ns: string) => `/api/v1/namespaces/${ns}/secrets`,
  connections: (ns: string) => `${GROUP_PATH}/namespaces/${ns}/connections`,
  policies: (ns: string) => `${GROUP_PATH}/namespaces/${ns}/accesspolicies`,
};

export function namespace(name: string, labels: Record<string, string> = {}): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function secret(ns: string, name: string): object {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: { name, namespace: ns },
    stringData: { username: 'agent_ro', password: 'bench-not-a-real-password' },
  };
}

export function postgresConnection(ns: string, name: string, secretName: string, listenPort: number): object {
  return {
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'Connection',
    metadata: { name, namespace: ns, labels: { 'agentgate.dev/environment': 'bench' } },
    spec: {
      protocol: 'postgres',
      target: { host: `${name}.databases.svc.cluster.local`, port: 5432, database: 'orders' },
      credentials: { secretRef: { name: secretName } },
      listen: { port: listenPort },
      env: [
        { name: 'PGHOST', value: '127.0.0.1' },
        { name: 'PGPORT', value: String(listenPort) },
        { name: 'PGDATABASE', value: 'orders' },
      ],
    },
  };
}

export function httpConnection(ns: string, name: string, secretName: string, listenPort: number): object {
  return {
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'Connection',
    metadata: { name, namespace: ns },
    spec: {
      protocol: 'http',
      target: { url: 'https://api.internal.example' },
      credentials: { secretRef: { name: secretName, tokenKey: 'password' } },
      listen: { port: listenPort },
      env: [{ name: 'API_BASE_URL', value: `http://127.0.0.1:${listenPort}` }],
    },
  };
}

const RULES = [
  { name: 'allow-select', when: "sql.statements.size() > 0 && sql.statements.all(s, s.kind == 'SELECT')", action: 'allow' },
  { name: 'review-changes', when: "sql.statements.exists(s, s.kind in ['DELETE', 'UPDATE', 'DROP', 'TRUNCATE'])", action: 'review', message: 'Changes need approval.' },
  { name: 'deny-unbounded-changes', when: "sql.statements.exists(s, s.kind in ['DELETE', 'UPDATE'] && !s.hasWhere)", action: 'deny', message: 'UPDATE and DELETE need a WHERE clause.' },
  { name: 'deny-unparseable', when: "sql.statements.exists(s, s.kind == 'UNPARSEABLE')", action: 'deny' },
];

export function accessPolicy(ns: string, name: string, appLabel: string, connections: string[]): object {
  return {
    apiVersion: 'agentgate.dev/v1alpha1', kind: 'AccessPolicy',
    metadata: { name, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: appLabel } },
      subjects: [{ serviceAccount: { name: appLabel } }],
      connections,
      rules: RULES,
      masking: { columns: [{ table: 'public.customers', column: 'email', strategy: 'redact' }], detectors: [{ type: 'pan' }] },
      approval: { approvers: { groups: ['dba'] }, required: 1, timeout: '10m', scope: 'once' },
    },
  };
}

/** An agent pod as a platform team would write it (one container, resources, a bit of env). */
export function agentPod(ns: string, name: string, appLabel: string): object {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, labels: { app: appLabel, 'app.kubernetes.io/part-of': 'bench' } },
    spec: {
      serviceAccountName: appLabel,
      containers: [{
        name: 'agent', image: 'registry.local/agent:1.0',
        env: [{ name: 'LOG_LEVEL', value: 'info' }],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
      }],
    },
  };
}
