// `kubectl agentgate requests`: pending AccessRequests (or all with --all),
// with who asked, from which pod, on which connection, what, and until when.
import type { AccessRequest } from '../../core/resources/generated.js';
import { R } from '../../operator/kube/resources.js';
import type { KubeContext, Io } from './kube-context.js';
import { oneLine, relative, table } from './table.js';

export function effectivePhase(ar: AccessRequest, now: number): string {
  const phase = ar.status?.phase ?? 'Pending';
  return phase === 'Pending' && Date.parse(ar.spec.expiresAt) <= now ? 'Expired' : phase;
}

export async function listRequests(ctx: KubeContext, io: Io, o: { all: boolean; allNamespaces: boolean; output: string }): Promise<number> {
  const list = await ctx.client.list<AccessRequest & { metadata: { name?: string } }>(R.accessRequests, o.allNamespaces ? undefined : ctx.namespace);
  const now = Date.now();
  const items = list.items
    .filter((ar) => o.all || effectivePhase(ar, now) === 'Pending')
    .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
  if (o.output === 'json') {
    io.out(JSON.stringify(items, null, 2) + '\n');
    return 0;
  }
  if (items.length === 0) {
    io.err(`No ${o.all ? '' : 'pending '}access requests${o.allNamespaces ? '' : ` in namespace ${ctx.namespace}`}.\n`);
    return 0;
  }
  const rows = items.map((ar) => {
    const pod = ar.spec.requester.pod;
    const approvals = `${ar.status?.approvals?.length ?? 0}`;
    return [
      ...(o.allNamespaces ? [ar.metadata.namespace ?? ''] : []),
      ar.metadata.name ?? '',
      effectivePhase(ar, now),
      ar.spec.requester.sub,
      pod ? pod.name : '',
      ar.spec.connection,
      `${ar.spec.policy}/${ar.spec.rule}`,
      approvals,
      relative(ar.spec.expiresAt, now),
      oneLine(ar.spec.operation, 60),
    ];
  });
  io.out(table([...(o.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'PHASE', 'REQUESTER', 'POD', 'CONNECTION', 'POLICY/RULE', 'APPROVALS', 'EXPIRES', 'OPERATION'], rows));
  return 0;
}
