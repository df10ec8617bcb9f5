// Standalone mode: one process, no cluster. Loads the config file, starts the
// admin server and one listener per Connection, records to a spool shipped to
// --record-dir, holds reviews in memory until someone approves or denies.
// Shutdown: stop accepting, refuse pending approvals, let sessions end within
// the grace period, then flush the spool.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { FileRecordSink } from '../../core/recording/file-record-sink.js';
import { Recorder } from '../../core/recording/session-recorder.js';
import { Shipper } from '../../core/recording/shipper.js';
import { Spool } from '../../core/recording/spool.js';
import { loadOrCreateAdminToken } from '../admin/admin-token.js';
import { SidecarMetrics } from '../admin/metrics.js';
import { startAdminServer, type AdminServer } from '../admin/server.js';
import { LocalApprovals } from '../approvals/local-approvals.js';
import { loadStandaloneConfig } from '../config/standalone-config.js';
import { createTokenAuthenticator } from '../gate/token-authenticator.js';
import { buildGate, type StandaloneGate } from './gate-wiring.js';
import { checkSupported, startListeners, type ListenerHandle, type ListenerStarters } from './listeners.js';
import type { Logger } from './logger.js';
import { issuersFromPolicies, policiesAllowPodIdentity, resolveIssuers } from './oidc-issuers.js';
import { parseIdentity, parsePodLabels } from './pod-identity.js';

export interface StandaloneOptions {
  configPath: string;
  /** NAMESPACE/SERVICEACCOUNT (default default/default). */
  identity?: string | undefined;
  podLabels?: string | undefined;
  recordDir?: string | undefined;
  stateDir?: string | undefined;
  adminPort: number;
  adminTokenFile?: string | undefined;
  jwksFiles?: readonly string[] | undefined;
  shutdownGraceMs?: number | undefined;
  /** How clients authenticate: 'password' (a token), 'pod' (no credential) or 'auto' (password when a policy names an OIDC subject). */
  clientAuth?: 'password' | 'pod' | 'auto' | undefined;
  /** Upper bound of the record spool. */
  spoolMaxBytes?: number | undefined;
  logger: Logger;
  starters: ListenerStarters;
}

export interface StandaloneHandle {
  adminPort: number;
  adminTokenFile: string;
  recordDir: string;
  listeners: ReadonlyMap<string, ListenerHandle>;
  /** Graceful shutdown; safe to call twice. */
  close(reason?: string): Promise<void>;
}

async function waitIdle(gate: StandaloneGate, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([gate.whenIdle().then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function defaultStateDir(recordDir: string | undefined): string {
  if (recordDir !== undefined) return resolve(recordDir);
  const base = process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'agentgate-sidecar');
}

export async function startStandalone(opts: StandaloneOptions): Promise<StandaloneHandle> {
  const log = opts.logger;
  const pod = parseIdentity(opts.identity, parsePodLabels(opts.podLabels));
  const config = await loadStandaloneConfig(opts.configPath, {
    defaultNamespace: pod.namespace,
    reservedPorts: opts.adminPort > 0 ? [{ port: opts.adminPort, what: 'the admin server (--admin-port)' }] : [],
  });
  for (const w of config.warnings) log.warn({ config: config.file }, w);
  checkSupported(config.connections, opts.starters);

  const stateDir = opts.stateDir !== undefined ? resolve(opts.stateDir) : defaultStateDir(opts.recordDir);
  const recordDir = opts.recordDir !== undefined ? resolve(opts.recordDir) : join(stateDir, 'records');
  const adminTokenFile = opts.adminTokenFile !== undefined ? resolve(opts.adminTokenFile) : join(stateDir, 'admin.token');
  const { token, created, looseMode } = await loadOrCreateAdminToken(adminTokenFile);
  if (created) log.info({ adminTokenFile }, 'created admin token file (mode 0600)');
  if (looseMode) log.warn({ adminTokenFile }, 'admin token file is readable by group or others; restrict it to mode 0600');

  const cleanups: Array<() => Promise<void>> = [];
  const undo = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    // Recording: spool → shipper → transcript files.
    const spool = await Spool.open({ dir: join(stateDir, 'spool'), maxBytes: opts.spoolMaxBytes });
    cleanups.push(() => spool.close());
    if (spool.quarantined.length > 0) log.warn({ files: spool.quarantined }, 'spool had damaged lines; kept them aside');
    const metrics = new SidecarMetrics({
      spoolBytes: () => spool.bytes,
      pendingApprovals: () => approvals.list().length,
      policyEngine: () => config.engine,
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
    const sink = new FileRecordSink(recordDir);
    const shipper = new Shipper({
      spool,
      sink,
      onError: (err, info) => log.warn({ ...info, err: (err as Error).message }, 'shipping recorded events failed; will retry'),
      onShipped: (info) => metrics.recordShippedEventsTotal.inc(info.events),
    });
    shipper.start();
    cleanups.push(async () => {
      await shipper.flush(10_000);
      await shipper.stop();
      await sink.close();
    });

    // The gate needs the approvals and the approvals report to the gate: bind late.
    const late: { gate?: StandaloneGate } = {};
    const approvals = new LocalApprovals({
      onDecided: (d) => {
        late.gate?.recordApprovalDecision(d);
        metrics.approvalsTotal.inc({ outcome: d.outcome });
        log.info(
          { approval: d.id, outcome: d.outcome, decidedBy: d.decidedBy, reason: d.reason, policy: d.policy, rule: d.rule, connection: d.connection },
          `approval ${d.id} ${d.outcome}`,
        );
      },
    });
    cleanups.push(async () => approvals.close());

    // Identity: tokens from the policies' OIDC issuers, or the pod's service account.
    const needs = issuersFromPolicies(config.policies);
    const { issuers, unavailable } = await resolveIssuers(needs, opts.jwksFiles ?? []);
    for (const u of unavailable) log.error({ issuer: u.issuer, reason: u.reason }, 'OIDC issuer unavailable: its tokens will be refused');
    const authenticator = createTokenAuthenticator({ issuers, pod, allowPodIdentity: policiesAllowPodIdentity(config.policies) });

    const gate = buildGate({ engine: config.engine, authenticator, approvals, recorder, metrics, logger: log, secretValue: config.secretValue });
    late.gate = gate;
    const clientAuth = opts.clientAuth === 'password' || opts.clientAuth === 'pod' ? opts.clientAuth : needs.length > 0 ? 'password' : 'pod';

    let ready = false;
    const admin: AdminServer = await startAdminServer({
      port: opts.adminPort,
      token,
      approvals,
      metrics,
      ready: () => ready,
      logger: log,
    });
    cleanups.push(() => admin.close());

    const listeners = await startListeners(config.connections, gate, opts.starters, { logger: log, clientAuth });
    cleanups.push(async () => {
      await Promise.allSettled([...listeners.values()].map((l) => l.close()));
    });
    ready = true;
    log.info(
      {
        identity: `${pod.namespace}/${pod.serviceAccount}`,
        adminPort: admin.port,
        recordDir,
        listeners: Object.fromEntries([...listeners].map(([name, l]) => [name, l.port])),
        clientAuth,
        issuers: issuers.map((i) => i.issuer),
      },
      'agentgate sidecar ready',
    );

    let closing: Promise<void> | null = null;
    const close = (reason = 'shutdown'): Promise<void> => {
      closing ??= (async () => {
        ready = false;
        log.info({ reason, activeSessions: gate.activeSessions() }, 'shutting down: no new connections');
        const grace = opts.shutdownGraceMs ?? 30_000;
        const all = [...listeners.values()];
        // Stop accepting where the listener can do that alone; pending reviews are
        // refused so held sessions can finish; then give sessions the grace period.
        await Promise.allSettled(all.map((l) => l.stopAccepting?.()));
        approvals.close();
        const idle = await waitIdle(gate, grace);
        if (!idle) log.warn({ activeSessions: gate.activeSessions(), graceMs: grace }, 'grace period over; ending the remaining sessions');
        await Promise.allSettled(all.map((l) => l.close()));
        // Sessions cut off above record their session.end asynchronously.
        if (!(await waitIdle(gate, 5_000))) log.error({ activeSessions: gate.activeSessions() }, 'sessions did not record their end');
        await spool.drain();
        const flushed = await shipper.flush(10_000);
        if (!flushed) log.error({ spoolBytes: spool.bytes }, 'not every recorded event was shipped; they stay in the spool for the next start');
        await shipper.stop();
        await sink.close();
        await spool.close();
        await admin.close();
        log.info({}, 'stopped');
      })();
      return closing;
    };
    return { adminPort: admin.port, adminTokenFile, recordDir, listeners, close };
  } catch (err) {
    await undo();
    throw err;
  }
}
