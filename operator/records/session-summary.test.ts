import { describe, expect, it } from '@jest/globals';
import type { EventDataMap, RecordEvent, RecordEventType } from '../../core/recording/events.js';
import { genesisHash } from '../../core/recording/hash-chain.js';
import { buildEvent } from '../../core/recording/session-recorder.js';
import { sessionRecordSpec } from './session-record-writer.js';
import { emptySummary, foldEvent } from './session-summary.js';

const SID = '0193a6f2-7c1e-7000-8000-0000000000aa';
const POD = { namespace: 'team-a', name: 'agent-0', serviceAccount: 'agent' };

function chain(items: Array<[RecordEventType, unknown]>): RecordEvent[] {
  const out: RecordEvent[] = [];
  let prev = genesisHash(SID);
  items.forEach(([type, data], i) => {
    const e = buildEvent(SID, i + 1, prev, Date.UTC(2026, 10, 21, 10, 0, i), type, data as EventDataMap[typeof type]);
    out.push(e);
    prev = e.hash;
  });
  return out;
}

const allow = { action: 'allow' as const, policy: 'team-a/orders', rule: 'reads' };

describe('session summary', () => {
  it('counts statements once (from decisions) and rows and masked values from their outcomes', () => {
    const events = chain([
      ['session.start', { identity: { sub: 'agent', iss: 'kubernetes', groups: [] }, pod: POD, connection: 'orders-db', protocol: 'postgres' }],
      ['statement', { text: 'SELECT ssn FROM customers', decision: allow }],
      ['statement.result', { ref: 2, index: 0, command: 'SELECT', durationMs: 1.5, rows: 3, maskedFields: 6, maskedColumns: ['public.customers.ssn'] }],
      ['statement', { text: 'DROP TABLE customers', decision: { action: 'deny', policy: 'team-a/orders', rule: 'no-ddl' } }],
      ['statement', { text: 'UPDATE orders SET qty = 1', decision: allow }],
      ['statement.result', { ref: 5, index: 0, command: 'UPDATE', durationMs: 0.7, rows: 10, maskedFields: 0 }],
      ['statement.result', { ref: 5, index: 1, durationMs: 0.1, maskedFields: -4, rows: 1.5 }], // not counts: ignored
      ['request', { method: 'GET', host: 'api', path: '/u', decision: allow, maskedFields: 2 }],
      ['session.end', { outcome: 'ok', durationMs: 9 }],
    ]);
    const s = emptySummary(SID, genesisHash(SID));
    for (const e of events) foldEvent(s, e);
    expect(s.counts).toEqual({ statements: 4, denied: 1, masked: 8, approvals: 0, rows: 13 });
    expect(s.events).toBe(9);
    // The SessionRecord carries the counts, rows included.
    expect(sessionRecordSpec(s, 'fs', '/x')?.counts).toEqual({ statements: 4, denied: 1, masked: 8, approvals: 0, rows: 13 });
  });
});
