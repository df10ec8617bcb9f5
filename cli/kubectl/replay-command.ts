// `kubectl agentgate replay NAME`: prints a session's transcript and verifies
// its hash chain. The SessionRecord is read with the user's own credentials
// (RBAC decides who may see which sessions); the transcript is read from the
// filesystem store at the record's path, or under --store-dir when the store's
// volume is mounted elsewhere (e.g. copied out of the operator pod). The
// chain is checked event by event (streaming, any size), and its head against
// the record: an event changed, removed or inserted anywhere shows as the
// first broken event.
import { basename, join } from 'node:path';
import type { RecordEvent } from '../../core/recording/events.js';
import { isRecordEvent } from '../../core/recording/events.js';
import { computeEventHash, genesisHash } from '../../core/recording/hash-chain.js';
import { readLines } from '../../core/recording/line-reader.js';
import type { SessionRecord } from '../../core/resources/generated.js';
import { R } from '../../operator/kube/resources.js';
import { apiMessage, type KubeContext, type Io } from './kube-context.js';

export type ChainCheck = { ok: true; events: number; lastHash: string } | { ok: false; seq: number; reason: string };

function describe(e: RecordEvent): string {
  switch (e.type) {
    case 'session.start':
      return `${e.data.identity.sub} → ${e.data.connection} (${e.data.protocol})${e.data.pod ? ` from pod ${e.data.pod.namespace}/${e.data.pod.name}` : ''}`;
    case 'session.end':
      return `${e.data.outcome}${e.data.reason !== undefined ? `: ${e.data.reason}` : ''} after ${e.data.durationMs} ms`;
    case 'statement':
    case 'command':
    case 'request': {
      const d = e.data.decision;
      const what = e.type === 'statement' ? e.data.text : e.type === 'command' ? e.data.command : `${e.data.method} ${e.data.path}`;
      const by = d.policy !== null ? ` (${d.policy}${d.rule !== null ? ` rule ${d.rule}` : ''})` : '';
      const masked = (e.data.maskedFields ?? 0) > 0 ? ` [${e.data.maskedFields} masked]` : '';
      return `${d.action}${by}: ${what.replace(/\s+/g, ' ').slice(0, 200)}${masked}`;
    }
    case 'statement.result': {
      const d = e.data;
      const outcome = d.error !== undefined ? `error ${d.error.code}: ${d.error.message.slice(0, 160)}` : `${d.command ?? 'ok'}${d.rows !== undefined ? ` ${d.rows} row(s)` : ''}`;
      const masked = d.maskedFields > 0 ? ` [${d.maskedFields} masked${d.maskedColumns !== undefined && d.maskedColumns.length > 0 ? `: ${d.maskedColumns.join(', ')}` : ''}]` : '';
      return `#${d.ref}${d.index !== undefined ? `.${d.index}` : ''} ${outcome} in ${d.durationMs} ms${masked}`;
    }
    case 'approval.requested':
      return `${e.data.approvalId} for ${e.data.policy} rule ${e.data.rule}, expires ${e.data.expiresAt}`;
    case 'approval.decided':
      return `${e.data.approvalId} ${e.data.outcome}${e.data.approver !== undefined ? ` by ${e.data.approver}` : ''}`;
    case 'ssh.output':
      return `${e.data.stream} ${JSON.stringify(e.data.data.slice(0, 120))}`;
    default:
      return '';
  }
}

/** Streams the transcript file, calling `each` per event, and checks the chain (and the record's head). */
export async function checkTranscript(path: string, sessionId: string, each: (e: RecordEvent) => void, head?: { events?: number; lastHash?: string }): Promise<ChainCheck> {
  let seq = 0;
  let prev = genesisHash(sessionId);
  let headHash: string | undefined;
  for await (const { line } of readLines(path)) {
    const expected = seq + 1;
    let e: unknown;
    try {
      e = JSON.parse(line.toString('utf8'));
    } catch {
      return { ok: false, seq: expected, reason: 'the line is not JSON' };
    }
    if (!isRecordEvent(e)) return { ok: false, seq: expected, reason: 'the line is not a session event' };
    if (e.sessionId !== sessionId) return { ok: false, seq: expected, reason: `the event belongs to session ${e.sessionId}` };
    if (e.seq !== expected) return { ok: false, seq: expected, reason: `expected seq ${expected}, found ${e.seq}` };
    if (e.prevHash !== prev) return { ok: false, seq: expected, reason: 'prevHash does not continue the chain' };
    if (computeEventHash(e) !== e.hash) return { ok: false, seq: expected, reason: 'the hash does not match the event content' };
    each(e);
    seq = expected;
    prev = e.hash;
    if (head?.events === seq) headHash = e.hash;
  }
  if (head?.events !== undefined && head.events > seq) return { ok: false, seq: seq + 1, reason: `the record counts ${head.events} events; the transcript ends after ${seq}` };
  if (head?.lastHash !== undefined && head.events !== undefined && head.events > 0 && headHash !== head.lastHash) {
    return { ok: false, seq: head.events, reason: 'the hash differs from the one in the SessionRecord' };
  }
  return { ok: true, events: seq, lastHash: prev };
}

export async function replay(ctx: KubeContext, io: Io, name: string, o: { storeDir?: string | undefined; quiet: boolean }): Promise<number> {
  let rec: SessionRecord;
  try {
    rec = await ctx.client.get<SessionRecord & { metadata: { name?: string } }>(R.sessionRecords, ctx.namespace, name);
  } catch (err) {
    io.err(`kubectl-agentgate: replay ${name}: ${apiMessage(err)}\n`);
    return 1;
  }
  const t = rec.spec.transcript;
  if (t?.path === undefined) {
    io.err(`kubectl-agentgate: replay ${name}: the session record has no transcript yet\n`);
    return 1;
  }
  if (t.store !== 'file') {
    io.err(`kubectl-agentgate: replay ${name}: transcripts in store ${JSON.stringify(t.store)} cannot be read by this version\n`);
    return 1;
  }
  const path = o.storeDir !== undefined ? join(o.storeDir, rec.metadata.namespace ?? ctx.namespace, basename(t.path)) : t.path;
  const header = `session ${rec.spec.sessionId}: ${rec.spec.identity.sub} on ${rec.spec.connection} (${rec.spec.protocol}), pod ${rec.spec.pod.namespace}/${rec.spec.pod.name}, ${rec.spec.outcome ?? 'live'}\n`;
  if (!o.quiet) io.out(header);
  let result: ChainCheck;
  try {
    result = await checkTranscript(path, rec.spec.sessionId, (e) => {
      if (!o.quiet) io.out(`#${e.seq}  ${e.ts}  ${e.type.padEnd(17)} ${describe(e)}\n`);
    }, { events: t.events, lastHash: t.lastHash });
  } catch (err) {
    io.err(`kubectl-agentgate: replay ${name}: cannot read the transcript at ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (result.ok) {
    io.out(`chain OK: ${result.events} events, head ${result.lastHash}\n`);
    return 0;
  }
  io.out(`chain BROKEN at event #${result.seq}: ${result.reason}\n`);
  return 1;
}
