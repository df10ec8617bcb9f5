// One call that builds everything the operator serves for closing the loop:
// the sidecar API handler (mount it for paths under /sidecar/v1/ on the
// operator's HTTPS server), the two AccessRequest admission handlers
// (/mutate-accessrequests, /validate-accessrequests), and the just-in-time
// role sweeper. The operator's main wires these in; tests do the same.
import type { Logger } from 'pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessPolicy, Connection } from '../../core/resources/generated.js';
import { accessRequestMutator, accessRequestValidator } from '../approvals/access-request-admission.js';
import { AccessRequestService } from '../approvals/access-requests.js';
import { CredentialBroker, startJitSweeper } from '../credentials/credential-broker.js';
import { KubeSecretReader } from '../credentials/secret-reader.js';
import type { Informer } from '../kube/informer.js';
import type { KubeClient } from '../kube/kube-client.js';
import { EventIngest } from '../records/event-ingest.js';
import { FsTranscriptStore } from '../records/fs-transcript-store.js';
import { SessionRecordWriter } from '../records/session-record-writer.js';
import type { AdmissionHandler } from '../webhooks/admission.js';
import { startClusterResources, type StartedClusterResources } from './cluster-resources.js';
import { createSidecarApi } from './sidecar-api.js';
import { OPERATOR_AUDIENCE, TokenReviewAuthenticator } from './token-reviewer.js';

export interface ControlPlaneServicesOptions {
  client: KubeClient;
  log: Logger;
  /** Directory of the filesystem transcript store (a volume). */
  transcriptDir: string;
  /** The operator's existing informers, to share their caches (optional). */
  policies?: Informer<AccessPolicy>;
  connections?: Informer<Connection>;
  audience?: string;
  /** Usernames allowed to create AccessRequests (the operator's own service account); undefined: RBAC decides. */
  accessRequestCreators?: readonly string[];
  /** How often expired just-in-time roles are swept (default 60 s; 0 disables). */
  jitSweepIntervalMs?: number;
  /** TokenReview cache (default 10 s, at most 30 s). */
  tokenCacheTtlMs?: number;
}

export interface ControlPlaneServices {
  sidecarApi: (req: IncomingMessage, res: ServerResponse) => void;
  mutateAccessRequests: AdmissionHandler;
  validateAccessRequests: AdmissionHandler;
  resources: StartedClusterResources;
  broker: CredentialBroker;
  stop(): Promise<void>;
}

export async function startControlPlaneServices(o: ControlPlaneServicesOptions): Promise<ControlPlaneServices> {
  const resources = await startClusterResources({ client: o.client, log: o.log, policies: o.policies, connections: o.connections });
  const secrets = new KubeSecretReader(o.client);
  const broker = new CredentialBroker({ secrets, log: o.log });
  const sidecarApi = createSidecarApi({
    authenticator: new TokenReviewAuthenticator({ client: o.client, audience: o.audience ?? OPERATOR_AUDIENCE, cacheTtlMs: o.tokenCacheTtlMs }),
    resources,
    credentials: broker,
    secrets,
    accessRequests: new AccessRequestService({
      client: o.client,
      policy: (ns, name) => resources.policy(ns, name),
      cached: (ns, name) => resources.accessRequest(ns, name),
    }),
    ingest: new EventIngest({ store: new FsTranscriptStore(o.transcriptDir), records: new SessionRecordWriter(o.client) }),
    log: o.log,
  });
  const admissionDeps = { policy: (ns: string, name: string) => resources.policy(ns, name), creators: o.accessRequestCreators };
  const interval = o.jitSweepIntervalMs ?? 60_000;
  const sweeper = interval > 0 ? startJitSweeper(broker, () => resources.allConnections(), interval) : undefined;
  return {
    sidecarApi,
    mutateAccessRequests: accessRequestMutator(admissionDeps),
    validateAccessRequests: accessRequestValidator(admissionDeps),
    resources,
    broker,
    stop: async () => {
      sweeper?.stop();
      await resources.stop();
    },
  };
}
