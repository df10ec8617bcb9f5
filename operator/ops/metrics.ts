// Prometheus metrics of the operator, in a registry of its own (not the
// global one) so tests can build several. Labels carry names and results,
// never values from requests or Secrets.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly admissionDuration: Histogram<'webhook'>;
  readonly injectionsTotal: Counter<'result'>;
  readonly leader: Counter<'event'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'agentgate_operator_' });
    this.reconcileTotal = new Counter({
      name: 'agentgate_reconcile_total', help: 'Reconciles by controller and result (success, requeue, error).',
      labelNames: ['controller', 'result'], registers: [this.registry],
    });
    this.reconcileErrors = new Counter({
      name: 'agentgate_reconcile_errors_total', help: 'Reconciles that failed and were retried with backoff.',
      labelNames: ['controller'], registers: [this.registry],
    });
    this.admissionDuration = new Histogram({
      name: 'agentgate_admission_duration_seconds', help: 'Time to answer an admission review, by webhook.',
      labelNames: ['webhook'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.injectionsTotal = new Counter({
      name: 'agentgate_injections_total', help: 'Pod admissions by outcome (injected, unchanged, skipped, refused, error).',
      labelNames: ['result'], registers: [this.registry],
    });
    this.leader = new Counter({
      name: 'agentgate_leader_transitions_total', help: 'Leadership changes of this replica (started, stopped).',
      labelNames: ['event'], registers: [this.registry],
    });
  }
}
