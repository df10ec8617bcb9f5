// The sidecar's Prometheus metrics. Labels are low-cardinality facts
// (protocol, connection name, decision) — never statement text, identities or
// anything secret.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PolicyEngine } from '../../core/policy/engine.js';
import type { RecordEvent } from '../../core/recording/events.js';

export interface SidecarMetricsOptions {
  /** Bytes held in the record spool, read at scrape time. */
  spoolBytes?: () => number;
  /** Pending approvals, read at scrape time. */
  pendingApprovals?: () => number;
  /** The policy engine in force, read at scrape time (its decision cache's figures). */
  policyEngine?: () => Pick<PolicyEngine, 'decisionCacheStats'> | undefined;
  defaultMetrics?: boolean;
}

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly sessionsTotal: Counter<'protocol' | 'connection'>;
  readonly sessionsActive: Gauge;
  readonly statementsTotal: Counter<'decision'>;
  readonly maskedFieldsTotal: Counter;
  readonly decisionDuration: Histogram;
  readonly approvalsTotal: Counter<'outcome'>;
  readonly recordErrorsTotal: Counter<'code'>;
  readonly recordShippedEventsTotal: Counter;

  constructor(opts: SidecarMetricsOptions = {}) {
    const registers = [this.registry];
    this.sessionsTotal = new Counter({
      name: 'agentgate_sessions_total',
      help: 'Sessions started, by protocol and connection.',
      labelNames: ['protocol', 'connection'] as const,
      registers,
    });
    this.sessionsActive = new Gauge({ name: 'agentgate_sessions_active', help: 'Sessions open now.', registers });
    this.statementsTotal = new Counter({
      name: 'agentgate_statements_total',
      help: 'Statements, commands and requests decided, by decision (allow, deny, review).',
      labelNames: ['decision'] as const,
      registers,
    });
    this.maskedFieldsTotal = new Counter({
      name: 'agentgate_masked_fields_total',
      help: 'Values masked in responses.',
      registers,
    });
    this.decisionDuration = new Histogram({
      name: 'agentgate_decision_duration_seconds',
      help: 'Time to reach a policy decision for one operation.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
      registers,
    });
    this.approvalsTotal = new Counter({
      name: 'agentgate_approvals_total',
      help: 'Approval requests decided, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.recordErrorsTotal = new Counter({
      name: 'agentgate_record_errors_total',
      help: 'Recording failures, by error code.',
      labelNames: ['code'] as const,
      registers,
    });
    this.recordShippedEventsTotal = new Counter({
      name: 'agentgate_record_shipped_events_total',
      help: 'Recorded events acknowledged by the record sink.',
      registers,
    });
    const spoolBytes = opts.spoolBytes;
    new Gauge({
      name: 'agentgate_record_spool_bytes',
      help: 'Bytes of recorded events waiting in the spool.',
      registers,
      collect() {
        this.set(spoolBytes ? spoolBytes() : 0);
      },
    });
    const pending = opts.pendingApprovals;
    new Gauge({
      name: 'agentgate_approvals_pending',
      help: 'Approval requests waiting for a decision.',
      registers,
      collect() {
        this.set(pending ? pending() : 0);
      },
    });
    const engine = opts.policyEngine;
    new Gauge({
      name: 'agentgate_decision_cache_requests',
      help: 'Policy decisions since the policies in force were compiled, by how the decision cache served them (hit, miss, bypassed: a rule may read text, time or session).',
      labelNames: ['result'] as const,
      registers,
      collect() {
        const st = engine?.()?.decisionCacheStats();
        this.set({ result: 'hit' }, st?.hits ?? 0);
        this.set({ result: 'miss' }, st?.misses ?? 0);
        this.set({ result: 'bypassed' }, st?.bypassed ?? 0);
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'agentgate_sidecar_' });
  }

  // One labelled child per decision, looked up once (not per statement).
  private readonly statementsByDecision = new Map<string, { inc(): void }>();

  /** Derive session/statement/masking metrics from recording events (as they are written to the spool). */
  observeEvent(event: RecordEvent): void {
    switch (event.type) {
      case 'session.start':
        this.sessionsTotal.inc({ protocol: event.data.protocol, connection: event.data.connection });
        this.sessionsActive.inc();
        break;
      case 'session.end':
        this.sessionsActive.dec();
        break;
      case 'statement':
      case 'command':
      case 'request':
        {
          const action = event.data.decision.action;
          let child = this.statementsByDecision.get(action);
          if (child === undefined) {
            child = this.statementsTotal.labels({ decision: action });
            this.statementsByDecision.set(action, child);
          }
          child.inc();
        }
        if (event.data.maskedFields) this.maskedFieldsTotal.inc(event.data.maskedFields);
        break;
      case 'statement.result':
        // A statement's masked values are known when it completes (its `statement` event came before).
        if (event.data.maskedFields > 0) this.maskedFieldsTotal.inc(event.data.maskedFields);
        break;
      default:
        break;
    }
  }
}
