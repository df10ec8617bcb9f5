// The composition root: builds every part from the options and runs them in
// order (health → caches → control-plane services (sidecar API, AccessRequest
// admission) → certificate + HTTPS server → leader election → controllers and
// the just-in-time role sweeper), and stops them in reverse.
import { constants as fsc } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AccessPolicy, Connection } from '../core/resources/generated.js';
import type { OperatorOptions } from './config/flags.js';
import type { Informer } from './kube/informer.js';
import { KubeClient } from './kube/kube-client.js';
import { KubeEventRecorder } from './kube/event-recorder.js';
import { LeaderElector } from './kube/leader-election.js';
import { Manager } from './controllers/manager.js';
import { CertManager } from './certs/cert-manager.js';
import { DEFAULT_CERT_PLAN, type CertBundle } from './certs/cert-plan.js';
import { WebhookServer, WEBHOOK_PATHS } from './webhooks/webhook-server.js';
import { podMutator } from './webhooks/pod-mutator.js';
import { policyValidator } from './webhooks/policy-validator.js';
import type { WebhookEndpoint } from './webhooks/webhook-configurations.js';
import { startControlPlaneServices, type ControlPlaneServices } from './sidecar-api/control-plane-services.js';
import { ingestOnLeader } from './sidecar-api/ingest-leader-gate.js';
import { SIDECAR_API_PREFIX } from './sidecar-api/sidecar-api.js';
import { startJitSweeper } from './credentials/credential-broker.js';
import { ownUsername } from './kube/self-subject.js';
import { ConfigError, errorMessage } from './errors.js';
import { defaultInjectionConfig, type InjectionConfig } from './injection/injection-config.js';
import { OperatorMetrics } from './ops/metrics.js';
import { healthRoutes, metricsRoutes, PlainServer } from './ops/health-server.js';

export interface RunningPorts {
  webhook: number;
  metrics: number;
  health: number;
}

export class Operator {
  readonly metrics = new OperatorMetrics();
  private readonly client: KubeClient;
  private readonly manager: Manager;
  private readonly certs: CertManager;
  private readonly injection: InjectionConfig;
  private webhook: WebhookServer | undefined;
  private elector: LeaderElector | undefined;
  private services: ControlPlaneServices | undefined;
  private sweeper: { stop(): void } | undefined;
  /** True while this replica holds the Lease (always, without leader election). */
  private leading = false;
  private readonly health: PlainServer;
  private readonly metricsServer: PlainServer;
  private ports: RunningPorts = { webhook: 0, metrics: 0, health: 0 };

  constructor(private readonly o: OperatorOptions, kc: KubeConfig, private readonly log: Logger) {
    this.client = new KubeClient(kc);
    const events = new KubeEventRecorder(this.client, o.identity, log);
    this.manager = new Manager({
      client: this.client, events, metrics: this.metrics, log, resyncPeriodMs: o.resyncPeriodMs,
      sessionRecordTtlMs: o.sessionRecordTtlMs, workers: o.workers,
    });
    this.injection = defaultInjectionConfig({
      sidecarImage: o.sidecarImage, operatorUrl: o.operatorUrl, operatorNamespace: o.namespace, sidecarUid: o.sidecarUid,
      tokenAudience: o.tokenAudience, caConfigMapName: o.caConfigMap, transparentMode: o.transparent,
    });
    const endpoint: WebhookEndpoint = o.webhookHost
      ? { mode: 'url', baseUrl: `https://${isIP(o.webhookHost) === 6 ? `[${o.webhookHost}]` : o.webhookHost}:${o.webhookPort}` }
      : { mode: 'service', namespace: o.namespace, name: o.serviceName, port: o.webhookPort };
    const svc = o.serviceName;
    const dnsNames = [svc, `${svc}.${o.namespace}`, `${svc}.${o.namespace}.svc`, `${svc}.${o.namespace}.svc.cluster.local`];
    const ipAddresses: string[] = [];
    if (o.webhookHost) (isIP(o.webhookHost) ? ipAddresses : dnsNames).push(o.webhookHost);
    this.certs = new CertManager({
      client: this.client, namespace: o.namespace, secretName: o.certSecret,
      plan: { ...DEFAULT_CERT_PLAN, commonName: svc, dnsNames, ipAddresses },
      manageWebhooks: o.manageWebhooks, endpoint, excludedNamespaces: this.injection.excludedNamespaces,
      caConfigMapName: o.caConfigMap, checkIntervalMs: o.certCheckIntervalMs,
      onCertificate: (b) => this.serveCertificate(b), log,
    });
    this.health = new PlainServer(healthRoutes([
      { name: 'caches', ready: () => this.manager.cachesSynced },
      { name: 'webhooks', ready: () => this.webhook?.serving ?? false },
      { name: 'sidecar-api', ready: () => this.services?.resources.synced ?? false },
    ]));
    this.metricsServer = new PlainServer(metricsRoutes(this.metrics.registry));
  }

  get runningPorts(): RunningPorts {
    return this.ports;
  }

  async start(): Promise<void> {
    const o = this.o;
    this.ports.health = await this.health.listen(o.healthPort, o.bindAddress);
    this.ports.metrics = await this.metricsServer.listen(o.metricsPort, o.bindAddress);
    await this.manager.startCaches();
    await usableDirectory(o.transcriptDir);
    const creators = o.accessRequestCreators ?? [await ownUsername(this.client)];
    this.log.info({ accessRequestCreators: creators }, 'AccessRequests may be created by these users only');
    this.services = await startControlPlaneServices({
      client: this.client, log: this.log, transcriptDir: o.transcriptDir,
      // One cache each, shared: the informers hold the objects as the API server sends them; the
      // controllers declare a narrower view of the same objects (PolicyObject, ConnectionObject).
      policies: this.manager.policies as unknown as Informer<AccessPolicy>,
      connections: this.manager.connections as unknown as Informer<Connection>,
      audience: o.tokenAudience, accessRequestCreators: creators,
      jitSweepIntervalMs: 0, // swept by the leader only (startLeading)
    });
    // The HTTPS server starts on the first certificate, with every route.
    await this.certs.start();
    if (o.leaderElect) {
      this.elector = new LeaderElector(this.client, o.namespace, o.leaderElectionId, o.identity, {
        onStartedLeading: async () => {
          this.metrics.leader.inc({ event: 'started' });
          await this.startLeading();
        },
        onStoppedLeading: async () => {
          this.metrics.leader.inc({ event: 'stopped' });
          await this.stopLeading();
        },
      }, this.log);
      this.elector.start();
    } else {
      await this.startLeading();
    }
    this.log.info({ ports: this.ports, identity: o.identity, namespace: o.namespace, leaderElect: o.leaderElect }, 'operator started');
  }

  async stop(): Promise<void> {
    this.log.info('operator stopping');
    if (this.elector) await this.elector.stop();
    else await this.stopLeading();
    this.certs.stop();
    await this.webhook?.close();
    await this.services?.stop();
    await this.manager.stop();
    await this.metricsServer.close();
    await this.health.close();
    this.log.info('operator stopped');
  }

  /*
   * Leader-only work: the controllers, the sweeper of expired just-in-time
   * roles (two replicas sweeping would race on the same DROP ROLE), and
   * session-event ingest (one writer of the transcript volume).
   */
  private async startLeading(): Promise<void> {
    this.leading = true;
    const services = this.services;
    if (services && !this.sweeper) {
      this.sweeper = startJitSweeper(services.broker, () => services.resources.allConnections(), this.o.jitSweepIntervalMs);
    }
    await this.manager.startLeading();
  }

  private async stopLeading(): Promise<void> {
    this.leading = false;
    this.sweeper?.stop();
    this.sweeper = undefined;
    await this.manager.stopLeading();
  }

  private async serveCertificate(b: CertBundle): Promise<void> {
    const tls = { certPem: b.certPem, keyPem: b.keyPem };
    if (this.webhook) {
      this.webhook.reloadCertificate(tls);
      this.log.info('serving certificate reloaded');
      return;
    }
    const deps = {
      config: this.injection,
      policies: () => this.manager.policies.list(),
      connection: (ns: string, name: string) => this.manager.connections.get(name, ns),
      cachesSynced: () => this.manager.cachesSynced,
      ensureCaConfigMap: (ns: string) => this.certs.ensureCaConfigMap(ns),
      metrics: this.metrics,
      log: this.log,
    };
    const services = this.services;
    if (!services) throw new Error('control-plane services must start before the HTTPS server');
    this.webhook = new WebhookServer({
      [WEBHOOK_PATHS.mutatePods]: { name: 'pods', handler: podMutator(deps) },
      [WEBHOOK_PATHS.validateAccessPolicies]: { name: 'accesspolicies', handler: policyValidator() },
      [WEBHOOK_PATHS.mutateAccessRequests]: { name: 'accessrequests-stamp', handler: services.mutateAccessRequests },
      [WEBHOOK_PATHS.validateAccessRequests]: { name: 'accessrequests', handler: services.validateAccessRequests },
    }, tls, this.metrics, this.log, [
      { prefix: SIDECAR_API_PREFIX, handle: ingestOnLeader(services.sidecarApi, () => this.leading) },
    ]);
    this.ports.webhook = await this.webhook.listen(this.o.webhookPort, this.o.bindAddress);
  }
}

/** Creates the transcript directory if needed and checks it is writable, so a bad volume fails at start, not at the first session. */
async function usableDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, fsc.W_OK | fsc.X_OK);
  } catch (err) {
    throw new ConfigError(`--transcript-dir: ${dir} is not a writable directory: ${errorMessage(err)}`);
  }
}
