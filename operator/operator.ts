// The composition root: builds every part from the options and runs them in
// order (health → caches → certificate + webhooks → leader election →
// controllers), and stops them in reverse.
import { isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorOptions } from './config/flags.js';
import { KubeClient } from './kube/kube-client.js';
import { KubeEventRecorder } from './kube/event-recorder.js';
import { LeaderElector } from './kube/leader-election.js';
import { Manager } from './controllers/manager.js';
import { CertManager } from './certs/cert-manager.js';
import { DEFAULT_CERT_PLAN, type CertBundle } from './certs/cert-plan.js';
import { WebhookServer, WEBHOOK_PATHS } from './webhooks/webhook-server.js';
import { podMutator } from './webhooks/pod-mutator.js';
import { policyValidator } from './webhooks/policy-validator.js';
import { accessRequestValidator } from './webhooks/access-request-validator.js';
import type { WebhookEndpoint } from './webhooks/webhook-configurations.js';
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
    await this.certs.start();
    if (o.leaderElect) {
      this.elector = new LeaderElector(this.client, o.namespace, o.leaderElectionId, o.identity, {
        onStartedLeading: async () => {
          this.metrics.leader.inc({ event: 'started' });
          await this.manager.startLeading();
        },
        onStoppedLeading: async () => {
          this.metrics.leader.inc({ event: 'stopped' });
          await this.manager.stopLeading();
        },
      }, this.log);
      this.elector.start();
    } else {
      await this.manager.startLeading();
    }
    this.log.info({ ports: this.ports, identity: o.identity, namespace: o.namespace, leaderElect: o.leaderElect }, 'operator started');
  }

  async stop(): Promise<void> {
    this.log.info('operator stopping');
    if (this.elector) await this.elector.stop();
    else await this.manager.stopLeading();
    this.certs.stop();
    await this.webhook?.close();
    await this.manager.stop();
    await this.metricsServer.close();
    await this.health.close();
    this.log.info('operator stopped');
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
    this.webhook = new WebhookServer({
      [WEBHOOK_PATHS.mutatePods]: { name: 'pods', handler: podMutator(deps) },
      [WEBHOOK_PATHS.validateAccessPolicies]: { name: 'accesspolicies', handler: policyValidator() },
      [WEBHOOK_PATHS.validateAccessRequests]: { name: 'accessrequests', handler: accessRequestValidator() },
    }, tls, this.metrics, this.log);
    this.ports.webhook = await this.webhook.listen(this.o.webhookPort, this.o.bindAddress);
  }
}
