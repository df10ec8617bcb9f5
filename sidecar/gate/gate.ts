// The narrow interfaces a protocol session uses, declared where they are used.
// Protocol-agnostic: PostgreSQL, SSH and HTTP sessions all take a `Gate`.
import type { Activation, ConnectionFacts, Identity } from '../../core/policy/activation.js';
import type { MaskingSpecLike } from '../../core/masking/masker.js';
import type { ApprovalOutcome, EventDataMap, SessionOutcome, SessionStartData } from '../../core/recording/events.js';

export type { Activation, ConnectionFacts, Identity };

export interface AuthRequest {
  protocol: ConnectionFacts['protocol'];
  /** Connection name. */
  connection: string;
  /** The user name the client asked for (informational: identity comes from the credential). */
  user?: string;
  /** The presented credential (a JWT), or undefined for pod identity. */
  credential?: string;
  remoteAddress?: string;
}

export interface Authenticator {
  /** Resolves the identity, or rejects with an AuthError (the session is refused, nothing forwarded). */
  authenticate(req: AuthRequest): Promise<Identity>;
}

/** What the policy engine decided (structurally compatible with core/policy's Decision). */
export interface GateDecision {
  action: 'allow' | 'deny' | 'review';
  /** "namespace/name" of the deciding policy; absent for the default deny. */
  policy?: string | undefined;
  rule?: string | undefined;
  message: string;
  /** The deciding policy's approval settings, for a review. */
  approval?: unknown;
}

export interface PolicyDecider {
  /** Synchronous, bounded evaluation; never throws (errors are a deny). */
  decide(activation: Activation): GateDecision;
}

export interface ApprovalRequest {
  sessionId: string;
  identity: Identity;
  connection: string;
  protocol: ConnectionFacts['protocol'];
  /** The exact operation (statement text, command, request line). */
  operation: string;
  decision: GateDecision;
}

export interface ApprovalService {
  /**
   * Creates an approval request and resolves with its outcome. `onPending`
   * is called once with the request id as soon as the request exists (the
   * client is told which request waits). Rejects when no request could be
   * created (the caller fails closed). `signal` aborts when the client goes.
   */
  request(req: ApprovalRequest, opts: { signal: AbortSignal; onPending: (id: string) => void }): Promise<ApprovalOutcome>;
}

export type SessionEventType = Exclude<keyof EventDataMap, 'session.start' | 'session.end'>;

/** One session's event stream (core/recording's SessionRecording fits). */
export interface SessionEvents {
  readonly sessionId: string;
  /**
   * seq of the last event this session accepted. `record()` assigns the seq
   * synchronously (before the event is durable), so reading this right after
   * calling it tells whether the event was taken and which seq a later event
   * can refer to (statement.result's `ref`); unchanged means it was not.
   * Taken means written to the spool file (core/recording writes synchronously),
   * which is what strict recording needs before a statement is forwarded.
   * Without it, a reference is taken from the event record() resolves with.
   */
  readonly lastSeq?: number;
  /** Resolves when durable; in strict mode rejects when recording failed. */
  record<T extends SessionEventType>(type: T, data: EventDataMap[T]): Promise<unknown>;
  /**
   * The data path's way (no promise per event): writes the event to the spool
   * file now and returns its seq, or 0 when it was not taken (lenient mode
   * after a failure); throws in strict mode when it cannot be written.
   * `defer` lets an outcome wait for the next write (see core/recording).
   */
  write?<T extends SessionEventType>(type: T, data: EventDataMap[T], opts?: { defer?: boolean }): number;
  /** Called once with the first recording failure (strict sessions end on it). */
  onFailure?(listener: (err: Error) => void): void;
  end(outcome: SessionOutcome, reason?: string): Promise<void>;
}

export interface EventSink {
  /** Records session.start; rejects in strict mode when it cannot (the session is refused). */
  startSession(data: SessionStartData, opts: { sessionId?: string; strict?: boolean }): Promise<SessionEvents>;
}

export interface SessionSettings {
  /** Masking for this identity on this connection; undefined = nothing to mask. */
  masking?: MaskingSpecLike | undefined;
  /** Key for the keyed-hash strategy (from masking.hashKeySecretRef). */
  hashKey?: Buffer | undefined;
  maxDurationMs?: number | undefined;
  idleTimeoutMs?: number | undefined;
  recording: boolean;
  strictRecording: boolean;
  /** Names of the policies that apply (for session.start). */
  policies?: string[] | undefined;
}

export interface SessionSettingsProvider {
  sessionSettings(identity: Identity, connection: ConnectionFacts): SessionSettings;
}

export interface Gate {
  readonly authenticator: Authenticator;
  readonly policy: PolicyDecider;
  readonly approvals: ApprovalService;
  readonly events: EventSink;
  readonly settings: SessionSettingsProvider;
}
