// Builds the chained events of one session and hands them to the spool.
// `write()` puts the event in the spool file synchronously and returns its seq
// (the data path's way: no promise per event); `record()` does the same and
// resolves once the event is fsynced (group commit, see spool.ts). In strict
// mode any failure to record throws/rejects (the caller refuses or ends the
// session, invariant 4), and a failed sync later tells `onFailure` listeners;
// in lenient mode the event is dropped, `onError` is told, and the session
// goes on. Each event is serialised once: its canonical JSON is both what is
// hashed and, with the hash added, the line that is stored and shipped.

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
  /** Event observer (metrics); called when the event is written to the spool. */
  onEvent?: (event: RecordEvent) => void;
  now?: () => number;
}

/** Largest ssh.output text per event; longer output is split. */
export const OUTPUT_CHUNK_CHARS = 32 * 1024;

export class Recorder {
  constructor(private readonly opts: RecorderOptions) {}

  /**
   * Record session.start: written to the spool file when this resolves and
   * durable with the next group commit, like a statement event (waiting for
   * the sync made every new session ~20 ms slower). Rejects in strict mode
   * when the spool cannot take it; a sync that fails later reaches the
   * session's onFailure listeners.
   */
  async startSession(
    data: SessionStartData,
    options: { sessionId?: string; strict?: boolean } = {},
  ): Promise<SessionRecording> {
    const strict = options.strict ?? this.opts.strict ?? false;
    const rec = new SessionRecording(options.sessionId ?? newEventId(), strict, this.opts);
    rec.begin({ ...data, strictRecording: strict });
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
      const { event, line } = buildEventLine(o.sessionId, o.lastSeq + 1, o.lastHash, now, 'session.end', {
        outcome: 'terminated',
        reason,
        durationMs: Math.max(0, now - (Number.isFinite(started) ? started : now)),
      });
      await this.opts.spool.enqueue(event, line);
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
  private failureListeners: Array<(err: RecordingError) => void> = [];
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

  /**
   * Writes the event now (in the spool file's page cache when this returns)
   * without waiting for it to be durable; returns its seq, or 0 when it was not
   * taken (lenient mode after a failure). Throws in strict mode. A sync that
   * fails later is reported to `onFailure` listeners. (ssh.output longer than
   * OUTPUT_CHUNK_CHARS goes through record(), which splits it.)
   * `defer` (spool.ts `write`): the line waits for the session's next line or
   * the next sync, at most about the sync window; only for events nothing
   * acts on (a statement's outcome), never for a write-ahead event.
   */
  write<T extends SessionEventType>(type: T, data: EventDataMap[T], opts?: { defer?: boolean }): number {
    return this.take(type, data, opts?.defer === true)?.seq ?? 0;
  }

  /** `listener` is called once, with the first recording failure of this session (also one already past). */
  onFailure(listener: (err: RecordingError) => void): void {
    if (this.failure) {
      listener(this.failure);
      return;
    }
    this.failureListeners.push(listener);
  }

  /** Record session.end; later calls are no-ops. */
  async end(outcome: SessionOutcome, reason?: string): Promise<void> {
    if (this.ended) return;
    const durationMs = Math.max(0, (this.opts.now ?? Date.now)() - this.startedAt);
    await this.recordRaw('session.end', { outcome, reason, durationMs, counts: this.counts });
  }

  /** @internal session.start, written without waiting for its sync (Recorder.startSession). */
  begin(data: SessionStartData): void {
    this.take('session.start', data);
  }

  /** @internal */
  async recordRaw<T extends RecordEventType>(type: T, data: EventDataMap[T]): Promise<RecordEvent | null> {
    const event = this.take(type, data);
    if (event === null) return null;
    try {
      await this.opts.spool.whenDurable(this.sessionId, event.seq);
    } catch (err) {
      this.fail(toRecordingError(err));
      return this.failed_(this.failure as RecordingError);
    }
    return event;
  }

  /** Builds and writes the event; null when not taken (lenient). Throws in strict mode. */
  private take<T extends RecordEventType>(type: T, data: EventDataMap[T], defer = false): RecordEvent | null {
    if (this.ended) throw new RecordingClosedError(this.sessionId);
    if (this.failure) return this.failed_(this.failure);
    let event: RecordEvent;
    try {
      assertNoSecretFields(data);
      const built = buildEventLine(this.sessionId, this.seq + 1, this.prevHash, (this.opts.now ?? Date.now)(), type, data);
      event = built.event;
      this.opts.spool.write(event, built.line, this.onSpoolBroken, defer);
    } catch (err) {
      // Nothing was written, so the chain is unchanged; a secret field is the caller's bug.
      const e = toRecordingError(err);
      if (e.code === 'RECORD_SECRET_FIELD' || this.strict) throw e;
      // A file that cannot be written stays broken: lenient mode stops recording this session.
      if (this.failure === e) return null; // the spool reported it (onSpoolBroken)
      if (e.code === 'RECORD_SPOOL_WRITE') this.fail(e);
      this.opts.onError?.(e, this.sessionId);
      return null;
    }
    this.seq = event.seq;
    this.prevHash = event.hash;
    if (type === 'session.end') this.ended = true;
    this.count(event);
    this.opts.onEvent?.(event);
    return event;
  }

  // A write or sync of this session failed after events were taken.
  private readonly onSpoolBroken = (err: Error): void => {
    if (this.failure) return;
    const e = toRecordingError(err);
    this.fail(e);
    if (!this.strict) this.opts.onError?.(e, this.sessionId);
  };

  private fail(err: RecordingError): void {
    if (this.failure) return;
    this.failure = err;
    const listeners = this.failureListeners;
    this.failureListeners = [];
    for (const l of listeners) l(err);
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
  return buildEventLine(sessionId, seq, prevHash, nowMs, type, data).event;
}

/**
 * The event and its stored line. The hash covers the canonical JSON of the
 * event without `hash` (hash-chain.ts computeEventHash gives the same); the
 * line is that text with `hash` added, so one serialisation serves both.
 * `data` is kept as given (callers hand over fresh objects); undefined
 * properties are left out of the line and the hash, as JSON leaves them out.
 */
export function buildEventLine<T extends RecordEventType>(
  sessionId: string,
  seq: number,
  prevHash: string,
  nowMs: number,
  type: T,
  data: EventDataMap[T],
): { event: RecordEvent; line: string } {
  let eventData: EventDataMap[T] = data;
  let dataJson: string;
  try {
    dataJson = canonicalJson(data);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    // Not plain JSON (a Date, a class instance): store what JSON makes of it.
    eventData = JSON.parse(JSON.stringify(data)) as EventDataMap[T];
    dataJson = canonicalJson(eventData);
  }
  const id = newEventId(nowMs);
  const ts = isoTime(nowMs);
  // Keys in sorted order (canonical); id, prevHash, ts and type need no escaping.
  const body =
    `{"data":${dataJson},"id":"${id}","prevHash":"${prevHash}","seq":${seq},"sessionId":${JSON.stringify(sessionId)},` +
    `"ts":"${ts}","type":"${type}","v":${RECORD_EVENT_VERSION}`;
  const hash = sha256Hex(body + '}');
  const event = { v: RECORD_EVENT_VERSION, id, sessionId, seq, ts, type, data: eventData, prevHash, hash } as RecordEvent;
  return { event, line: `${body},"hash":"${hash}"}` };
}

// Events come many per millisecond: the timestamp text is made once per millisecond.
let lastIsoMs = Number.NaN;
let lastIso = '';
function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
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
