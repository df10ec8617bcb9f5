// Where transcripts live. The filesystem store is the first backend; a
// PostgreSQL or object-store backend implements the same interface.
import type { RecordEvent } from '../../core/recording/events.js';

export interface TranscriptKey {
  /** The pod's namespace (sessions of different namespaces never share a place). */
  namespace: string;
  sessionId: string;
}

export interface TranscriptHead {
  /** Highest seq stored contiguously from 1 (0 when empty). */
  events: number;
  /** Hash of that event (the genesis hash when empty). */
  lastHash: string;
}

export interface AppendResult extends TranscriptHead {
  /** The events newly stored by this call, in seq order (already-stored ones are skipped). */
  appended: RecordEvent[];
}

export interface TranscriptStore {
  /** Store name for SessionRecord.transcript.store (a DNS label, e.g. "file"). */
  readonly name: string;
  /**
   * Appends the events that continue the stored chain. Idempotent: events
   * already stored are skipped; a gap stops the append (what is contiguous is
   * acknowledged, the rest is resent). A batch that breaks the chain (wrong
   * prevHash or hash, a different event at the stored head) is refused whole
   * with ChainConflictError.
   */
  append(key: TranscriptKey, events: readonly RecordEvent[]): Promise<AppendResult>;
  head(key: TranscriptKey): Promise<TranscriptHead>;
  /** The stored events in seq order. */
  read(key: TranscriptKey): AsyncIterable<RecordEvent>;
  /** Where the transcript is, for SessionRecord.transcript.path. */
  locate(key: TranscriptKey): string;
}
