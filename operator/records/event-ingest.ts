// Session-event ingest for the sidecar API: checks the batch, checks that the
// session belongs to the calling pod (its session.start names that pod; the
// pod comes from the caller's verified token), appends to the transcript
// store, and keeps the SessionRecord up to date before acknowledging.
import { isRecordEvent, type RecordEvent } from '../../core/recording/events.js';
import { assertNoSecretFields } from '../../core/recording/secret-fields.js';
import { ChainConflictError, RecordingError } from '../../core/recording/errors.js';
import { genesisHash } from '../../core/recording/hash-chain.js';
import { IngestError } from './errors.js';
import { sessionRecordSpec, type SessionRecordWriter } from './session-record-writer.js';
import { emptySummary, foldEvent, type SessionSummary } from './session-summary.js';
import type { TranscriptKey, TranscriptStore } from './transcript-store.js';

export interface IngestPod {
  namespace: string;
  name: string;
  serviceAccount: string;
}

export interface EventIngestOptions {
  store: TranscriptStore;
  /** Absent: transcripts only, no SessionRecords (tests, or a store-only deployment). */
  records?: SessionRecordWriter;
  maxEvents?: number;
}

interface SessionState {
  summary: SessionSummary;
  /** The SessionRecord lags the summary (a write failed or has not happened yet). */
  dirty: boolean;
}

export const MAX_INGEST_EVENTS = 1000;
const MAX_CACHED_SESSIONS = 10_000;

export class EventIngest {
  private readonly sessions = new Map<string, SessionState>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly maxEvents: number;

  constructor(private readonly o: EventIngestOptions) {
    this.maxEvents = o.maxEvents ?? MAX_INGEST_EVENTS;
  }

  /** Validates and stores a batch; resolves with the highest seq stored contiguously. */
  async ingest(pod: IngestPod, sessionId: string, batch: unknown): Promise<{ ackedThrough: number }> {
    const events = this.check(sessionId, batch);
    const key: TranscriptKey = { namespace: pod.namespace, sessionId };
    const k = `${key.namespace}/${sessionId}`;
    const prev = this.locks.get(k) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.ingestLocked(pod, key, events));
    this.locks.set(k, next);
    void next.finally(() => {
      if (this.locks.get(k) === next) this.locks.delete(k);
    }).catch(() => undefined);
    return next;
  }

  private check(sessionId: string, batch: unknown): RecordEvent[] {
    if (!Array.isArray(batch)) throw new IngestError('AG_INGEST_BAD_BATCH', 400, 'events must be an array');
    if (batch.length === 0) throw new IngestError('AG_INGEST_BAD_BATCH', 400, 'events is empty');
    if (batch.length > this.maxEvents) throw new IngestError('AG_INGEST_TOO_MANY', 413, `at most ${this.maxEvents} events per batch`);
    batch.forEach((e: unknown, i) => {
      if (!isRecordEvent(e)) throw new IngestError('AG_INGEST_BAD_EVENT', 400, `events[${i}] is not a session event`);
      if (e.sessionId !== sessionId) throw new IngestError('AG_INGEST_BAD_EVENT', 400, `events[${i}] belongs to another session`);
      try {
        assertNoSecretFields(e.data);
      } catch (err) {
        throw new IngestError('AG_INGEST_SECRET_FIELD', 400, `events[${i}]: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    return batch as RecordEvent[];
  }

  private async ingestLocked(pod: IngestPod, key: TranscriptKey, events: RecordEvent[]): Promise<{ ackedThrough: number }> {
    const state = await this.load(key);
    const first = events.find((e) => e.seq === 1);
    if (state.summary.events === 0 && first !== undefined && first.type !== 'session.start') {
      throw new IngestError('AG_INGEST_BAD_EVENT', 400, `session ${key.sessionId}: the first event must be session.start`);
    }
    const startData = state.summary.start?.data ?? (first?.type === 'session.start' ? (first as RecordEvent<'session.start'>).data : undefined);
    if (startData !== undefined) {
      const p = startData.pod;
      if (p === undefined || p.namespace !== pod.namespace || p.name !== pod.name || p.serviceAccount !== pod.serviceAccount) {
        throw new IngestError('AG_INGEST_NOT_YOURS', 403, `session ${key.sessionId} does not belong to pod ${pod.namespace}/${pod.name}`);
      }
    }
    let result;
    try {
      result = await this.o.store.append(key, events);
    } catch (err) {
      if (err instanceof ChainConflictError) throw new IngestError('AG_INGEST_CHAIN_CONFLICT', 409, err.message);
      if (err instanceof RecordingError) throw new IngestError(err.code, 400, err.message);
      throw err;
    }
    for (const e of result.appended) foldEvent(state.summary, e);
    if (result.appended.length > 0) state.dirty = true;
    if (state.dirty && this.o.records) {
      const spec = sessionRecordSpec(state.summary, this.o.store.name, this.o.store.locate(key));
      if (spec !== undefined) {
        await this.o.records.upsert(key.namespace, spec);
        state.dirty = false;
      }
    }
    const k = `${key.namespace}/${key.sessionId}`;
    if (state.summary.end !== null && !state.dirty) this.sessions.delete(k);
    return { ackedThrough: result.events };
  }

  private async load(key: TranscriptKey): Promise<SessionState> {
    const k = `${key.namespace}/${key.sessionId}`;
    const cached = this.sessions.get(k);
    if (cached) return cached;
    const summary = emptySummary(key.sessionId, genesisHash(key.sessionId));
    const head = await this.o.store.head(key);
    for await (const e of this.o.store.read(key)) {
      if (e.seq > head.events) break;
      foldEvent(summary, e);
    }
    // After a restart the record may lag the transcript: write it with the next batch.
    const state: SessionState = { summary, dirty: head.events > 0 };
    if (this.sessions.size >= MAX_CACHED_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    this.sessions.set(k, state);
    return state;
  }
}
