// The user's cluster connection, as kubectl would use it: --kubeconfig (or
// $KUBECONFIG, or ~/.kube/config), --context, and the namespace from -n or
// the context. Requests are made with the user's own credentials, so the API
// server authenticates and authorizes them (RBAC), and admission webhooks see
// the user.
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../operator/kube/kube-client.js';
import { KubeApiError } from '../../operator/errors.js';
import type { ParsedArgs } from './args.js';

export interface KubeContext {
  client: KubeClient;
  namespace: string;
}

export function kubeContext(args: ParsedArgs): KubeContext {
  const kc = new KubeConfig();
  if (args.kubeconfig !== undefined) kc.loadFromFile(args.kubeconfig);
  else kc.loadFromDefault();
  if (args.context !== undefined) kc.setCurrentContext(args.context);
  const ctxNs = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return { client: new KubeClient(kc, 'kubectl-agentgate'), namespace: args.namespace ?? ctxNs ?? 'default' };
}

/** What the API server (or an admission webhook) said, without the request line. */
export function apiMessage(err: unknown): string {
  if (err instanceof KubeApiError) return err.message.replace(/^\S+ \S+: \d+ \S+: /, '');
  return err instanceof Error ? err.message : String(err);
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}
