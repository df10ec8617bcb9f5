// The MutatingWebhookConfiguration (pod injection, AccessRequest decision
// stamping) and ValidatingWebhookConfiguration (AccessPolicy, AccessRequest) the operator
// registers. Out of cluster (tests, development) webhooks are registered by URL
// with a caBundle, as envtest does; in cluster by Service reference. The Helm
// chart renders the same shapes (charts/agentgate/templates/webhooks.yaml).
import { INJECT_LABEL, NAMESPACE_LABEL } from '../injection/injection-config.js';
import { AGENTGATE_GROUP, AGENTGATE_VERSION } from '../kube/resources.js';
import type { KubeObject } from '../kube/types.js';
import { WEBHOOK_PATHS } from './webhook-server.js';

export type WebhookEndpoint =
  | { mode: 'url'; baseUrl: string }
  | { mode: 'service'; namespace: string; name: string; port: number };

export interface WebhookClientConfig {
  url?: string;
  service?: { namespace: string; name: string; port: number; path: string };
  caBundle?: string;
}
export interface WebhookEntry {
  name: string;
  clientConfig: WebhookClientConfig;
  [k: string]: unknown;
}
export interface WebhookConfiguration extends KubeObject {
  webhooks?: WebhookEntry[];
}

export const WEBHOOK_CONFIG_NAME = 'agentgate';

function clientConfig(ep: WebhookEndpoint, path: string, caBundle: string): WebhookClientConfig {
  if (ep.mode === 'url') return { url: `${ep.baseUrl.replace(/\/+$/, '')}${path}`, caBundle };
  return { service: { namespace: ep.namespace, name: ep.name, port: ep.port, path }, caBundle };
}

export function mutatingWebhookConfiguration(ep: WebhookEndpoint, caBundleB64: string, excludedNamespaces: readonly string[]): WebhookConfiguration {
  const notExcluded = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...excludedNamespaces] };
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'NoneOnDryRun', // it may create the CA ConfigMap the sidecar mounts
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    reinvocationPolicy: 'IfNeeded',
    timeoutSeconds: 10,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIG_NAME, labels: { 'app.kubernetes.io/name': 'agentgate', 'app.kubernetes.io/managed-by': 'agentgate-operator' } },
    webhooks: [
      {
        // Opted-in namespaces: every pod.
        name: 'namespace.inject.agentgate.dev',
        clientConfig: clientConfig(ep, WEBHOOK_PATHS.mutatePods, caBundleB64),
        namespaceSelector: { matchExpressions: [{ key: NAMESPACE_LABEL, operator: 'In', values: ['enabled'] }, notExcluded] },
        ...common,
      },
      {
        // Other namespaces: pods that opt in by label (not called twice for opted-in namespaces).
        name: 'pod.inject.agentgate.dev',
        clientConfig: clientConfig(ep, WEBHOOK_PATHS.mutatePods, caBundleB64),
        namespaceSelector: { matchExpressions: [{ key: NAMESPACE_LABEL, operator: 'NotIn', values: ['enabled'] }, notExcluded] },
        objectSelector: { matchLabels: { [INJECT_LABEL]: 'true' } },
        ...common,
      },
      {
        // Decisions: the deciding user comes from the API server's authentication (request.userInfo).
        // No side effects, and stamping twice would be wrong, so never reinvoked.
        name: 'stamp.accessrequests.agentgate.dev',
        clientConfig: clientConfig(ep, WEBHOOK_PATHS.mutateAccessRequests, caBundleB64),
        rules: [{ operations: ['UPDATE'], apiGroups: [AGENTGATE_GROUP], apiVersions: [AGENTGATE_VERSION], resources: ['accessrequests/status'], scope: 'Namespaced' }],
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        reinvocationPolicy: 'Never',
        timeoutSeconds: 10,
      },
    ],
  };
}

export function validatingWebhookConfiguration(ep: WebhookEndpoint, caBundleB64: string): WebhookConfiguration {
  const common = { admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: 10 };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIG_NAME, labels: { 'app.kubernetes.io/name': 'agentgate', 'app.kubernetes.io/managed-by': 'agentgate-operator' } },
    webhooks: [
      {
        name: 'accesspolicies.agentgate.dev',
        clientConfig: clientConfig(ep, WEBHOOK_PATHS.validateAccessPolicies, caBundleB64),
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: [AGENTGATE_GROUP], apiVersions: [AGENTGATE_VERSION], resources: ['accesspolicies'], scope: 'Namespaced' }],
        ...common,
      },
      {
        name: 'accessrequests.agentgate.dev',
        clientConfig: clientConfig(ep, WEBHOOK_PATHS.validateAccessRequests, caBundleB64),
        rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: [AGENTGATE_GROUP], apiVersions: [AGENTGATE_VERSION], resources: ['accessrequests', 'accessrequests/status'], scope: 'Namespaced' }],
        ...common,
      },
    ],
  };
}
