// Who the operator is to the API server: a SelfSubjectReview answers with the
// username the admission webhooks will see in request.userInfo for the
// operator's own writes (a service account in cluster, whatever the kubeconfig
// authenticates as outside), so the AccessRequest creator check needs no flag.
import { IdentityError, errorMessage } from '../errors.js';
import type { KubeClient } from './kube-client.js';

interface SelfSubjectReview {
  status?: { userInfo?: { username?: string } };
}

export async function ownUsername(client: Pick<KubeClient, 'request'>): Promise<string> {
  let review: SelfSubjectReview;
  try {
    review = await client.request<SelfSubjectReview>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
  } catch (err) {
    throw new IdentityError(`cannot learn the operator's own user (SelfSubjectReview): ${errorMessage(err)}; set --access-request-creators`, { cause: err });
  }
  const username = review.status?.userInfo?.username ?? '';
  if (username === '') throw new IdentityError('the SelfSubjectReview named no user; set --access-request-creators');
  return username;
}
