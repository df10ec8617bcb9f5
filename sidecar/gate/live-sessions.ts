// What every mode's gate keeps about live sessions: their recordings by id (so
// approval events land in the session that asked), how many are active, and
// a wait for the moment none is (graceful shutdown). Plus the one mapping from
// the engine's merged policy settings to a session's settings.
import type { PolicyEngine } from '../../core/policy/engine.js';
import type { SessionRecording } from '../../core/recording/session-recorder.js';
import type { SessionEvents, SessionSettings } from './gate.js';

type MergedSettings = ReturnType<PolicyEngine['settings']>;

export class LiveSessions {
  private active = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly recordings = new Map<string, SessionRecording>();

  /** `onEnd` runs once per session, after its recording ended. */
  constructor(private readonly onEnd: (sessionId: string) => void = () => undefined) {}

  /** Registers a started recording and returns the session's event sink. */
  track(rec: SessionRecording): SessionEvents {
    let ended = false;
    this.active++;
    this.recordings.set(rec.sessionId, rec);
    return {
      sessionId: rec.sessionId,
      get lastSeq() {
        return rec.lastSeq;
      },
      record: (type, data) => rec.record(type, data),
      write: (type, data, opts) => rec.write(type, data, opts),
      onFailure: (listener) => rec.onFailure(listener),
      end: async (outcome, reason) => {
        try {
          await rec.end(outcome, reason);
        } finally {
          if (!ended) {
            ended = true;
            this.done(rec.sessionId);
          }
        }
      },
    };
  }

  /** Records into a live session, if it still is; a failure is already reported by the recorder. */
  recordQuietly(sessionId: string, fn: (rec: SessionRecording) => Promise<unknown>): void {
    const rec = this.recordings.get(sessionId);
    if (rec === undefined || rec.isEnded) return;
    fn(rec).catch(() => undefined);
  }

  get count(): number {
    return this.active;
  }

  /** Resolves when no session is active (or at once). */
  whenIdle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private done(sessionId: string): void {
    this.recordings.delete(sessionId);
    this.onEnd(sessionId);
    this.active = Math.max(0, this.active - 1);
    if (this.active === 0) {
      const ws = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of ws) w();
    }
  }
}

/** A session's settings from the applicable policies' merged settings and the hash key, if any. */
export function sessionSettingsOf(s: MergedSettings, hashKey: Buffer | undefined): SessionSettings {
  const m = s.masking;
  const hasMasking = m.columns.length + m.jsonFields.length + m.detectors.length > 0;
  return {
    masking: hasMasking ? m : undefined,
    hashKey,
    maxDurationMs: s.session.maxDurationMs,
    idleTimeoutMs: s.session.idleTimeoutMs,
    recording: s.session.recording,
    strictRecording: s.session.strictRecording,
    policies: s.policies.map((p) => p.key),
  };
}
