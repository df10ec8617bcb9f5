// A RecordSink that writes transcripts to a directory (standalone mode,
// --record-dir): DIR/<sessionId>.jsonl holds the chained events, stored once
// each however often they are shipped (dedupe by seq, chain checked), and
// DIR/<sessionId>.summary.json mirrors SessionRecord.spec. The transcript is
// appended and fdatasynced once per batch through one descriptor per open
// session; the summary is derived state (a restart rebuilds it from the
// transcript), so it is rewritten at most every `summaryIntervalMs`, at once
// for a session's first batch and at its end, and by close().

import { constants as fsc } from 'node:fs';
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ChainConflictError, RecordingError } from './errors.js';
import type { Protocol, RecordEvent, SessionCounts, SessionOutcome, SessionStartData } from './events.js';
import { isRecordEvent } from './events.js';
import { computeEventHash, genesisHash } from './hash-chain.js';
import { readLines } from './line-reader.js';
import type { RecordSink, ShipBatch } from './shipper.js';
import { isErrno } from './spool.js';

export interface SessionSummary {
  sessionId: string;
  identity: SessionStartData['identity'] | null;
  pod: SessionStartData['pod'] | null;
  connection: string | null;
  protocol: Protocol | null;
  startedAt: string | null;
  endedAt: string | null;
  counts: SessionCounts;
  /** null while the session is still open. */
  outcome: SessionOutcome | null;
  reason?: string;
  transcript: { store: 'file'; path: string; events: number; lastHash: string };
}

interface SinkSession {
  lastSeq: number;
  lastHash: string;
  summary: SessionSummary;
  fd?: FileHandle | undefined;
  /** When this sink last wrote the summary (0 = not yet). */
  summaryAt?: number;
  /** The summary on disk is behind; a timer will write it. */
  summaryTimer?: NodeJS.Timeout | undefined;
}

export interface FileRecordSinkOptions {
  /** Least time between two summary rewrites of an open session. Default 1000 ms. */
  summaryIntervalMs?: number;
}

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class FileRecordSink implements RecordSink {
  private readonly states = new Map<string, SinkSession>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private dirReady: Promise<void> | null = null;
  private readonly summaryIntervalMs: number;

  constructor(
    readonly dir: string,
    opts: FileRecordSinkOptions = {},
  ) {
    this.summaryIntervalMs = opts.summaryIntervalMs ?? 1000;
  }

  /** Write every lagging summary and close the open transcripts. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
    for (const [id, st] of this.states) {
      if (st.summaryTimer) {
        clearTimeout(st.summaryTimer);
        st.summaryTimer = undefined;
        await this.writeSummary(st.summary);
      }
      await st.fd?.close().catch(() => undefined);
      this.states.delete(id);
    }
  }

  transcriptPath(sessionId: string): string {
    return join(this.dir, `${sessionId}.jsonl`);
  }

  summaryPath(sessionId: string): string {
    return join(this.dir, `${sessionId}.summary.json`);
  }

  ship(batch: ShipBatch): Promise<{ ackedThrough: number }> {
    // One batch at a time per session: appends and the summary stay in step.
    const prev = this.locks.get(batch.sessionId) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.shipLocked(batch));
    this.locks.set(batch.sessionId, next);
    void next.finally(() => {
      if (this.locks.get(batch.sessionId) === next) this.locks.delete(batch.sessionId);
    }).catch(() => undefined);
    return next;
  }

  private async shipLocked(batch: ShipBatch): Promise<{ ackedThrough: number }> {
    const { sessionId } = batch;
    if (!SESSION_ID.test(sessionId)) {
      throw new RecordingError('RECORD_BAD_SESSION_ID', `session id ${JSON.stringify(sessionId)} is not a safe file name`);
    }
    this.dirReady ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
    await this.dirReady;
    const state = this.states.get(sessionId) ?? (await this.load(sessionId));
    const lines: string[] = [];
    let lastSeq = state.lastSeq;
    let lastHash = state.lastHash;
    const summary = structuredClone(state.summary);
    // Stored lines come from this process's spool, which hashed those very events: the
    // chain's links are checked, the hashes not recomputed. Events alone are checked in full.
    const stored = batch.lines !== undefined && batch.lines.length === batch.events.length ? batch.lines : undefined;
    const events = stored !== undefined ? batch.events : [...batch.events].sort((a, b) => a.seq - b.seq);
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as RecordEvent;
      if (e.sessionId !== sessionId) throw new ChainConflictError(`event ${e.id} belongs to session ${e.sessionId}, not ${sessionId}`);
      if (e.seq <= lastSeq) continue; // already stored: shipping is at-least-once
      if (e.seq !== lastSeq + 1) break; // a gap: acknowledge what is contiguous, the shipper resends
      if (e.prevHash !== lastHash || (stored === undefined && computeEventHash(e) !== e.hash)) {
        throw new ChainConflictError(`session ${sessionId} seq ${e.seq} does not continue the stored chain`);
      }
      lines.push(stored !== undefined ? `${stored[i] as string}\n` : JSON.stringify(e) + '\n');
      fold(summary, e);
      lastSeq = e.seq;
      lastHash = e.hash;
    }
    const ended = summary.outcome !== null;
    const next: SinkSession = { ...state, lastSeq, lastHash, summary };
    if (lines.length > 0) {
      try {
        next.fd ??= await open(this.transcriptPath(sessionId), fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
        await next.fd.writeFile(lines.join(''), 'utf8');
        await next.fd.datasync();
      } catch (err) {
        // Reopen next time; the stored position stays what it was (reload from the transcript).
        await next.fd?.close().catch(() => undefined);
        if (state.summaryTimer) clearTimeout(state.summaryTimer);
        this.states.delete(sessionId);
        throw err;
      }
      summary.transcript.events = lastSeq;
      summary.transcript.lastHash = lastHash;
      const now = Date.now();
      if (ended || next.summaryAt === undefined || now - next.summaryAt >= this.summaryIntervalMs) {
        if (next.summaryTimer) clearTimeout(next.summaryTimer);
        next.summaryTimer = undefined;
        next.summaryAt = now;
        await this.writeSummary(summary);
      } else {
        next.summaryTimer ??= this.lagTimer(sessionId, next.summaryAt + this.summaryIntervalMs - now);
      }
    }
    if (ended) {
      this.states.delete(sessionId);
      await next.fd?.close().catch(() => undefined);
    } else this.states.set(sessionId, next);
    return { ackedThrough: lastSeq };
  }

  /** Writes a lagging summary later, under the session's lock. */
  private lagTimer(sessionId: string, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      const prev = this.locks.get(sessionId) ?? Promise.resolve();
      const run = prev
        .catch(() => undefined)
        .then(async () => {
          const st = this.states.get(sessionId);
          if (!st || st.summaryTimer !== t) return;
          st.summaryTimer = undefined;
          st.summaryAt = Date.now();
          await this.writeSummary(st.summary);
        })
        .catch(() => undefined); // the next batch or close() writes it again
      this.locks.set(sessionId, run);
      void run.finally(() => {
        if (this.locks.get(sessionId) === run) this.locks.delete(sessionId);
      });
    }, Math.max(0, ms));
    // A lagging summary must not keep the process alive; session end and close() write it.
    t.unref();
    return t;
  }

  /** The stored summary of a session, or null when there is none. */
  async readSummary(sessionId: string): Promise<SessionSummary | null> {
    try {
      const fh = await open(this.summaryPath(sessionId), 'r');
      try {
        return JSON.parse(await fh.readFile('utf8')) as SessionSummary;
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  }

  /** Rebuild a session's state from its transcript (after a restart the transcript, not the summary, is the truth). */
  private async load(sessionId: string): Promise<SinkSession> {
    const path = this.transcriptPath(sessionId);
    const summary = emptySummary(sessionId, path);
    let lastSeq = 0;
    let lastHash = genesisHash(sessionId);
    let goodEnd = 0;
    let size = 0;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      return { lastSeq, lastHash, summary };
    }
    for await (const { line, end } of readLines(path)) {
      let e: unknown;
      try {
        e = JSON.parse(line.toString('utf8'));
      } catch {
        break;
      }
      if (!isRecordEvent(e) || e.seq !== lastSeq + 1 || e.prevHash !== lastHash || computeEventHash(e) !== e.hash) break;
      fold(summary, e);
      lastSeq = e.seq;
      lastHash = e.hash;
      goodEnd = end;
    }
    if (goodEnd < size) {
      // Only an interrupted append leaves bytes past the last good event.
      const fh = await open(path, 'r+');
      try {
        await fh.truncate(goodEnd);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    summary.transcript.events = lastSeq;
    summary.transcript.lastHash = lastHash;
    return { lastSeq, lastHash, summary };
  }

  private async writeSummary(summary: SessionSummary): Promise<void> {
    const path = this.summaryPath(summary.sessionId);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(summary, null, 2) + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }
}

function emptySummary(sessionId: string, path: string): SessionSummary {
  return {
    sessionId,
    identity: null,
    pod: null,
    connection: null,
    protocol: null,
    startedAt: null,
    endedAt: null,
    counts: { statements: 0, denied: 0, masked: 0, approvals: 0, rows: 0 },
    outcome: null,
    transcript: { store: 'file', path, events: 0, lastHash: genesisHash(sessionId) },
  };
}

/** Fold one event into the summary; counts come from the events, not from session.end's claim. */
function fold(s: SessionSummary, e: RecordEvent): void {
  switch (e.type) {
    case 'session.start':
      s.identity = e.data.identity;
      s.pod = e.data.pod ?? null;
      s.connection = e.data.connection;
      s.protocol = e.data.protocol;
      s.startedAt = e.ts;
      break;
    case 'session.end':
      s.endedAt = e.ts;
      s.outcome = e.data.outcome;
      if (e.data.reason !== undefined) s.reason = e.data.reason;
      break;
    case 'statement':
    case 'command':
    case 'request':
      s.counts.statements++;
      if (e.data.decision.action === 'deny') s.counts.denied++;
      s.counts.masked += e.data.maskedFields ?? 0;
      break;
    case 'statement.result':
      // Statements are counted once, by their decision; the outcome adds what the response held.
      s.counts.masked += countOf(e.data.maskedFields);
      s.counts.rows = (s.counts.rows ?? 0) + countOf(e.data.rows);
      break;
    case 'approval.requested':
      s.counts.approvals++;
      break;
    default:
      break;
  }
}

/** A count from an event: a non-negative integer, anything else (a hand-edited transcript) is 0. */
function countOf(n: unknown): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0;
}
