// The tamper-evident chain: hash = SHA-256(canonical JSON of the event without
// `hash`); each event's prevHash is the previous event's hash; the first
// prevHash is SHA-256 of the session id, so a chain cannot be moved to another session.

import { hash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { RecordEvent, UnhashedEvent } from './events.js';

export function sha256Hex(text: string): string {
  // One-shot hash: no Hash object per event.
  return hash('sha256', text, 'hex');
}

export function genesisHash(sessionId: string): string {
  return sha256Hex(sessionId);
}

export function computeEventHash(event: UnhashedEvent | RecordEvent): string {
  const { hash: _hash, ...rest } = event as RecordEvent;
  return sha256Hex(canonicalJson(rest));
}

export type ChainVerification =
  | { ok: true; count: number; lastHash: string | null; lastSeq: number }
  | { ok: false; brokenSeq: number; reason: string };

/**
 * Verify one session's events, in seq order starting at 1 (or at `from` when
 * checking a continuation). Returns the first broken seq: a missing/out-of-order
 * seq, a foreign session id, a prevHash that does not continue, or a hash that
 * does not match the content.
 */
export function verifyChain(
  events: readonly RecordEvent[],
  from?: { seq: number; hash: string },
): ChainVerification {
  if (events.length === 0) {
    return { ok: true, count: 0, lastHash: from?.hash ?? null, lastSeq: from?.seq ?? 0 };
  }
  const sessionId = events[0]?.sessionId ?? '';
  let expectedSeq = (from?.seq ?? 0) + 1;
  let expectedPrev = from?.hash ?? genesisHash(sessionId);
  for (const e of events) {
    if (e.seq !== expectedSeq) {
      return { ok: false, brokenSeq: expectedSeq, reason: `expected seq ${expectedSeq}, found ${e.seq}` };
    }
    if (e.sessionId !== sessionId) {
      return { ok: false, brokenSeq: e.seq, reason: `event belongs to session ${e.sessionId}` };
    }
    if (e.prevHash !== expectedPrev) {
      return { ok: false, brokenSeq: e.seq, reason: 'prevHash does not continue the chain' };
    }
    if (computeEventHash(e) !== e.hash) {
      return { ok: false, brokenSeq: e.seq, reason: 'hash does not match the event content' };
    }
    expectedPrev = e.hash;
    expectedSeq++;
  }
  return { ok: true, count: events.length, lastHash: expectedPrev, lastSeq: expectedSeq - 1 };
}
