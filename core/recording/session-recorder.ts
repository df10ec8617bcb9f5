// Builds the chained events of one session and hands them to the spool.
// `record()` writes the event to the spool file synchronously (when it returns,
// `lastSeq` has moved and the line is in the page cache) and resolves once the
// event is fsynced (group commit, see spool.ts). In strict mode any failure to
// record rejects (the caller refuses or ends the session, invariant 4); in
// lenient mode the event is dropped, `onError` is told, and the session goes on.

import { RecordingClosedError, RecordingError } from './errors.js';
import { newEventId } from './event-id.js';
import {
  RECORD_EVENT_VERSION,
  type EventDataMap,
  type RecordEvent,
  type RecordEventType,
  type SessionCounts,
  type SessionOutcome,
  type SessionStartData,
} from './events.js';
import { canonicalJson } from './canonical-json.js';
import { genesisHash, sha256Hex } from './hash-chain.js';
import { assertNoSecretFields } from './secret-fields.js';
import type { Spool } from './spool.js';

export type SessionEventType = Exclude<RecordEventType, 'session.start' | 'session.end'>;

export interface RecorderOptions {
  spool: Spool;
  /** Default for sessions that do not say (policy session.strictRecording). */
  strict?: boolean;
  onError?: (err: RecordingError, sessionId: string) => void;
  /** Event observer (metrics); called after the event is durable. */
  onEvent?: (event: RecordEvent) => void;
  now?: () => number;
}

/** Largest ssh.output text per event; longer output is split. */
export const OUTPUT_CHUNK_CHARS = 32 * 1024;

export class Recorder {
  constructor(private readonly opts: RecorderOptions) {}

  /** Record session.start. Rejects in strict mode when the spool cannot take it. */
  async startSession(
    data: SessionStartData,
    options: { sessionId?: string; strict?: boolean } = {},
  ): Promise<SessionRecording> {
    const strict = options.strict ?? this.opts.strict ?? false;
    const rec = new SessionRecording(options.sessionId ?? newEventId(), strict, this.opts);
    await rec.recordRaw('session.start', { ...data, strictRecording: strict });
    return rec;
  }

  /**
   * Close sessions a previous process left open (found by Spool.open) with a
   * session.end so their chains complete and the shipper can finish them.
   */
  async closeOrphans(reason = 'the sidecar stopped before the session ended'): Promise<number> {
    const now = (this.opts.now ?? Date.now)();
    let closed = 0;
    for (const o of this.opts.spool.orphans()) {
      const info = this.opts.spool.session(o.sessionId);
      if (!info || info.ended || info.broken || info.durableSeq !== o.lastSeq) continue;
      const started = o.startedAt ? Date.parse(o.startedAt) : now;
      const event = buildEvent(o.sessionId, o.lastSeq + 1, o.lastHash, now, 'session.end', {
        outcome: 'terminated',
        reason,
        durationMs: Math.max(0, now - (Number.isFinite(started) ? started : now)),
      });
      await this.opts.spool.append(event);
      closed++;
    }
    return closed;
  }
}

export class SessionRecording {
  private seq = 0;
  private prevHash: string;
  private readonly startedAt: number;
  private failure: RecordingError | null = null;
  private ended = false;
  private readonly tally: Required<SessionCounts> = { statements: 0, denied: 0, masked: 0, approvals: 0, rows: 0 };

  constructor(
    readonly sessionId: string,
    readonly strict: boolean,
    private readonly opts: RecorderOptions,
  ) {
    this.prevHash = genesisHash(sessionId);
    this.startedAt = (opts.now ?? Date.now)();
  }

  get counts(): SessionCounts {
    return { ...this.tally };
  }

  /** seq of the last event taken; record() assigns it synchronously, before the event is durable. */
  get lastSeq(): number {
    return this.seq;
  }

  get lastHash(): string {
    return this.prevHash;
  }

  /** The first recording failure, if any (lenient mode keeps going without recording). */
  get failed(): RecordingError | null {
    return this.failure;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  async record<T extends SessionEventType>(type: T, data: EventDataMap[T]): Promise<RecordEvent | null> {
    if (type === 'ssh.output') {
      const out = data as EventDataMap['ssh.output'];
      if (out.data.length > OUTPUT_CHUNK_CHARS) {
        let last: RecordEvent | null = null;
        for (const part of splitText(out.data, OUTPUT_CHUNK_CHARS)) {
          last = await this.recordRaw('ssh.output', { ...out, data: part });
        }
        return last;
      }
    }
    return this.recordRaw(type, data);
  }

  /** Record session.end; later calls are no-ops. */
  async end(outcome: SessionOutcome, reason?: string): Promise<void> {
    if (this.ended) return;
    const durationMs = Math.max(0, (this.opts.now ?? Date.now)() - this.startedAt);
    await this.recordRaw('session.end', { outcome, reason, durationMs, counts: this.counts });
  }

  /** @internal */
  async recordRaw<T extends RecordEventType>(type: T, data: EventDataMap[T]): Promise<RecordEvent | null> {
    if (this.ended) throw new RecordingClosedError(this.sessionId);
    if (this.failure) return this.failed_(this.failure);
    let event: RecordEvent;
    let durable: Promise<void>;
    try {
      assertNoSecretFields(data);
      event = buildEvent(this.sessionId, this.seq + 1, this.prevHash, (this.opts.now ?? Date.now)(), type, data);
      durable = this.opts.spool.enqueue(event);
    } catch (err) {
      // Nothing was queued, so the chain is unchanged; a secret field is the caller's bug.
      const e = toRecordingError(err);
      if (e.code === 'RECORD_SECRET_FIELD' || this.strict) throw e;
      // A file that cannot be written stays broken: lenient mode stops recording this session.
      if (e.code === 'RECORD_SPOOL_WRITE') this.failure = e;
      this.opts.onError?.(e, this.sessionId);
      return null;
    }
    this.seq = event.seq;
    this.prevHash = event.hash;
    if (type === 'session.end') this.ended = true;
    this.count(event);
    try {
      await durable;
    } catch (err) {
      this.failure = toRecordingError(err);
      return this.failed_(this.failure);
    }
    this.opts.onEvent?.(event);
    return event;
  }

  private failed_(err: RecordingError): null {
    if (this.strict) throw err;
    this.opts.onError?.(err, this.sessionId);
    return null;
  }

  private count(event: RecordEvent): void {
    switch (event.type) {
      case 'statement':
      case 'command':
      case 'request':
        this.tally.statements++;
        if (event.data.decision.action === 'deny') this.tally.denied++;
        this.tally.masked += event.data.maskedFields ?? 0;
        break;
      case 'statement.result':
        // The statement itself was counted by its `statement` event.
        this.tally.masked += event.data.maskedFields;
        this.tally.rows += event.data.rows ?? 0;
        break;
      case 'approval.requested':
        this.tally.approvals++;
        break;
      default:
        break;
    }
  }
}

export function buildEvent<T extends RecordEventType>(
  sessionId: string,
  seq: number,
  prevHash: string,
  nowMs: number,
  type: T,
  data: EventDataMap[T],
): RecordEvent {
  // Round-trip through JSON so the hashed form is exactly what is stored (undefined dropped).
  const cleanData = JSON.parse(JSON.stringify(data)) as EventDataMap[T];
  const id = newEventId(nowMs);
  const ts = new Date(nowMs).toISOString();
  // The canonical form of the envelope, keys already in sorted order (hash-chain.ts
  // computeEventHash gives the same text; only `data` needs the generic walk).
  const canonical =
    `{"data":${canonicalJson(cleanData)},"id":${JSON.stringify(id)},"prevHash":${JSON.stringify(prevHash)},` +
    `"seq":${JSON.stringify(seq)},"sessionId":${JSON.stringify(sessionId)},"ts":${JSON.stringify(ts)},` +
    `"type":${JSON.stringify(type)},"v":${JSON.stringify(RECORD_EVENT_VERSION)}}`;
  return {
    v: RECORD_EVENT_VERSION,
    id,
    sessionId,
    seq,
    ts,
    type,
    data: cleanData,
    prevHash,
    hash: sha256Hex(canonical),
  } as RecordEvent;
}

function splitText(text: string, size: number): string[] {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    let end = Math.min(text.length, i + size);
    // Never split a surrogate pair.
    const code = text.charCodeAt(end - 1);
    if (end < text.length && code >= 0xd800 && code <= 0xdbff) end--;
    parts.push(text.slice(i, end));
    i = end;
  }
  return parts;
}

function toRecordingError(err: unknown): RecordingError {
  if (err instanceof RecordingError) return err;
  return new RecordingError('RECORD_FAILED', err instanceof Error ? err.message : String(err), { cause: err });
}
