// The Gate the protocol listeners use in injected mode. Everything follows the
// configuration in force (`state()`, swapped whole when the operator sends a
// new one): decisions from its compiled engine, masking keys from it. Reviews
// go to the cluster (ClusterApprovalService: an AccessRequest that a person
// decides with kubectl); the approval request and decision are recorded in the
// session, and a session that goes through a time-bound grant is remembered,
// so the grant's end also ends the session.
import { performance } from 'node:perf_hooks';
import type { Recorder } from '../../core/recording/session-recorder.js';
import type { ApprovalOutcome } from '../../core/recording/events.js';
import type { SidecarMetrics } from '../admin/metrics.js';
import { AuthError } from '../gate/auth-errors.js';
import type { ApprovalService, Authenticator, ConnectionFacts, Gate, Identity, SessionSettings } from '../gate/gate.js';
import { LiveSessions, sessionSettingsOf } from '../gate/live-sessions.js';
import type { AccessRequestView } from '../cluster/api-types.js';
import type { Logger } from '../standalone/logger.js';
import type { CompiledConfig } from './compiled-config.js';
import { matchingGrant, type GrantUsage } from './revocation.js';

export interface ClusterGateOptions {
  state: () => CompiledConfig;
  authenticator: Authenticator;
  approvals: ApprovalService;
  /** Reads a decided request (who decided, its scope), best effort. */
  accessRequest: (name: string, signal: AbortSignal) => Promise<AccessRequestView>;
  recorder: Recorder;
  metrics: SidecarMetrics;
  grantUsage: GrantUsage;
  logger: Logger;
}

export interface ClusterGate extends Gate {
  activeSessions(): number;
  whenIdle(): Promise<void>;
}

function timeoutMsOf(approval: unknown): number | undefined {
  const t = typeof approval === 'object' && approval !== null ? (approval as { timeoutMs?: unknown }).timeoutMs : undefined;
  return typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : undefined;
}

export function buildClusterGate(o: ClusterGateOptions): ClusterGate {
  const live = new LiveSessions((sessionId) => o.grantUsage.forget(sessionId));
  // One combined identity per (identity, pod) object pair, so the engine's per-identity caches hit.
  const combined = new WeakMap<Identity, { pod: Identity['pod']; identity: Identity }>();
  const withPod = (identity: Identity): Identity => {
    const pod = o.state().pod;
    const hit = combined.get(identity);
    if (hit !== undefined && hit.pod === pod) return hit.identity;
    const merged = { ...identity, pod };
    combined.set(identity, { pod, identity: merged });
    return merged;
  };

  return {
    authenticator: {
      async authenticate(req) {
        const identity = await o.authenticator.authenticate(req);
        // Who no policy covers on this connection gets no session (and no credential is minted for it).
        if (o.state().engine.applicable(withPod(identity), req.connection).length === 0) {
          throw new AuthError('AUTH_INVALID', `no AccessPolicy lets ${identity.sub} use connection ${req.connection}`);
        }
        return identity;
      },
    },
    policy: {
      decide(activation) {
        const t0 = performance.now();
        const d = o.state().engine.decide({ ...activation, identity: withPod(activation.identity) });
        o.metrics.decisionDuration.observe((performance.now() - t0) / 1000);
        return d;
      },
    },
    approvals: {
      async request(req, opts): Promise<ApprovalOutcome> {
        const { policy, rule } = req.decision;
        if (policy !== undefined && rule !== undefined) {
          const g = matchingGrant(o.state().grants, { policy, rule, connection: req.connection, identity: req.identity }, Date.now());
          if (g !== undefined) o.grantUsage.use(req.sessionId, g);
        }
        let name: string | undefined;
        const timeoutMs = timeoutMsOf(req.decision.approval) ?? 10 * 60_000;
        const outcome = await o.approvals.request(req, {
          signal: opts.signal,
          onPending: (id) => {
            name = id;
            live.recordQuietly(req.sessionId, (rec) =>
              rec.record('approval.requested', {
                approvalId: id,
                policy: policy ?? '',
                rule: rule ?? '',
                operation: req.operation,
                expiresAt: new Date(Date.now() + timeoutMs).toISOString(),
              }),
            );
            o.logger.info({ session: req.sessionId, accessRequest: id, policy, rule, connection: req.connection }, `statement waits for AccessRequest ${id}`);
            opts.onPending(id);
          },
        });
        o.metrics.approvalsTotal.inc({ outcome });
        if (name !== undefined) {
          const approvalId = name;
          let view: AccessRequestView | undefined;
          if (outcome !== 'expired') {
            view = await o.accessRequest(approvalId, AbortSignal.timeout(3_000)).catch(() => undefined);
          }
          if (outcome === 'approved' && view?.scope === 'grant') o.grantUsage.use(req.sessionId, approvalId);
          live.recordQuietly(req.sessionId, (rec) =>
            rec.record('approval.decided', { approvalId, outcome, approver: view?.decidedBy, reason: view?.reason }),
          );
          o.logger.info({ session: req.sessionId, accessRequest: approvalId, outcome, decidedBy: view?.decidedBy }, `AccessRequest ${approvalId} ${outcome}`);
        }
        return outcome;
      },
    },
    events: {
      async startSession(data, opts) {
        return live.track(await o.recorder.startSession(data, opts));
      },
    },
    settings: {
      sessionSettings(identity: Identity, connection: ConnectionFacts): SessionSettings {
        const cfg = o.state();
        const s = cfg.engine.settings(withPod(identity), connection.name);
        let hashKey: Buffer | undefined;
        if (s.masking.hashKeySecretRef !== undefined) {
          hashKey = cfg.maskingKeys.get(s.masking.hashKeySecretRef.policy);
          // Keyed-hash masking without its key must not quietly mean "no masking".
          if (hashKey === undefined) throw new Error(`no masking hash key for policy ${s.masking.hashKeySecretRef.policy}`);
        }
        return sessionSettingsOf(s, hashKey);
      },
    },
    activeSessions: () => live.count,
    whenIdle: () => live.whenIdle(),
  };
}
