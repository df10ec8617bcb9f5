// Folds a session's events into what its SessionRecord shows. Counts come
// from the events themselves, not from what session.end claims.
import type { RecordEvent, SessionCounts, SessionOutcome, SessionStartData } from '../../core/recording/events.js';

export interface SessionSummary {
  sessionId: string;
  start: { data: SessionStartData; ts: string } | null;
  end: { outcome: SessionOutcome; ts: string; reason?: string } | null;
  counts: SessionCounts;
  events: number;
  lastHash: string;
}

export function emptySummary(sessionId: string, lastHash: string): SessionSummary {
  return { sessionId, start: null, end: null, counts: { statements: 0, denied: 0, masked: 0, approvals: 0, rows: 0 }, events: 0, lastHash };
}

export function foldEvent(s: SessionSummary, e: RecordEvent): void {
  switch (e.type) {
    case 'session.start':
      s.start = { data: e.data, ts: e.ts };
      break;
    case 'session.end':
      s.end = { outcome: e.data.outcome, ts: e.ts, ...(e.data.reason !== undefined ? { reason: e.data.reason } : {}) };
      break;
    case 'statement':
    case 'command':
    case 'request':
      s.counts.statements++;
      if (e.data.decision.action === 'deny') s.counts.denied++;
      s.counts.masked += Math.max(0, Math.floor(e.data.maskedFields ?? 0));
      break;
    case 'statement.result':
      // Statements are counted once, by their decision; the outcome adds what the response held.
      s.counts.masked += countOf(e.data.maskedFields);
      s.counts.rows = (s.counts.rows ?? 0) + countOf(e.data.rows);
      break;
    case 'approval.decided':
      if (e.data.outcome === 'approved') s.counts.approvals++;
      break;
    default:
      break;
  }
  s.events = e.seq;
  s.lastHash = e.hash;
}

/** A count from a (sidecar-supplied) event: a non-negative integer, anything else counts 0. */
function countOf(n: unknown): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0;
}
