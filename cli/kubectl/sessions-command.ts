// `kubectl agentgate sessions`: the SessionRecords, newest first.
import type { SessionRecord } from '../../core/resources/generated.js';
import { R } from '../../operator/kube/resources.js';
import type { KubeContext, Io } from './kube-context.js';
import { relative, table } from './table.js';

export async function listSessions(ctx: KubeContext, io: Io, o: { allNamespaces: boolean; output: string }): Promise<number> {
  const list = await ctx.client.list<SessionRecord & { metadata: { name?: string } }>(R.sessionRecords, o.allNamespaces ? undefined : ctx.namespace);
  const items = list.items.sort((a, b) => b.spec.startedAt.localeCompare(a.spec.startedAt));
  if (o.output === 'json') {
    io.out(JSON.stringify(items, null, 2) + '\n');
    return 0;
  }
  if (items.length === 0) {
    io.err(`No session records${o.allNamespaces ? '' : ` in namespace ${ctx.namespace}`}.\n`);
    return 0;
  }
  const now = Date.now();
  const rows = items.map((r) => {
    const c = r.spec.counts ?? {};
    return [
      ...(o.allNamespaces ? [r.metadata.namespace ?? ''] : []),
      r.metadata.name ?? '',
      r.spec.identity.sub,
      r.spec.pod.name,
      r.spec.connection,
      r.spec.outcome ?? 'live',
      String(c.statements ?? 0),
      String(c.denied ?? 0),
      String(c.masked ?? 0),
      String(c.approvals ?? 0),
      String(r.spec.transcript?.events ?? 0),
      relative(r.spec.startedAt, now),
    ];
  });
  io.out(table([...(o.allNamespaces ? ['NAMESPACE'] : []), 'NAME', 'IDENTITY', 'POD', 'CONNECTION', 'OUTCOME', 'STATEMENTS', 'DENIED', 'MASKED', 'APPROVALS', 'EVENTS', 'STARTED'], rows));
  return 0;
}
