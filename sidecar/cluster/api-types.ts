// The wire types of the operator's sidecar API, defined next to the operator
// code that produces them (type-only imports: nothing of the operator is
// loaded into the sidecar at run time).
export type { PodConfig, PodConfigConnection } from '../../operator/sidecar-api/pod-config.js';
export type { ActiveGrant } from '../../operator/approvals/grants.js';
export type { AccessRequestView } from '../../operator/approvals/access-requests.js';
export type { IssuedCredential } from '../../operator/credentials/credential-broker.js';
