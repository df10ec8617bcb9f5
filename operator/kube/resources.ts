// The API resources the operator talks to, in one place.
import { GROUP, VERSION } from '../../core/resources/generated.js';
import type { ResourceRef } from './types.js';

export const AGENTGATE_GROUP = GROUP;
export const AGENTGATE_VERSION = VERSION;
export const AGENTGATE_API_VERSION = `${AGENTGATE_GROUP}/${AGENTGATE_VERSION}`;

const ag = (plural: string): ResourceRef => ({ group: AGENTGATE_GROUP, version: AGENTGATE_VERSION, plural, namespaced: true });

export const R = {
  connections: ag('connections'),
  accessPolicies: ag('accesspolicies'),
  accessRequests: ag('accessrequests'),
  sessionRecords: ag('sessionrecords'),
  pods: { group: '', version: 'v1', plural: 'pods', namespaced: true },
  secrets: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  configMaps: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  namespaces: { group: '', version: 'v1', plural: 'namespaces', namespaced: false },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
  events: { group: 'events.k8s.io', version: 'v1', plural: 'events', namespaced: true },
  mutatingWebhooks: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', namespaced: false },
  validatingWebhooks: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'validatingwebhookconfigurations', namespaced: false },
} satisfies Record<string, ResourceRef>;
