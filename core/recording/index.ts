// Public surface of core/recording.
export * from './errors.js';
export * from './events.js';
export { canonicalJson } from './canonical-json.js';
export { newEventId, isEventId } from './event-id.js';
export { computeEventHash, genesisHash, sha256Hex, verifyChain, type ChainVerification } from './hash-chain.js';
export { assertNoSecretFields } from './secret-fields.js';
export { Spool, type SpoolOptions, type SpoolSessionInfo, type OrphanSession } from './spool.js';
export { Shipper, type ShipperOptions, type ShipperStats, type RecordSink, type ShipBatch } from './shipper.js';
export { Recorder, SessionRecording, buildEvent, OUTPUT_CHUNK_CHARS, type RecorderOptions, type SessionEventType } from './session-recorder.js';
export { FileRecordSink, type SessionSummary } from './file-record-sink.js';
