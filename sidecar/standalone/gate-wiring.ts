// The Gate the protocol listeners use in standalone mode: the compiled policy
// engine (timed for metrics), local approvals, recording through the spool,
// and per-session settings merged from the applicable policies.

import { performance } from 'node:perf_hooks';
import type { PolicyEngine } from '../../core/policy/engine.js';
import type { Recorder, SessionRecording } from '../../core/recording/session-recorder.js';
import type { SidecarMetrics } from '../admin/metrics.js';
import { localApprovalService } from '../approvals/approval-service.js';
import type { DecidedApproval, LocalApprovals } from '../approvals/local-approvals.js';
import type { Authenticator, ConnectionFacts, Gate, Identity, SessionEvents, SessionSettings } from '../gate/gate.js';
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
  let active = 0;
  let idleWaiters: Array<() => void> = [];
  const sessionDone = (): void => {
    active = Math.max(0, active - 1);
    if (active === 0) {
      const ws = idleWaiters;
      idleWaiters = [];
      for (const w of ws) w();
    }
  };

  // Live recordings by session id, so approval events land in the session that asked.
  const recordings = new Map<string, SessionRecording>();
  const recordQuietly = (sessionId: string, fn: (rec: SessionRecording) => Promise<unknown>): void => {
    const rec = recordings.get(sessionId);
    if (!rec || rec.isEnded) return;
    // A failure here is already reported by the recorder; the statement's own record decides the session's fate.
    fn(rec).catch(() => undefined);
  };

  const wrap = (rec: SessionRecording): SessionEvents => {
    let ended = false;
    recordings.set(rec.sessionId, rec);
    return {
      sessionId: rec.sessionId,
      get lastSeq() {
        return rec.lastSeq;
      },
      record: (type, data) => rec.record(type, data),
      end: async (outcome, reason) => {
        try {
          await rec.end(outcome, reason);
        } finally {
          if (!ended) {
            ended = true;
            recordings.delete(rec.sessionId);
            sessionDone();
          }
        }
      },
    };
  };

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
            recordQuietly(req.sessionId, (rec) =>
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
      recordQuietly(d.sessionId, (rec) =>
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
        const rec = await opts.recorder.startSession(data, o);
        active++;
        return wrap(rec);
      },
    },
    settings: {
      sessionSettings(identity: Identity, connection: ConnectionFacts): SessionSettings {
        const s = opts.engine.settings(identity, connection.name);
        const m = s.masking;
        const hasMasking = m.columns.length + m.jsonFields.length + m.detectors.length > 0;
        let hashKey: Buffer | undefined;
        if (m.hashKeySecretRef) {
          const ns = m.hashKeySecretRef.policy.split('/')[0] ?? '';
          hashKey = opts.secretValue(ns, m.hashKeySecretRef.name, m.hashKeySecretRef.key ?? '');
        }
        return {
          masking: hasMasking ? m : undefined,
          hashKey,
          maxDurationMs: s.session.maxDurationMs,
          idleTimeoutMs: s.session.idleTimeoutMs,
          recording: s.session.recording,
          strictRecording: s.session.strictRecording,
          policies: s.policies.map((p) => p.key),
        };
      },
    },
    activeSessions: () => active,
    whenIdle: () => (active === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
  };
}
