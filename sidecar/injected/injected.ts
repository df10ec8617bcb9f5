// Injected mode: the sidecar the operator put into an agent pod. Composes the
// operator client (projected token, operator CA), this pod's configuration
// (fetch + long poll; the last good one stays in force while the operator is
// unreachable), the gate (policies compiled once per configuration, cluster
// approvals, per-session credentials), the listeners, recording (spool →
// shipper → operator) and the probe port. A configuration change is applied
// whole: policies recompiled, listeners added or removed, and every live
// session re-checked; a session no longer covered is ended with
// "agentgate: access revoked: …". Shutdown: stop accepting, let sessions end
// within the grace period, release credentials, flush the spool.
import { Gauge, Counter } from 'prom-client';
import { Recorder } from '../../core/recording/session-recorder.js';
import { Shipper } from '../../core/recording/shipper.js';
import { Spool } from '../../core/recording/spool.js';
import { SidecarMetrics } from '../admin/metrics.js';
import { ClusterApprovalService } from '../cluster/cluster-approval-service.js';
import { ClusterConfigSource } from '../cluster/cluster-config-source.js';
import { ClusterCredentials } from '../cluster/cluster-credentials.js';
import { OperatorClient } from '../cluster/operator-client.js';
import { OperatorRecordSink } from '../cluster/operator-record-sink.js';
import type { PodConfig } from '../cluster/api-types.js';
import type { Logger } from '../standalone/logger.js';
import { buildClusterGate } from './cluster-gate.js';
import { compileConfig, type CompiledConfig } from './compiled-config.js';
import { DynamicAuthenticator } from './dynamic-authenticator.js';
import type { InjectedOptions } from './injected-options.js';
import { ListenerSet } from './listener-set.js';
import { startProbeServer } from './probe-server.js';
import { GrantUsage, revocationReason } from './revocation.js';

export interface InjectedHandle {
  adminPort: number;
  /** Resolves once the first configuration is applied and the sidecar is ready. */
  ready(): Promise<void>;
  isReady(): boolean;
  /** Connection name → port of its listener. */
  ports(): Record<string, number>;
  /** Graceful shutdown; safe to call twice. */
  close(reason?: string): Promise<void>;
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startInjected(opts: InjectedOptions, log: Logger): Promise<InjectedHandle> {
  const client = new OperatorClient({ url: opts.operatorUrl, caFile: opts.operatorCaFile, tokenFile: opts.tokenFile });
  const cleanups: Array<() => Promise<void>> = [async () => client.close()];
  const undo = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    // Recording: spool (on the pod's emptyDir, survives a container restart) → shipper → operator.
    const spool = await Spool.open({ dir: opts.spoolDir, maxBytes: opts.spoolMaxBytes });
    cleanups.push(() => spool.close());
    if (spool.quarantined.length > 0) log.warn({ files: spool.quarantined }, 'spool had damaged lines; kept them aside');
    const metrics = new SidecarMetrics({ spoolBytes: () => spool.bytes, policyEngine: () => state?.engine });
    const stale = new Gauge({ name: 'agentgate_config_stale', help: '1 while the operator cannot be reached (the last good configuration is in force).', registers: [metrics.registry] });
    const revoked = new Counter({ name: 'agentgate_sessions_revoked_total', help: 'Live sessions ended because their access was revoked.', registers: [metrics.registry] });
    new Gauge({
      name: 'agentgate_active_grants',
      help: 'Time-bound grants (approved scope: grant requests) in the configuration in force.',
      registers: [metrics.registry],
      collect() {
        this.set(state?.grants.filter((g) => Date.parse(g.expiresAt) > Date.now()).length ?? 0);
      },
    });
    const recorder = new Recorder({
      spool,
      onEvent: (e) => metrics.observeEvent(e),
      onError: (err, sessionId) => {
        metrics.recordErrorsTotal.inc({ code: err.code });
        log.error({ sessionId, code: err.code, err: err.message }, 'recording failed');
      },
    });
    const orphans = await recorder.closeOrphans();
    if (orphans > 0) log.warn({ sessions: orphans }, 'closed sessions left open by a previous run');
    const shipper = new Shipper({
      spool,
      sink: new OperatorRecordSink(client),
      onError: (err, info) => log.warn({ ...info, err: (err as Error).message }, 'shipping recorded events failed; they stay in the spool and will be retried'),
      onShipped: (info) => metrics.recordShippedEventsTotal.inc(info.events),
    });
    shipper.start();
    cleanups.push(() => shipper.stop());

    // The configuration in force. Until the first one arrives nothing is served (and /readyz says so).
    let state: CompiledConfig | undefined;
    const current = (): CompiledConfig => {
      if (state === undefined) throw new Error('no configuration yet');
      return state;
    };
    const source = new ClusterConfigSource({
      client,
      watchTimeoutSeconds: opts.watchTimeoutSeconds,
      onError: (err, info) => {
        stale.set(1);
        log.warn({ ...info, err: (err as Error).message, code: (err as { code?: unknown }).code }, 'cannot reach the operator; the last good configuration stays in force');
      },
    });
    const authenticator = new DynamicAuthenticator({
      jwksFiles: opts.jwksFiles,
      onUnavailable: (issuer, reason) => log.error({ issuer, reason }, 'OIDC issuer unavailable: its tokens are refused until its keys can be fetched'),
    });
    cleanups.push(async () => authenticator.close());
    const grantUsage = new GrantUsage();
    const approvals = new ClusterApprovalService({ client, grants: () => state?.grants ?? [] });
    const gate = buildClusterGate({
      state: current,
      authenticator,
      approvals,
      accessRequest: (name, signal) => client.getAccessRequest(name, undefined, 30, signal),
      recorder,
      metrics,
      grantUsage,
      logger: log,
    });
    const listeners = new ListenerSet({ gate, state: current, credentials: new ClusterCredentials(client), listenHost: opts.listenHost, logger: log });
    cleanups.push(() => listeners.close());

    let applied = false;
    let closing = false;
    const isReady = (): boolean => applied && listeners.ready() && !closing;
    const probe = await startProbeServer({ port: opts.adminPort, host: opts.adminHost, ready: isReady, registry: metrics.registry });
    cleanups.push(() => probe.close());

    const recheck = (why: string): void => {
      if (state === undefined) return;
      const cfg = state;
      const now = Date.now();
      const n = listeners.terminate((s) => revocationReason(s, cfg, grantUsage, now));
      if (n > 0) {
        revoked.inc(n);
        log.warn({ sessions: n, trigger: why }, 'ended sessions whose access was revoked');
      }
    };

    let readyResolve: () => void = () => undefined;
    const readyPromise = new Promise<void>((r) => (readyResolve = r));
    let applying: Promise<void> = Promise.resolve();
    const apply = (cfg: PodConfig): void => {
      applying = applying.then(async () => {
        if (closing) return;
        stale.set(0);
        // The operator names the pod from the token; it must be the pod the kubelet told us we are in.
        const p = cfg.pod;
        if (p.namespace !== opts.pod.namespace || p.name !== opts.pod.name || p.uid !== opts.pod.uid || p.serviceAccount !== opts.pod.serviceAccount) {
          log.error(
            { configured: `${p.namespace}/${p.name} (uid ${p.uid}, service account ${p.serviceAccount})`, self: `${opts.pod.namespace}/${opts.pod.name} (uid ${opts.pod.uid}, service account ${opts.pod.serviceAccount})` },
            'the operator sent the configuration of another pod; ignored (nothing is served until it matches)',
          );
          return;
        }
        const compiled = compileConfig(cfg);
        for (const e of compiled.compileErrors) log.error({ policy: e.policy, field: e.field, rule: e.rule, err: e.message }, 'policy does not compile: it denies everything it applies to');
        const missing = opts.expectedConnections.filter((n) => !compiled.connections.has(n));
        if (missing.length > 0) log.info({ connections: missing }, 'Connections named at admission are no longer in this pod\'s configuration');
        // Revocation first (it is synchronous and cheap); key discovery for new issuers may take a while.
        state = compiled;
        grantUsage.observe(compiled.grants);
        recheck('configuration');
        await listeners.reconcile(compiled);
        await authenticator.update(compiled);
        if (!applied) {
          applied = true;
          log.info(
            { pod: `${compiled.pod.namespace}/${compiled.pod.name}`, listeners: listeners.ports(), policies: compiled.engine.policyKeys, adminPort: probe.port },
            listeners.ready() ? 'agentgate sidecar ready' : 'agentgate sidecar configured, but some listeners could not start',
          );
        } else {
          log.info({ etag: compiled.etag, listeners: listeners.ports(), policies: compiled.engine.policyKeys }, 'configuration changed');
        }
        if (isReady()) readyResolve();
      }).catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'applying the configuration failed'));
    };
    source.on('change', (cfg) => apply(cfg));
    source.start();
    cleanups.push(() => source.stop());

    // Grants expire by the clock, and a listener that could not bind is retried.
    const ticker = setInterval(() => {
      if (closing) return;
      if (state !== undefined && !listeners.ready()) {
        const cfg = state;
        void listeners.reconcile(cfg).then(() => {
          if (isReady()) readyResolve();
        });
      }
      recheck('timer');
    }, opts.recheckIntervalMs);
    ticker.unref();
    cleanups.push(async () => clearInterval(ticker));

    let closingPromise: Promise<void> | undefined;
    const close = (reason = 'shutdown'): Promise<void> => {
      closingPromise ??= (async () => {
        closing = true;
        clearInterval(ticker);
        log.info({ reason, activeSessions: gate.activeSessions() }, 'shutting down: no new connections');
        await source.stop();
        await applying;
        await listeners.stopAccepting();
        if (!(await within(gate.whenIdle(), opts.shutdownGraceMs))) {
          log.warn({ activeSessions: gate.activeSessions(), graceMs: opts.shutdownGraceMs }, 'grace period over; ending the remaining sessions');
        }
        await listeners.close();
        if (!(await within(gate.whenIdle(), 5_000))) log.error({ activeSessions: gate.activeSessions() }, 'sessions did not record their end');
        if (!(await listeners.releasesDone(10_000))) log.warn({}, 'some just-in-time credentials could not be released; they expire on their own');
        await spool.drain();
        if (!(await shipper.flush(10_000))) log.error({ spoolBytes: spool.bytes }, 'not every recorded event was shipped; they stay in the spool for the next start');
        await shipper.stop();
        await spool.close();
        authenticator.close();
        await probe.close();
        client.close();
        log.info({}, 'stopped');
      })();
      return closingPromise;
    };

    return { adminPort: probe.port, ready: () => readyPromise, isReady, ports: () => listeners.ports(), close };
  } catch (err) {
    await undo();
    throw err;
  }
}
