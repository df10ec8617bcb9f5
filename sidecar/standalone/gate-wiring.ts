// The Gate the protocol listeners use in standalone mode: the compiled policy
// engine (timed for metrics), local approvals, recording through the spool,
// and per-session settings merged from the applicable policies.

import { performance } from 'node:perf_hooks';
import type { PolicyEngine } from '../../core/policy/engine.js';
import type { Recorder } from '../../core/recording/session-recorder.js';
import type { SidecarMetrics } from '../admin/metrics.js';
import { localApprovalService } from '../approvals/approval-service.js';
import type { DecidedApproval, LocalApprovals } from '../approvals/local-approvals.js';
import type { Authenticator, ConnectionFacts, Gate, Identity, SessionSettings } from '../gate/gate.js';
import { LiveSessions, sessionSettingsOf } from '../gate/live-sessions.js';
import type { Logger } from './logger.js';

export interface GateWiringOptions {
  engine: PolicyEngine;
  authenticator: Authenticator;
  approvals: LocalApprovals;
  recorder: Recorder;
  metrics: SidecarMetrics;
  logger: Logger;
  /** Secret lookup for masking.hashKeySecretRef. */
  secretValue: (namespace: string, name: string, key: string) => Buffer | undefined;
}

export interface StandaloneGate extends Gate {
  /** Record an approval decision in the requesting session (wired to LocalApprovals' onDecided). */
  recordApprovalDecision(d: DecidedApproval): void;
  /** Sessions whose recording started and has not ended. */
  activeSessions(): number;
  /** Resolves when no session is active (or at once). */
  whenIdle(): Promise<void>;
}

export function buildGate(opts: GateWiringOptions): StandaloneGate {
  const approvalService = localApprovalService(opts.approvals);
  // Live recordings by session id, so approval events land in the session that asked.
  const live = new LiveSessions();

  return {
    authenticator: opts.authenticator,
    policy: {
      decide(activation) {
        const t0 = performance.now();
        const d = opts.engine.decide(activation);
        opts.metrics.decisionDuration.observe((performance.now() - t0) / 1000);
        return d;
      },
    },
    approvals: {
      request(req, o) {
        return approvalService.request(req, {
          signal: o.signal,
          onPending: (id) => {
            const pending = opts.approvals.get(id);
            live.recordQuietly(req.sessionId, (rec) =>
              rec.record('approval.requested', {
                approvalId: id,
                policy: req.decision.policy ?? '',
                rule: req.decision.rule ?? '',
                operation: req.operation,
                expiresAt: pending?.expiresAt ?? new Date().toISOString(),
              }),
            );
            o.onPending(id);
          },
        });
      },
    },
    recordApprovalDecision(d) {
      if (d.sessionId === null) return;
      live.recordQuietly(d.sessionId, (rec) =>
        rec.record('approval.decided', {
          approvalId: d.id,
          outcome: d.outcome === 'withdrawn' ? 'denied' : d.outcome,
          approver: d.decidedBy ?? undefined,
          reason: d.reason,
        }),
      );
    },
    events: {
      async startSession(data, o) {
        return live.track(await opts.recorder.startSession(data, o));
      },
    },
    settings: {
      sessionSettings(identity: Identity, connection: ConnectionFacts): SessionSettings {
        const s = opts.engine.settings(identity, connection.name);
        const ref = s.masking.hashKeySecretRef;
        const hashKey = ref ? opts.secretValue(ref.policy.split('/')[0] ?? '', ref.name, ref.key ?? '') : undefined;
        return sessionSettingsOf(s, hashKey);
      },
    },
    activeSessions: () => live.count,
    whenIdle: () => live.whenIdle(),
  };
}
