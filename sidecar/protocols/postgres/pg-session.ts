// One relayed PostgreSQL session after authentication: the state machine
// between the agent (client) and the backend. It fixes the order for every
// statement: classify → guard → policy (→ approval) → record → forward, and on
// the way back: mask → relay → record the outcome (statement.result: rows,
// duration, masked values, error; one per statement of a simple Query, one
// per Execute).
//
// Client → backend: whole messages are inspected (Query, Parse, Bind, ...);
// CopyData streams through. A refused simple Query gets 42501 and a
// ReadyForQuery with the status the backend last reported (it never saw the
// statement). A refused extended-protocol message is replaced by an Execute of
// a portal that cannot exist, so the backend itself fails that pipeline at
// exactly that point (transaction semantics of a real error) and skips to
// Sync; its "portal does not exist" error is swapped for our 42501 on the way
// back, and the proxy discards client messages until Sync.
//
// Backend → client: bytes are relayed as they come, in the chunks they came
// in; only messages the proxy must read (RowDescription, ReadyForQuery,
// errors, ...) are held whole, and DataRow/CopyData only while masking.
// Frames the proxy speaks itself are inserted at message boundaries, after
// the responses the backend still owes for earlier statements.
//
// Backpressure both ways: a socket whose peer cannot keep up pauses the
// other side until 'drain'. A statement waiting for approval holds it and
// everything pipelined behind it (the client socket is paused).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SqlFacts } from '../../../core/policy/activation.js';
import type { StatementResultData } from '../../../core/recording/events.js';
import type { SqlStatement } from '../../../core/sql/types.js';
import { awaitApproval, buildActivation, denyMessage, type OperationContext } from '../../gate/decisions.js';
import type { ApprovalService, GateDecision, PolicyDecider, SessionEvents } from '../../gate/gate.js';
import {
  B,
  encodeErrorResponse,
  encodeNoticeResponse,
  encodeReadyForQuery,
  errorField,
  isBackendType,
  parseCommandComplete,
  parseCopyResponse,
  parseErrorFields,
  parseParameterStatus,
  parseReadyForQuery,
  type ErrorFields,
  type TransactionStatus,
} from './backend-messages.js';
import { EMPTY_LINEAGE, type Lineage, type LineageResolver } from './catalog-lineage.js';
import { parseCommandTag } from './command-tag.js';
import { FrameScanner, type ScanItem } from './frame-scanner.js';
import {
  DEFAULT_FRONTEND_LIMITS,
  encodeDescribe,
  encodeExecute,
  encodeTerminate,
  expectEmpty,
  F,
  frontendMaxLength,
  isFrontendType,
  parseBindNames,
  parseExecute,
  parseParse,
  parseQuery,
  parseTarget,
  type FrontendLimits,
} from './frontend-messages.js';
import type { CopyDataMasker, DataRowMasker, SessionMasking } from './masking-seam.js';
import { distinctStatements, mergeForMasking, resultLineage, UNKNOWN_LINEAGE } from './masking-lineage.js';
import { MAX_HISTORY_CHARS, PreparedStatements } from './prepared-statements.js';
import { backendProtocolError, PgProxyError, protocolViolation } from './protocol-errors.js';
import { bindNeedsDecision, expandWholeRowPredicates, guardSql, statementFacts, type StatementClassifier } from './statement-guard.js';
import { destroyUnlessClosed } from '../shared/close-deadline.js';
import { recordedStatementText } from '../../../core/sql/recorded-text.js';

export interface SessionStats {
  statements: number;
  denied: number;
  approvals: number;
  rows: number;
  masked: number;
  bytesFromClient: number;
  bytesToClient: number;
  /** Most bytes the proxy held for this session at once, in one direction (read but not yet sent). */
  peakBuffered: number;
}

export type SessionEndReason = 'client-closed' | 'backend-closed' | 'protocol-violation' | 'idle-timeout' | 'max-duration' | 'terminated' | 'error';

export interface PgSessionOptions {
  client: Socket;
  backend: Socket;
  /** Bytes already read from either side before the relay started. */
  clientLeftover?: Buffer;
  backendLeftover?: Buffer;
  /** Transaction status from the backend's first ReadyForQuery. */
  status: TransactionStatus;
  ctx: OperationContext;
  classifier: StatementClassifier;
  policy: PolicyDecider;
  approvals: ApprovalService;
  events?: SessionEvents | undefined;
  strictRecording?: boolean;
  masking?: SessionMasking | null;
  lineage?: LineageResolver | undefined;
  limits?: FrontendLimits;
  idleTimeoutMs?: number | undefined;
  maxDurationMs?: number | undefined;
  onEnd?: (reason: SessionEndReason, stats: SessionStats, error?: Error) => void;
}

/** What the backend still owes, in order. */
type Expect =
  | { kind: 'query'; statements: SqlStatement[]; rowSets: number; copySets: number; lineage: (rowSet: number) => SqlStatement | undefined }
  | { kind: 'sync'; sentinels: string[] }
  | { kind: 'describe'; injected: boolean; statements: SqlStatement[] | undefined };

/** Where a statement's outcome points: the seq of its `statement` event (or the promise of that event). */
type StatementRef = number | Promise<unknown> | undefined;

/**
 * A step the backend answers whose outcome is recorded (only with a recording),
 * in the order it answers: a simple Query (one outcome per statement in it),
 * an Execute, and the Parse / Bind before it (a statement can fail there), with
 * the Sync that ends a pipeline.
 */
type Pending =
  | { kind: 'query'; ref: StatementRef; sent: number; index: number }
  | { kind: 'execute'; ref: StatementRef; sent: number }
  | { kind: 'parse' | 'bind'; ref: StatementRef; sent: number }
  | { kind: 'sync' };

/** Longest error message kept in a recorded outcome. */
const MAX_RECORDED_ERROR = 1024;

interface Injection {
  /** Send once this many ReadyForQuery messages have been relayed. */
  afterRfq: number;
  build: () => Buffer;
}

/** Refusals waiting to be sent before the proxy stops reading from a client that does not read. */
const MAX_PENDING_INJECTIONS = 64;

const NO_LINEAGE = (): undefined => undefined;

/** SQLSTATE insufficient_privilege: what a refusal looks like to the client. */
export const DENY_SQLSTATE = '42501';

export class PgSession {
  readonly stats: SessionStats = { statements: 0, denied: 0, approvals: 0, rows: 0, masked: 0, bytesFromClient: 0, bytesToClient: 0, peakBuffered: 0 };
  private readonly client: Socket;
  private readonly backend: Socket;
  private readonly clientIn: FrameScanner;
  private readonly backendIn: FrameScanner;
  private readonly prepared = new PreparedStatements();
  private readonly limits: FrontendLimits;
  private readonly masking: SessionMasking | null;
  private readonly abort = new AbortController();
  /** Ends a session whose client stops reading after the backend went away; cleared by end(). */
  private backendGoneTimer: NodeJS.Timeout | undefined;

  private status: TransactionStatus;
  private clientBusy = false;
  private backendBusy = false;
  private backendBlocked = false;
  private clientBlocked = false;
  private discardUntilSync = false;
  private pendingSentinels: string[] = [];
  private readonly sentinels = new Map<string, Buffer>();
  private readonly expects: Expect[] = [];
  private readonly injections: Injection[] = [];
  private rfqExpected = 0;
  private rfqSeen = 0;
  private ended = false;
  /** The client sent Terminate: relay the backend's last answers, then close. */
  private terminating = false;
  private backendGone = false;
  /** Client reading paused until queued refusals drain. */
  private clientStalled = false;
  private lastActivity = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  // Masking state.
  private rowMasker: DataRowMasker | null = null;
  private copyMasker: CopyDataMasker | null = null;
  private readonly portals = new Map<string, SqlStatement[]>();
  /**
   * What the backend's unnamed statement may be (masking only): one Parse when
   * it was the first extended message since Sync (it runs, or fails and leaves
   * none); otherwise a skipped Parse leaves the old one, so both are candidates.
   */
  private unnamedCandidates: SqlStatement[] = [];
  /** The unnamed Parse of the current pipeline: later messages of the pipeline run only if it did. */
  private unnamedInPipeline: SqlStatement | undefined;
  /** An extended-protocol message since the last Sync: one that fails makes the backend skip what follows. */
  private extendedSinceSync = false;
  /**
   * DECLAREd cursors (masking only): FETCH results carry the lineage of the
   * cursor's query. Every DECLARE of a name is a candidate (a duplicate fails
   * at the backend, a CLOSE may be skipped); non-holdable ones go when a
   * ReadyForQuery says no transaction is open.
   */
  private readonly cursors = new Map<string, Array<{ statement: SqlStatement; hold: boolean; sentAt: number }>>();
  /** Statement text the cursor candidates hold (bounded: beyond it a name masks as UNKNOWN_LINEAGE). */
  private cursorChars = 0;
  /** Statements of the portal whose Execute is being answered (extended protocol, masking only). */
  private executing: SqlStatement[] | undefined;

  // Outcome recording (only with a recording): what the backend still answers, in order.
  private readonly tracking: boolean;
  private readonly pendingOutcomes: Pending[] = [];
  private readonly statementRefs = new Map<string, StatementRef>();
  private readonly portalRefs = new Map<string, StatementRef>();
  /** Counters when the last outcome ended: what came since belongs to the next one. */
  private outcomeRows = 0;
  private outcomeMasked = 0;
  private outcomeEndedAt = 0;
  /** Names of what the current statement's maskers masked. */
  private maskedNames: Set<string> | undefined;

  constructor(private readonly opts: PgSessionOptions) {
    this.client = opts.client;
    this.backend = opts.backend;
    this.status = opts.status;
    this.limits = opts.limits ?? DEFAULT_FRONTEND_LIMITS;
    this.masking = opts.masking ?? null;
    this.tracking = opts.events !== undefined;
    const limits = this.limits;
    this.clientIn = new FrameScanner({
      maxLength: (t) => frontendMaxLength(limits, t),
      collect: (t) => t !== F.CopyData,
      knownType: isFrontendType,
      malformed: (m) => protocolViolation(m),
    });
    this.backendIn = new FrameScanner({
      maxLength: () => 1024 * 1024 * 1024,
      collect: (t) => (t === B.DataRow ? this.rowMasker !== null : t === B.CopyData ? this.copyMasker !== null : true),
      knownType: isBackendType,
      malformed: (m) => backendProtocolError(m),
    });
    if (opts.strictRecording === true) {
      // A write or sync that fails after the statement went out: the session cannot go on (invariant 4).
      opts.events?.onFailure?.(() => this.terminate('error', '58030', 'agentgate: terminating session: the session cannot be recorded'));
    }
  }

  /** Starts relaying. */
  start(): void {
    const { client, backend } = this;
    client.on('data', (chunk: Buffer) => {
      this.lastActivity = Date.now();
      this.stats.bytesFromClient += chunk.length;
      this.clientIn.push(chunk);
      this.pumpClient();
    });
    backend.on('data', (chunk: Buffer) => {
      this.lastActivity = Date.now();
      this.backendIn.push(chunk);
      this.pumpBackend();
    });
    client.on('drain', () => {
      this.clientBlocked = false;
      this.pumpBackend();
      if (!this.clientBlocked && !this.backendBusy) backend.resume();
      this.flushInjections();
    });
    backend.on('drain', () => {
      this.backendBlocked = false;
      this.pumpClient();
    });
    client.on('end', () => this.end('client-closed'));
    client.on('close', () => this.end('client-closed'));
    client.on('error', (err) => this.end('client-closed', err));
    // The backend's last bytes (a FATAL, the answers before a Terminate) are relayed before closing.
    const backendGone = (): void => {
      if (this.backendGone) return;
      this.backendGone = true;
      // A client that never reads again must not keep the session forever (once
      // the session has ended there is nothing left to guard, and a timer would
      // only keep it in memory).
      if (!this.ended) {
        this.backendGoneTimer = setTimeout(() => this.end(this.terminating ? 'client-closed' : 'backend-closed'), 30_000);
        this.backendGoneTimer.unref();
      }
      this.pumpBackend();
    };
    backend.on('end', backendGone);
    backend.on('close', backendGone);
    backend.on('error', (err) => this.end('backend-closed', err));

    if (this.opts.idleTimeoutMs !== undefined && this.opts.idleTimeoutMs > 0) this.armIdle(this.opts.idleTimeoutMs);
    if (this.opts.maxDurationMs !== undefined && this.opts.maxDurationMs > 0) {
      this.maxTimer = setTimeout(() => this.terminate('max-duration', '57P01', 'agentgate: terminating session: it reached its maximum duration'), this.opts.maxDurationMs);
      this.maxTimer.unref();
    }
    if (this.opts.backendLeftover !== undefined && this.opts.backendLeftover.length > 0) this.backendIn.push(this.opts.backendLeftover);
    if (this.opts.clientLeftover !== undefined && this.opts.clientLeftover.length > 0) {
      this.stats.bytesFromClient += this.opts.clientLeftover.length;
      this.clientIn.push(this.opts.clientLeftover);
    }
    client.resume();
    backend.resume();
    this.pumpBackend();
    this.pumpClient();
  }

  /** Ends the session with a FATAL error to the client (policy revoked, limits). */
  terminate(reason: SessionEndReason, sqlstate: string, message: string): void {
    if (this.ended) return;
    if (this.backendIn.atBoundary()) {
      this.client.write(encodeErrorResponse({ severity: 'FATAL', code: sqlstate, message }));
    }
    this.end(reason);
  }

  get transactionStatus(): TransactionStatus {
    return this.status;
  }

  // ---------------------------------------------------------------- lifecycle

  private armIdle(ms: number): void {
    const check = (): void => {
      if (this.ended) return;
      // A statement still running (or waiting for approval) is not idleness.
      if (this.clientBusy || this.rfqSeen < this.rfqExpected) this.lastActivity = Date.now();
      const idle = Date.now() - this.lastActivity;
      if (idle >= ms) {
        this.terminate('idle-timeout', '57P05', 'agentgate: terminating session due to idle timeout');
        return;
      }
      this.idleTimer = setTimeout(check, Math.max(10, ms - idle));
      this.idleTimer.unref();
    };
    this.idleTimer = setTimeout(check, ms);
    this.idleTimer.unref();
  }

  private end(reason: SessionEndReason, error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.maxTimer !== undefined) clearTimeout(this.maxTimer);
    if (!this.backend.destroyed && !this.backend.writableEnded) {
      // Terminate lets the backend end cleanly (an open transaction rolls back).
      if (reason !== 'backend-closed' && reason !== 'error') this.backend.end(encodeTerminate());
      else this.backend.end();
    }
    if (!this.client.destroyed) this.client.end();
    if (this.backendGoneTimer !== undefined) clearTimeout(this.backendGoneTimer);
    // A socket that does not finish closing on its own is cut after a while.
    destroyUnlessClosed([this.client, this.backend], 5000);
    this.opts.onEnd?.(reason, this.stats, error);
  }

  /** Malformed input or a broken invariant: tell the client (if a frame fits here) and close. */
  private fail(err: unknown): void {
    if (this.ended) return;
    const e = err instanceof PgProxyError ? err : new PgProxyError('PG_BACKEND_PROTOCOL', err instanceof Error ? err.message : String(err));
    if (this.backendIn.atBoundary() && !this.client.destroyed) {
      this.client.write(encodeErrorResponse({ severity: 'FATAL', code: e.sqlstate, message: `agentgate: ${e.message}` }));
    }
    this.end(e.code === 'PG_PROTOCOL_VIOLATION' ? 'protocol-violation' : 'error', e);
  }

  // ------------------------------------------------------------------ writes

  private toBackend(buf: Buffer): void {
    if (!this.backend.write(buf)) this.backendBlocked = true;
    const held = this.backend.writableLength + this.clientIn.pending();
    if (held > this.stats.peakBuffered) this.stats.peakBuffered = held;
  }

  private toClient(buf: Buffer): void {
    this.stats.bytesToClient += buf.length;
    if (!this.client.write(buf)) this.clientBlocked = true;
    const held = this.client.writableLength + this.backendIn.pending();
    if (held > this.stats.peakBuffered) this.stats.peakBuffered = held;
  }

  /** Frames of our own, sent once the backend has answered everything forwarded so far. */
  private injectAfterPending(build: () => Buffer): void {
    this.injections.push({ afterRfq: this.rfqExpected, build });
    this.flushInjections();
  }

  private injectNow(frame: Buffer): void {
    this.injections.push({ afterRfq: 0, build: () => frame });
    this.flushInjections();
  }

  private flushInjections(): void {
    while (this.injections.length > 0 && !this.ended) {
      const head = this.injections[0] as Injection;
      if (head.afterRfq > this.rfqSeen || !this.backendIn.atBoundary() || this.backendBusy) break;
      this.injections.shift();
      this.toClient(head.build());
    }
    if (this.clientStalled && !this.clientBlocked && this.injections.length < MAX_PENDING_INJECTIONS / 2) {
      this.clientStalled = false;
      // Not re-entrant: the pump may be on the stack right now.
      queueMicrotask(() => this.pumpClient());
    }
  }

  // ------------------------------------------------------- client → backend

  private pumpClient(): void {
    if (this.clientBusy || this.ended || this.terminating) return;
    this.backend.cork();
    try {
      for (;;) {
        if (this.backendBlocked) {
          this.client.pause();
          return;
        }
        if (this.clientBlocked || this.injections.length >= MAX_PENDING_INJECTIONS) {
          // A client that does not read its answers (refusals are answered by the
          // proxy itself) must not make the proxy buffer them without bound.
          this.clientStalled = true;
          this.client.pause();
          return;
        }
        const item = this.clientIn.next();
        if (item === null) {
          this.client.resume();
          return;
        }
        const pending = this.onClientItem(item);
        if (this.terminating) return;
        if (pending !== undefined) {
          this.clientBusy = true;
          this.client.pause();
          pending.then(
            () => {
              this.clientBusy = false;
              this.flushInjections();
              this.pumpClient();
            },
            (err: unknown) => this.fail(err),
          );
          return;
        }
        if (this.ended) return;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.backend.uncork();
    }
  }

  /** Handles one client item; returns a promise when it must be awaited before the next. */
  private onClientItem(item: ScanItem): Promise<void> | undefined {
    if (item.kind === 'bytes') {
      // CopyData streaming to the backend (COPY FROM STDIN).
      if (!this.discardUntilSync) this.toBackend(item.bytes);
      return undefined;
    }
    const { type, frame, body } = item;
    if (type === F.Sync) {
      expectEmpty(body, 'Sync');
      this.discardUntilSync = false;
      this.endPipeline();
      if (this.tracking) this.pendingOutcomes.push({ kind: 'sync' });
      this.expects.push({ kind: 'sync', sentinels: this.pendingSentinels });
      this.pendingSentinels = [];
      this.rfqExpected++;
      this.toBackend(frame);
      return undefined;
    }
    if (type === F.Terminate) {
      expectEmpty(body, 'Terminate');
      // Like the backend: answer what came before, then close. Nothing after X is read.
      this.terminating = true;
      this.client.pause();
      this.backend.end(frame);
      return undefined;
    }
    if (type === F.Password) throw protocolViolation('unexpected password message after authentication');
    if (this.discardUntilSync) {
      // After a refusal in an extended-protocol pipeline, as the backend itself does after an error.
      return undefined;
    }
    switch (type) {
      case F.Query:
        return this.onQuery(frame, parseQuery(body));
      case F.Parse: {
        // A Parse that is the first extended message since Sync cannot be skipped by the backend.
        const fresh = !this.extendedSinceSync;
        this.extendedSinceSync = true;
        return this.onParse(frame, body, fresh);
      }
      case F.Bind:
        this.extendedSinceSync = true;
        return this.onBind(frame, body);
      case F.Execute: {
        this.extendedSinceSync = true;
        const { portal } = parseExecute(body);
        if (this.masking !== null) {
          // Masking needs the row layout of every result; a client may Execute without Describe.
          this.expects.push({ kind: 'describe', injected: true, statements: this.portals.get(portal) });
          this.toBackend(encodeDescribe('P', portal));
        }
        if (this.tracking) this.pendingOutcomes.push({ kind: 'execute', ref: this.portalRefs.get(portal), sent: performance.now() });
        this.toBackend(frame);
        return undefined;
      }
      case F.Describe: {
        this.extendedSinceSync = true;
        const target = parseTarget(body, 'Describe');
        const statements = target.kind === 'P' ? this.portals.get(target.name) : this.statementsOf(target.name);
        this.expects.push({ kind: 'describe', injected: false, statements });
        this.toBackend(frame);
        return undefined;
      }
      case F.Close: {
        const target = parseTarget(body, 'Close');
        if (target.kind === 'S') {
          // The lineage history stays (prepared-statements.ts): the backend may skip this Close.
          this.prepared.remove(target.name);
          this.statementRefs.delete(target.name);
        } else {
          this.portals.delete(target.name);
          this.portalRefs.delete(target.name);
        }
        this.toBackend(frame);
        return undefined;
      }
      case F.Flush:
        expectEmpty(body, 'Flush');
        this.toBackend(frame);
        return undefined;
      case F.FunctionCall:
        // The fast-path call names a function by OID, with no SQL a policy could read.
        this.refuseSimple(
          { action: 'deny', rule: 'function-call', message: 'the fast-path function call protocol is not allowed' },
          '(fast-path function call)',
          undefined,
        );
        return undefined;
      case F.CopyDone:
      case F.CopyFail:
        this.toBackend(frame);
        return undefined;
      case F.CopyData:
        this.toBackend(frame);
        return undefined;
      default:
        throw protocolViolation(`unexpected message type 0x${type.toString(16)}`);
    }
  }

  /** Remembers a DECLAREd cursor (masking only), as a candidate for its name. */
  private registerCursor(s: SqlStatement): void {
    const name = s.cursorName;
    if (this.masking === null || s.kind !== 'DECLARE' || name === undefined) return;
    const list = this.cursors.get(name) ?? [];
    if (list.length === 0 && this.cursors.size >= 1000) return; // its FETCHes mask as UNKNOWN_LINEAGE
    if (list.length >= 16 || this.cursorChars + s.text.length > MAX_HISTORY_CHARS) {
      for (const c of list) this.cursorChars -= c.statement.text.length;
      this.cursors.set(name, [{ statement: UNKNOWN_LINEAGE, hold: true, sentAt: 0 }]);
      return;
    }
    // Over-reading WITH HOLD (any "hold" in the text) only keeps a candidate longer.
    list.push({ statement: s, hold: /hold/i.test(s.text), sentAt: this.rfqExpected });
    this.cursorChars += s.text.length;
    this.cursors.set(name, list);
  }

  /** A FETCH stands for its cursor's query (every candidate of the name, merged). */
  private cursorLineage(s: SqlStatement): SqlStatement {
    const name = s.cursorName;
    if (s.kind !== 'FETCH' || name === undefined || this.masking === null) return s;
    const list = this.cursors.get(name);
    // A cursor this session never DECLAREd (opened by a function, or beyond the bound): assume the worst.
    if (list === undefined || list.length === 0) return UNKNOWN_LINEAGE;
    return mergeForMasking(list.map((c) => c.statement)) ?? UNKNOWN_LINEAGE;
  }

  /** Statements as the masker sees them, DECLAREs remembered in order (a FETCH may follow in the same Query). */
  private forMasking(statements: SqlStatement[]): SqlStatement[] {
    if (this.masking === null) return statements;
    return statements.map((s) => {
      this.registerCursor(s);
      return this.cursorLineage(s);
    });
  }

  /** Non-holdable cursors end with their transaction: those declared before this ReadyForQuery (status 'I') are gone. */
  private forgetEndedCursors(): void {
    for (const [name, list] of this.cursors) {
      const kept = list.filter((c) => c.hold || c.sentAt >= this.rfqSeen);
      for (const c of list) if (!kept.includes(c)) this.cursorChars -= c.statement.text.length;
      if (kept.length === 0) this.cursors.delete(name);
      else if (kept.length !== list.length) this.cursors.set(name, kept);
    }
  }

  /** Masking statements of a prepared statement: every candidate of the name, merged. */
  private statementsOf(name: string): SqlStatement[] | undefined {
    if (name === '') {
      const unnamed = this.unnamedInPipeline ?? mergeForMasking(this.unnamedCandidates);
      return unnamed === undefined ? undefined : [unnamed];
    }
    const merged = this.prepared.lineage(name);
    return merged === undefined ? undefined : [merged];
  }

  /** An unnamed Parse was forwarded. */
  private parsedUnnamed(statement: SqlStatement, fresh: boolean): void {
    if (fresh) {
      this.unnamedCandidates = [statement];
      this.unnamedInPipeline = undefined;
    } else {
      this.unnamedInPipeline = statement;
    }
  }

  /** Sync: the pipeline's unnamed Parse, if any, may or may not have run. */
  private endPipeline(): void {
    if (this.unnamedInPipeline !== undefined) {
      const all = distinctStatements([...this.unnamedCandidates, this.unnamedInPipeline]);
      this.unnamedCandidates = all.length > 16 ? [UNKNOWN_LINEAGE] : all;
      this.unnamedInPipeline = undefined;
    }
    this.extendedSinceSync = false;
  }

  private onQuery(frame: Buffer, text: string): Promise<void> | undefined {
    const classification = this.opts.classifier.classify(text);
    if (classification.error === undefined && classification.statements.length === 0) {
      // Empty query: nothing to decide (or record), the backend answers EmptyQueryResponse.
      this.forwardQuery(frame, [], [], undefined);
      return undefined;
    }
    const guarded = guardSql(classification, this.prepared, this.opts.classifier);
    if (guarded.refused) {
      this.refuseSimple({ action: 'deny', rule: guarded.rule, message: guarded.message }, text, undefined);
      return undefined;
    }
    const decision = this.opts.policy.decide(buildActivation(this.context(), { sql: this.policyFacts(guarded.facts) }));
    const allow = (approvalId?: string): Promise<void> | undefined => {
      guarded.commit();
      const r = this.record(text, decision, guarded.statements, approvalId);
      return this.afterRecord(r.durable, () => this.forwardQuery(frame, classification.statements, guarded.masking, r.ref));
    };
    if (decision.action === 'allow') return allow();
    if (decision.action === 'deny') {
      this.refuseSimple(decision, text, guarded.statements);
      return undefined;
    }
    return this.review(decision, text).then((r) => {
      if (r.approved) return allow(r.approvalId);
      this.refuseSimple(decision, text, guarded.statements, r.message, r.approvalId);
      return undefined;
    });
  }

  /** `statements` as classified; `masking` one per statement the backend runs (statement-guard.ts). */
  private forwardQuery(frame: Buffer, statements: SqlStatement[], masking: SqlStatement[], ref: StatementRef): void {
    const mapped = this.forMasking(masking);
    const lineage = this.masking === null ? NO_LINEAGE : resultLineage(statements, mapped);
    this.expects.push({ kind: 'query', statements: mapped, rowSets: 0, copySets: 0, lineage });
    if (this.tracking) this.pendingOutcomes.push({ kind: 'query', ref, sent: performance.now(), index: 0 });
    this.rfqExpected++;
    this.toBackend(frame);
  }

  private onParse(frame: Buffer, body: Buffer, fresh: boolean): Promise<void> | undefined {
    const msg = parseParse(body);
    const classification = this.opts.classifier.classify(msg.query);
    const guarded = guardSql(classification, this.prepared, this.opts.classifier, msg.name);
    if (guarded.refused) {
      this.refuseExtended({ action: 'deny', rule: guarded.rule, message: guarded.message }, msg.query, undefined);
      return undefined;
    }
    const decision = this.opts.policy.decide(buildActivation(this.context(), { sql: this.policyFacts(guarded.facts) }));
    const allow = (approvalId?: string): Promise<void> | undefined => {
      guarded.commit();
      for (const s of guarded.masking) this.registerCursor(s);
      if (msg.name === '') this.parsedUnnamed(mergeForMasking(guarded.masking) ?? UNKNOWN_LINEAGE, fresh);
      const r = this.record(msg.query, decision, guarded.statements, approvalId);
      return this.afterRecord(r.durable, () => {
        if (this.tracking) {
          this.statementRefs.set(msg.name, r.ref);
          this.pendingOutcomes.push({ kind: 'parse', ref: r.ref, sent: performance.now() });
        }
        this.toBackend(frame);
      });
    };
    if (decision.action === 'allow') return allow();
    if (decision.action === 'deny') {
      this.refuseExtended(decision, msg.query, guarded.statements);
      return undefined;
    }
    return this.review(decision, msg.query).then((r) => {
      if (r.approved) return allow(r.approvalId);
      this.refuseExtended(decision, msg.query, guarded.statements, r.message, r.approvalId);
      return undefined;
    });
  }

  private onBind(frame: Buffer, body: Buffer): Promise<void> | undefined {
    const { portal, statement } = parseBindNames(body);
    const need = bindNeedsDecision(this.prepared, statement);
    // A FETCH is masked by its cursor's query as the cursors stand now.
    const statements = (this.statementsOf(statement) ?? []).map((s) => this.cursorLineage(s));
    const forward = (ref: StatementRef): void => {
      this.portals.set(portal, statements);
      this.toBackend(frame);
      if (this.tracking) {
        this.portalRefs.set(portal, ref);
        this.pendingOutcomes.push({ kind: 'bind', ref, sent: performance.now() });
      }
    };
    if (need === 'known') {
      forward(this.statementRefs.get(statement));
      return undefined;
    }
    if (need === 'unknown') {
      this.refuseExtended(
        { action: 'deny', rule: 'unknown-prepared-statement', message: `prepared statement "${statement}" is not known to the proxy` },
        `(bind ${statement})`,
        undefined,
      );
      return undefined;
    }
    // A statement made by SQL PREPARE: decided now, on its body.
    const bodyStatements = need.bodies.flatMap((b) => b.statements);
    const text = bodyStatements.map((s) => s.text).join('; ');
    const decision = this.opts.policy.decide(
      buildActivation(this.context(), { sql: this.policyFacts({ text, statements: statementFacts(bodyStatements) }) }),
    );
    const allow = (approvalId?: string): Promise<void> | undefined => {
      this.portals.set(portal, statements);
      const r = this.record(text, decision, bodyStatements, approvalId);
      return this.afterRecord(r.durable, () => {
        this.toBackend(frame);
        if (this.tracking) {
          this.portalRefs.set(portal, r.ref);
          this.pendingOutcomes.push({ kind: 'bind', ref: r.ref, sent: performance.now() });
        }
      });
    };
    if (decision.action === 'allow') return allow();
    if (decision.action === 'deny') {
      this.refuseExtended(decision, text, bodyStatements);
      return undefined;
    }
    return this.review(decision, text).then((r) => {
      if (r.approved) return allow(r.approvalId);
      this.refuseExtended(decision, text, bodyStatements, r.message, r.approvalId);
      return undefined;
    });
  }

  /** What the policy decides on: whole-row predicates name the masked columns they compare. */
  private policyFacts(facts: SqlFacts): SqlFacts {
    const columnsOf = this.masking?.maskedColumnsOf;
    return columnsOf === undefined ? facts : expandWholeRowPredicates(facts, (t) => columnsOf.call(this.masking, t));
  }

  private context(): OperationContext {
    const c = this.opts.ctx;
    c.session.statements = this.stats.statements;
    c.session.denied = this.stats.denied;
    return c;
  }

  /** Refusal of a simple Query (or FunctionCall): error + ReadyForQuery with the unchanged status. */
  private refuseSimple(
    decision: GateDecision,
    text: string,
    statements: SqlStatement[] | undefined,
    message?: string,
    approvalId?: string,
  ): void {
    const frame = encodeErrorResponse({ severity: 'ERROR', code: DENY_SQLSTATE, message: message ?? denyMessage(decision) });
    void this.recordSafe(this.record(text, { ...decision, action: 'deny' }, statements, approvalId).durable);
    this.injectAfterPending(() => Buffer.concat([frame, encodeReadyForQuery(this.status)]));
  }

  /** Refusal inside an extended-protocol pipeline: the backend fails it at this point; discard until Sync. */
  private refuseExtended(
    decision: GateDecision,
    text: string,
    statements: SqlStatement[] | undefined,
    message?: string,
    approvalId?: string,
  ): void {
    void this.recordSafe(this.record(text, { ...decision, action: 'deny' }, statements, approvalId).durable);
    const name = `agentgate_refused_${randomBytes(12).toString('hex')}`;
    this.sentinels.set(name, encodeErrorResponse({ severity: 'ERROR', code: DENY_SQLSTATE, message: message ?? denyMessage(decision) }));
    this.pendingSentinels.push(name);
    this.toBackend(encodeExecute(name));
    this.discardUntilSync = true;
  }

  /**
   * Records the decided statement (write-ahead: before it is forwarded); counts it.
   * `durable` rejects only in strict mode; `ref` is what its outcome will point to.
   */
  private record(
    text: string,
    decision: GateDecision,
    statements: SqlStatement[] | undefined,
    approvalId?: string,
  ): { durable: Promise<unknown> | undefined; ref: StatementRef } {
    this.stats.statements++;
    if (decision.action === 'deny') this.stats.denied++;
    const events = this.opts.events;
    if (events === undefined) return { durable: undefined, ref: undefined };
    const kinds = statements?.map((s) => s.kind);
    const only = statements?.length === 1 ? statements[0] : undefined;
    const tables =
      statements === undefined
        ? undefined
        : only !== undefined && only.tables.length <= 1
          ? [...only.tables]
          : [...new Set(statements.flatMap((s) => s.tables))];
    // Keys in sorted order: the event's canonical JSON then needs no sorting.
    const data = {
      approvalId,
      decision: {
        action: decision.action,
        message: decision.message,
        policy: decision.policy ?? null,
        rule: decision.rule ?? null,
      },
      kinds,
      tables,
      text: this.shownText(text),
    };
    if (events.write !== undefined) {
      // Written to the spool file before the statement is forwarded (write-ahead); a
      // sync that fails later reaches onFailure (strict: the session ends).
      try {
        const seq = events.write('statement', data);
        return { durable: undefined, ref: seq > 0 ? seq : undefined };
      } catch (err) {
        // Strict recording could not write it: refuse to forward (afterRecord ends the session).
        return { durable: Promise.reject(err instanceof Error ? err : new Error(String(err))), ref: undefined };
      }
    }
    const before = events.lastSeq;
    const durable = events.record('statement', data);
    // The seq is taken synchronously; an unchanged one means the event was not taken (lenient mode after a failure).
    const after = events.lastSeq;
    const ref = before === undefined || after === undefined ? durable : after !== before ? after : undefined;
    if (typeof ref === 'number' && this.opts.strictRecording === true) {
      // Taken means written to the spool file (page cache) already; strict mode
      // forwards now and ends the session if the fsync that follows fails.
      void this.recordSafe(durable);
      return { durable: undefined, ref };
    }
    return { durable, ref };
  }

  /**
   * A statement's text wherever it leaves the data path (the recording, an
   * approval request and so an AccessRequest): constants that may carry a
   * credential replaced (recorded-text.ts), then the session's detectors
   * applied, as they are to result values. The backend gets the text as sent.
   */
  private shownText(text: string): string {
    const recorded = recordedStatementText(text);
    const masker = this.masking?.text ?? null;
    return masker === null ? recorded : masker.maskText(recorded).text;
  }

  private recordSafe(p: Promise<unknown> | undefined): Promise<void> {
    if (p === undefined) return Promise.resolve();
    return p.then(
      () => undefined,
      () => {
        // Strict recording failed: the session cannot go on (invariant 4).
        this.terminate('error', '58030', 'agentgate: terminating session: the session cannot be recorded');
      },
    );
  }

  /** Strict mode: forwards once the record is written (or refuses); at once otherwise. */
  private afterRecord(p: Promise<unknown> | undefined, forward: () => void): Promise<void> | undefined {
    if (p === undefined) {
      forward();
      return undefined;
    }
    if (this.opts.strictRecording !== true) {
      void this.recordSafe(p);
      forward();
      return undefined;
    }
    return p.then(forward, () => {
      this.terminate('error', '58030', 'agentgate: terminating session: the statement cannot be recorded');
    });
  }

  private async review(
    decision: GateDecision,
    text: string,
  ): Promise<{ approved: boolean; message: string; approvalId: string | undefined }> {
    this.stats.approvals++;
    const ctx = this.opts.ctx;
    const result = await awaitApproval(
      this.opts.approvals,
      {
        sessionId: ctx.session.id,
        identity: ctx.identity,
        connection: ctx.connection.name,
        protocol: 'postgres',
        operation: this.shownText(text),
        decision,
      },
      {
        signal: this.abort.signal,
        onPending: (id) => {
          const who = decision.policy !== undefined ? ` (policy ${decision.policy} rule "${decision.rule ?? ''}")` : '';
          this.injectNow(
            encodeNoticeResponse({
              code: '00000',
              message: `agentgate: statement waits for approval: request ${id}${who}`,
              hint: `An approver can run: kubectl agentgate approve ${id}`,
            }),
          );
        },
      },
    );
    if (this.ended) throw new PgProxyError('PG_PROTOCOL_VIOLATION', 'session ended while waiting for approval');
    return { approved: result.outcome === 'approved', message: result.message, approvalId: result.approvalId };
  }

  // ------------------------------------------------------- backend → client

  private pumpBackend(): void {
    if (this.backendBusy || this.ended) return;
    this.client.cork();
    try {
      for (;;) {
        this.flushInjections();
        if (this.clientBlocked) {
          this.backend.pause();
          return;
        }
        const item = this.backendIn.next();
        if (item === null) {
          if (this.backendGone) this.end(this.terminating ? 'client-closed' : 'backend-closed');
          return;
        }
        const pending = this.onBackendItem(item);
        if (pending !== undefined) {
          this.backendBusy = true;
          this.backend.pause();
          pending.then(
            () => {
              this.backendBusy = false;
              if (!this.clientBlocked) this.backend.resume();
              this.pumpBackend();
            },
            (err: unknown) => this.fail(err),
          );
          return;
        }
        if (this.ended) return;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.client.uncork();
    }
  }

  private onBackendItem(item: ScanItem): Promise<void> | undefined {
    if (item.kind === 'bytes') {
      if (item.type === B.DataRow) this.stats.rows += item.completed;
      this.toClient(item.bytes);
      return undefined;
    }
    const { type, frame, body } = item;
    switch (type) {
      case B.DataRow: {
        this.stats.rows++;
        const r = (this.rowMasker as DataRowMasker).maskDataRow(frame);
        this.stats.masked += r.masked;
        this.toClient(r.buf);
        return undefined;
      }
      case B.CopyData: {
        const r = (this.copyMasker as CopyDataMasker).maskCopyData(frame);
        this.stats.masked += r.masked;
        this.toClient(r.buf);
        return undefined;
      }
      case B.ReadyForQuery:
        this.onReadyForQuery(parseReadyForQuery(body));
        this.toClient(frame);
        return undefined;
      case B.ErrorResponse:
        this.onError(frame, body);
        return undefined;
      case B.NoticeResponse:
        this.toClient(this.maskErrorFrame(frame));
        return undefined;
      case B.NotificationResponse: {
        // Another session's NOTIFY payload: free text from the database.
        const r = this.masking?.maskNotification?.(frame);
        if (r !== undefined) this.stats.masked += r.masked;
        this.toClient(r === undefined ? frame : r.buf);
        return undefined;
      }
      case B.RowDescription:
        return this.onRowDescription(frame, body);
      case B.NoData: {
        const head = this.expects[0];
        if (head?.kind === 'describe') {
          this.expects.shift();
          if (head.injected) {
            this.harvestMasked(this.rowMasker);
            this.rowMasker = null;
            // The portal about to run returns no rows, but may COPY: remember what it is.
            this.executing = head.statements;
            return undefined;
          }
        }
        this.toClient(frame);
        return undefined;
      }
      case B.CopyOutResponse:
        if (this.masking !== null) {
          const head = this.expects[0];
          let copyStatement: SqlStatement | undefined;
          if (head?.kind === 'query') {
            // The n-th COPY of a Query sends the n-th CopyOutResponse; one more than foreseen gets the strictest lineage.
            copyStatement = head.statements.filter((s) => s.kind === 'COPY')[head.copySets++] ?? UNKNOWN_LINEAGE;
          } else {
            copyStatement = this.executing?.find((s) => s.kind === 'COPY');
          }
          this.copyMasker = this.masking.forCopy(copyStatement, parseCopyResponse(body));
        }
        this.toClient(frame);
        return undefined;
      case B.CopyDone:
        this.harvestMasked(this.copyMasker);
        this.copyMasker = null;
        this.toClient(frame);
        return undefined;
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        this.endResult();
        this.toClient(frame);
        if (this.tracking) this.onCompleted(type, body);
        return undefined;
      case B.ParseComplete:
      case B.BindComplete: {
        const head = this.pendingOutcomes[0];
        if (head !== undefined && head.kind === (type === B.ParseComplete ? 'parse' : 'bind')) this.pendingOutcomes.shift();
        this.toClient(frame);
        return undefined;
      }
      case B.ParameterStatus:
        this.onParameterStatus(frame, body);
        return undefined;
      case B.BackendKeyData:
        // The backend's key never reaches the agent.
        return undefined;
      case B.Authentication:
        throw backendProtocolError('unexpected authentication request after startup');
      default:
        this.toClient(frame);
        return undefined;
    }
  }

  private onReadyForQuery(status: TransactionStatus): void {
    this.status = status;
    this.rfqSeen++;
    this.endResult();
    this.executing = undefined;
    if (status === 'I' && this.cursors.size > 0) this.forgetEndedCursors();
    if (this.tracking) {
      // The Query or pipeline is over: anything still pending was skipped by the backend.
      while (this.pendingOutcomes.length > 0) {
        const p = this.pendingOutcomes.shift() as Pending;
        if (p.kind === 'query' || p.kind === 'sync') break;
      }
      this.maskedNames = undefined;
      this.outcomeRows = this.stats.rows;
      this.outcomeMasked = this.stats.masked;
    }
    // Pop what this ReadyForQuery completes: describes the backend skipped, then its query or sync.
    while (this.expects.length > 0) {
      const e = this.expects.shift() as Expect;
      if (e.kind === 'sync') {
        for (const name of e.sentinels) this.sentinels.delete(name);
        break;
      }
      if (e.kind === 'query') break;
    }
  }

  private onError(frame: Buffer, body: Buffer): void {
    // After an error the backend skips to Sync: the describes it owed will not come.
    let i = 0;
    while (i < this.expects.length && this.expects[i]?.kind === 'describe') i++;
    if (i > 0) this.expects.splice(0, i);
    this.endResult();
    const fields = parseErrorFields(body);
    if (errorField(fields, 'C') === '34000' && this.sentinels.size > 0) {
      const message = errorField(fields, 'M') ?? '';
      for (const [name, replacement] of this.sentinels) {
        if (message.includes(name)) {
          this.sentinels.delete(name);
          this.toClient(replacement);
          // Our refusal, recorded as a deny: no outcome. The backend skips to Sync.
          if (this.tracking) this.skipToSync();
          return;
        }
      }
    }
    const masked = this.maskErrorFrame(frame);
    this.toClient(masked);
    if (this.tracking) this.onFailed(masked === frame ? fields : parseErrorFields(masked.subarray(5)));
  }

  /** Errors and notices echo values (a unique violation's DETAIL): masked like rows. */
  private maskErrorFrame(frame: Buffer): Buffer {
    if (this.masking === null) return frame;
    const head = this.expects[0];
    const statements = head === undefined || head.kind === 'sync' ? this.executing : head.statements;
    const r = this.masking.maskError(frame, statements);
    this.stats.masked += r.masked;
    return r.buf;
  }

  private onParameterStatus(frame: Buffer, body: Buffer): void {
    const { name, value } = parseParameterStatus(body);
    // The proxy reads statement text as UTF-8 with standard-conforming strings, as the
    // classifier's parser does; a session that switches either could hide text from it.
    if (name === 'client_encoding' && value.toUpperCase() !== 'UTF8') {
      this.terminate('terminated', '0A000', 'agentgate: terminating session: client_encoding must stay UTF8');
      return;
    }
    if (name === 'standard_conforming_strings' && value !== 'on') {
      this.terminate('terminated', '0A000', 'agentgate: terminating session: standard_conforming_strings must stay on');
      return;
    }
    this.toClient(frame);
  }

  private onRowDescription(frame: Buffer, body: Buffer): Promise<void> | undefined {
    const head = this.expects[0];
    let statement: SqlStatement | undefined;
    let swallow = false;
    let build = true;
    if (head?.kind === 'describe') {
      this.expects.shift();
      swallow = head.injected;
      // A client's own Describe does not start a result; the injected one before Execute does.
      build = head.injected;
      if (head.injected) this.executing = head.statements;
      statement = head.statements?.find((s) => s.outputColumns !== undefined) ?? head.statements?.[0];
    } else if (head?.kind === 'query') {
      statement = head.lineage(head.rowSets);
      head.rowSets++;
    }
    if (this.masking === null || !build) {
      if (!swallow) this.toClient(frame);
      return undefined;
    }
    const masking = this.masking;
    // Parsed once per distinct RowDescription of the session; its masking plan is cached too (row-masker-plan-cache.ts).
    const layout = masking.rowLayout(body);
    const finish = (lineage: Lineage): void => {
      this.harvestMasked(this.rowMasker);
      this.rowMasker = masking.forRows(layout, lineage, statement);
      if (!swallow) this.toClient(frame);
    };
    const oids = layout.tableOids;
    if (!masking.needsLineage || oids.length === 0 || this.opts.lineage === undefined) {
      if (masking.needsLineage && oids.length > 0) {
        // Column rules but no way to resolve them: fail closed.
        throw new PgProxyError('PG_BACKEND_UNAVAILABLE', 'masking needs column lineage, but no catalog resolver is configured');
      }
      finish(EMPTY_LINEAGE);
      return undefined;
    }
    // Cached lineage (the common case) answers at once: the result goes out in the same write, no pause.
    const known = this.opts.lineage.cached?.(oids);
    if (known !== undefined) {
      finish(known);
      return undefined;
    }
    return this.opts.lineage.resolve(oids).then(finish);
  }

  // ------------------------------------------------------- statement outcomes

  /** The current result is over: keep what its maskers masked (by name) for the statement's outcome. */
  private endResult(): void {
    this.harvestMasked(this.rowMasker);
    this.harvestMasked(this.copyMasker);
    this.rowMasker = null;
    this.copyMasker = null;
  }

  private harvestMasked(m: DataRowMasker | CopyDataMasker | null): void {
    if (m === null || !this.tracking || m.maskedColumns === undefined) return;
    const names = m.maskedColumns();
    if (names.length === 0) return;
    this.maskedNames ??= new Set();
    for (const n of names) this.maskedNames.add(n);
  }

  /** CommandComplete / EmptyQueryResponse / PortalSuspended: one statement (or Execute) is done. */
  private onCompleted(type: number, body: Buffer): void {
    const head = this.pendingOutcomes[0];
    if (head === undefined || (head.kind !== 'query' && head.kind !== 'execute')) return;
    if (head.kind === 'execute') this.pendingOutcomes.shift();
    else head.index++;
    if (type === B.CommandComplete) this.recordOutcome(head, { tag: parseCommandComplete(body) });
    else this.recordOutcome(head, { suspended: type === B.PortalSuspended });
  }

  /** An ErrorResponse from the backend: the running statement failed; in a pipeline, the rest up to Sync is skipped. */
  private onFailed(fields: ErrorFields): void {
    const head = this.pendingOutcomes[0];
    if (head === undefined || head.kind === 'sync') return;
    const error = {
      code: errorField(fields, 'C') ?? 'XX000',
      message: (errorField(fields, 'M') ?? '').slice(0, MAX_RECORDED_ERROR),
    };
    if (head.kind === 'query') {
      head.index++;
      this.recordOutcome(head, { error });
      return;
    }
    this.recordOutcome(head, { error });
    this.skipToSync();
  }

  private skipToSync(): void {
    while (this.pendingOutcomes.length > 0) {
      const k = (this.pendingOutcomes[0] as Pending).kind;
      if (k === 'sync' || k === 'query') break;
      this.pendingOutcomes.shift();
    }
  }

  /** Writes statement.result; rows and masked values are what came since the previous outcome. */
  private recordOutcome(
    p: Exclude<Pending, { kind: 'sync' }>,
    end: { tag?: string; suspended?: boolean; error?: { code: string; message: string } },
  ): void {
    const now = performance.now();
    const rows = this.stats.rows - this.outcomeRows;
    const masked = this.stats.masked - this.outcomeMasked;
    const started = Math.max(p.sent, this.outcomeEndedAt);
    const names = this.maskedNames;
    this.outcomeRows = this.stats.rows;
    this.outcomeMasked = this.stats.masked;
    this.outcomeEndedAt = now;
    this.maskedNames = undefined;
    const events = this.opts.events;
    if (p.ref === undefined || events === undefined) return;
    const tag = end.tag !== undefined ? parseCommandTag(end.tag) : undefined;
    const rowCount = tag?.rows ?? (rows > 0 || end.suspended === true || end.error !== undefined ? rows : undefined);
    // Keys in sorted order (canonical JSON without sorting); undefined ones are left out of the event.
    const data: StatementResultData = {
      command: tag?.command,
      durationMs: Math.round((now - started) * 1000) / 1000,
      error: end.error,
      index: p.kind === 'query' ? p.index - 1 : undefined,
      maskedColumns: names !== undefined ? [...names] : undefined,
      maskedFields: masked,
      ref: 0,
      rows: rowCount,
      suspended: end.suspended === true ? true : undefined,
    };
    const write = (ref: number): void => {
      data.ref = ref;
      if (events.write === undefined) {
        void this.recordSafe(events.record('statement.result', data));
        return;
      }
      try {
        // Nothing acts on an outcome: it may wait for the next write (one system call for both).
        events.write('statement.result', data, { defer: true });
      } catch {
        this.terminate('error', '58030', 'agentgate: terminating session: the session cannot be recorded');
      }
    };
    if (typeof p.ref === 'number') {
      write(p.ref);
      return;
    }
    // A recorder without a synchronous seq: the statement event tells its seq once it is taken.
    p.ref.then((e) => {
      const seq = typeof e === 'object' && e !== null ? (e as { seq?: unknown }).seq : undefined;
      if (typeof seq === 'number') write(seq);
    }, () => undefined);
  }
}
