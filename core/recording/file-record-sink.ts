// A RecordSink that writes transcripts to a directory (standalone mode,
// --record-dir): DIR/<sessionId>.jsonl holds the chained events, stored once
// each however often they are shipped (dedupe by seq, chain checked), and
// DIR/<sessionId>.summary.json mirrors SessionRecord.spec.

import { constants as fsc } from 'node:fs';
import { mkdir, open, rename, stat } from 'node:fs/promises';
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
}

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class FileRecordSink implements RecordSink {
  private readonly states = new Map<string, SinkSession>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private dirReady: Promise<void> | null = null;

  constructor(readonly dir: string) {}

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
    for (const e of [...batch.events].sort((a, b) => a.seq - b.seq)) {
      if (e.sessionId !== sessionId) throw new ChainConflictError(`event ${e.id} belongs to session ${e.sessionId}, not ${sessionId}`);
      if (e.seq <= lastSeq) continue; // already stored: shipping is at-least-once
      if (e.seq !== lastSeq + 1) break; // a gap: acknowledge what is contiguous, the shipper resends
      if (e.prevHash !== lastHash || computeEventHash(e) !== e.hash) {
        throw new ChainConflictError(`session ${sessionId} seq ${e.seq} does not continue the stored chain`);
      }
      lines.push(JSON.stringify(e) + '\n');
      fold(summary, e);
      lastSeq = e.seq;
      lastHash = e.hash;
    }
    if (lines.length > 0) {
      const fh = await open(this.transcriptPath(sessionId), fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
      try {
        await fh.writeFile(lines.join(''), 'utf8');
        await fh.datasync();
      } finally {
        await fh.close();
      }
      summary.transcript.events = lastSeq;
      summary.transcript.lastHash = lastHash;
      await this.writeSummary(summary);
    }
    if (summary.outcome !== null) this.states.delete(sessionId);
    else this.states.set(sessionId, { lastSeq, lastHash, summary });
    return { ackedThrough: lastSeq };
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
