// Session event types. Every event is one JSON line in the spool and in the
// transcript; `hash` chains it to the previous event of the same session.

export type Protocol = 'postgres' | 'ssh' | 'http';
export type DecisionAction = 'allow' | 'deny' | 'review';
export type SessionOutcome = 'ok' | 'error' | 'terminated' | 'denied';
export type ApprovalOutcome = 'approved' | 'denied' | 'expired';

/** What decided an operation: the policy and rule are named so every decision is explainable. */
export interface DecisionRef {
  action: DecisionAction;
  /** null when nothing matched (default deny). */
  policy: string | null;
  rule: string | null;
  message?: string;
}

export interface SessionStartData {
  identity: { sub: string; iss: string; groups: string[] };
  pod?: { namespace: string; name: string; serviceAccount: string };
  connection: string;
  protocol: Protocol;
  client?: { address: string; port?: number };
  /** Names of the policies that applied when the session started. */
  policies?: string[];
  strictRecording?: boolean;
}

export interface SessionCounts {
  /** Decided operations (from statement / command / request events: each counted once). */
  statements: number;
  denied: number;
  /** Values masked in responses (from operation and statement.result events). */
  masked: number;
  approvals: number;
  /** Rows returned or affected (from statement.result events). Absent in counts written before it existed. */
  rows?: number;
}

export interface SessionEndData {
  outcome: SessionOutcome;
  reason?: string;
  durationMs: number;
  /** Absent when the session was closed after a restart (the sink counts from the transcript). */
  counts?: SessionCounts;
}

/** Common to statement / command / request. Content is already masked when it gets here. */
export interface OperationData {
  decision: DecisionRef;
  durationMs?: number;
  /** Number of values masked in the response. */
  maskedFields?: number;
  /** Which fields were masked (e.g. "public.customers.ssn", "$.user.ssn", "detector:pan"); never the values. */
  maskedColumns?: string[];
  approvalId?: string;
  error?: { code: string; message: string };
}

export interface StatementData extends OperationData {
  text: string;
  kinds?: string[];
  tables?: string[];
  rows?: number;
}

/**
 * The outcome of a decided statement, written when it completes (the
 * `statement` event is written ahead, at decision time). PostgreSQL: one per
 * statement of a simple Query (each CommandComplete / EmptyQueryResponse /
 * ErrorResponse ends one) and one per extended-protocol Execute.
 */
export interface StatementResultData {
  /** seq of the `statement` event (same session) whose decision let this statement run. */
  ref: number;
  /** Position of the statement inside a multi-statement simple Query (0-based). */
  index?: number;
  /** The command tag without its counts ("SELECT", "INSERT", "CREATE TABLE"); absent after an error. */
  command?: string;
  /** From when it was forwarded to the backend (or the previous statement of the same Query ended) to its completion. */
  durationMs: number;
  /** Rows returned or affected: the command tag's count, or the rows relayed when the tag has none (suspended portal, error). */
  rows?: number;
  /** Values masked in this statement's response (rows, COPY data, errors and notices). */
  maskedFields: number;
  /** What was masked ("public.customers.ssn", "detector:pan"); never values. */
  maskedColumns?: string[];
  /** The portal was suspended at the Execute's row limit (more rows may follow in another Execute). */
  suspended?: boolean;
  /** The backend refused or failed the statement: SQLSTATE and the (masked) message. */
  error?: { code: string; message: string };
}

export interface CommandData extends OperationData {
  command: string;
  user?: string;
  pty?: boolean;
  subsystem?: string;
  exitCode?: number | null;
  signal?: string;
}

export interface RequestData extends OperationData {
  method: string;
  host: string;
  path: string;
  query?: string;
  status?: number;
  bytesOut?: number;
}

export interface ApprovalRequestedData {
  approvalId: string;
  policy: string;
  rule: string;
  operation: string;
  expiresAt: string;
}

export interface ApprovalDecidedData {
  approvalId: string;
  outcome: ApprovalOutcome;
  approver?: string;
  reason?: string;
}

/** A chunk of terminal output (asciicast v2 style: seconds since session start). */
export interface SshOutputData {
  channel: number;
  stream: 'o' | 'i' | 'e';
  t: number;
  /** UTF-8 text, already masked. */
  data: string;
}

export interface EventDataMap {
  'session.start': SessionStartData;
  'session.end': SessionEndData;
  statement: StatementData;
  'statement.result': StatementResultData;
  command: CommandData;
  request: RequestData;
  'approval.requested': ApprovalRequestedData;
  'approval.decided': ApprovalDecidedData;
  'ssh.output': SshOutputData;
}

export type RecordEventType = keyof EventDataMap;

export const RECORD_EVENT_TYPES: readonly RecordEventType[] = [
  'session.start',
  'session.end',
  'statement',
  'statement.result',
  'command',
  'request',
  'approval.requested',
  'approval.decided',
  'ssh.output',
];

export const RECORD_EVENT_VERSION = 1;

export interface EventEnvelope {
  v: typeof RECORD_EVENT_VERSION;
  /** UUIDv7, monotonic within a process. */
  id: string;
  sessionId: string;
  /** 1-based, consecutive within a session. */
  seq: number;
  /** RFC 3339 with milliseconds. */
  ts: string;
  prevHash: string;
  /** SHA-256 (hex) of the canonical JSON of the event without `hash`. */
  hash: string;
}

export type RecordEvent<T extends RecordEventType = RecordEventType> = {
  [K in T]: EventEnvelope & { type: K; data: EventDataMap[K] };
}[T];

export type UnhashedEvent = Omit<RecordEvent, 'hash'>;

export function isOperationEvent(e: RecordEvent): e is RecordEvent<'statement' | 'command' | 'request'> {
  return e.type === 'statement' || e.type === 'command' || e.type === 'request';
}

/** Narrow an unknown parsed JSON value to a RecordEvent envelope (payload checked by type only). */
export function isRecordEvent(value: unknown): value is RecordEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v.v === RECORD_EVENT_VERSION &&
    typeof v.id === 'string' &&
    typeof v.sessionId === 'string' &&
    typeof v.seq === 'number' &&
    Number.isSafeInteger(v.seq) &&
    typeof v.ts === 'string' &&
    typeof v.prevHash === 'string' &&
    typeof v.hash === 'string' &&
    typeof v.type === 'string' &&
    (RECORD_EVENT_TYPES as readonly string[]).includes(v.type) &&
    typeof v.data === 'object' &&
    v.data !== null
  );
}
