// Keeps the operator's webhook/API serving certificate alive: loads it from a
// Secret in the operator's namespace (creating the CA and certificate the
// first time), rotates before expiry, hands new certificates to the HTTPS
// server (reload without restart), and puts the CA bundle where clients need
// it: the caBundle of the webhook configurations, and the ConfigMap that
// injected sidecars mount. Every replica runs it; writes are compare-and-swap
// so replicas racing to rotate settle on one result.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import type { KubeObject } from '../kube/types.js';
import { errorMessage, isAlreadyExists, isConflict, isNotFound } from '../errors.js';
import { planCertificates, type CertBundle, type CertPlanOptions } from './cert-plan.js';
import {
  mutatingWebhookConfiguration, validatingWebhookConfiguration, WEBHOOK_CONFIG_NAME,
  type WebhookConfiguration, type WebhookEndpoint,
} from '../webhooks/webhook-configurations.js';

export interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}
interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
}

const KEYS = { caCertPem: 'ca.crt', caKeyPem: 'ca.key', certPem: 'tls.crt', keyPem: 'tls.key', trustBundlePem: 'ca-bundle.crt' } as const;
export const CA_CONFIGMAP_LABEL = 'agentgate.dev/operator-ca';

export function bundleFromSecret(s: SecretObject | undefined): Partial<CertBundle> | undefined {
  if (!s?.data) return undefined;
  const out: Partial<CertBundle> = {};
  for (const [field, key] of Object.entries(KEYS) as Array<[keyof CertBundle, string]>) {
    const v = s.data[key];
    if (v !== undefined) out[field] = Buffer.from(v, 'base64').toString('utf8');
  }
  return out;
}

function secretData(b: CertBundle): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, key] of Object.entries(KEYS) as Array<[keyof CertBundle, string]>) out[key] = Buffer.from(b[field]).toString('base64');
  return out;
}

export interface CertManagerOptions {
  client: KubeClient;
  namespace: string;
  secretName: string;
  plan: CertPlanOptions;
  /** Create/update the webhook configurations (else only patch their caBundle). */
  manageWebhooks: boolean;
  endpoint: WebhookEndpoint;
  excludedNamespaces: readonly string[];
  caConfigMapName: string;
  checkIntervalMs: number;
  onCertificate: (b: CertBundle) => void | Promise<void>;
  log: Logger;
}

export class CertManager {
  private current: CertBundle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly published = new Set<string>();

  constructor(private readonly o: CertManagerOptions) {}

  get bundle(): CertBundle | undefined {
    return this.current;
  }

  /** Loads or creates the certificate; retries until it succeeds or stop() is called. */
  async start(): Promise<CertBundle> {
    let delay = 500;
    for (;;) {
      try {
        await this.sync();
        break;
      } catch (err) {
        if (this.stopped) throw err;
        this.o.log.warn({ err: errorMessage(err), retryInMs: delay }, 'could not load the serving certificate; retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
    this.schedule();
    if (!this.current) throw new Error('unreachable: no certificate after sync');
    return this.current;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sync().catch((err: unknown) => this.o.log.warn({ err: errorMessage(err) }, 'certificate check failed'))
        .finally(() => this.schedule());
    }, this.o.checkIntervalMs);
    this.timer.unref();
  }

  /** One pass: converge the Secret, then everything that depends on it. */
  async sync(): Promise<void> {
    const bundle = await this.converge();
    const changed = bundle.certPem !== this.current?.certPem || bundle.trustBundlePem !== this.current?.trustBundlePem;
    // Serve the new certificate first, then tell the API server to trust it.
    if (changed) {
      this.current = bundle;
      await this.o.onCertificate(bundle);
    }
    await this.syncWebhooks(bundle);
    if (changed) await this.refreshPublishedCa(bundle);
  }

  private async converge(): Promise<CertBundle> {
    const { client, namespace, secretName } = this.o;
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret: SecretObject | undefined;
      try {
        secret = await client.get<SecretObject>(R.secrets, namespace, secretName);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const plan = planCertificates(bundleFromSecret(secret), new Date(), this.o.plan);
      if (!plan.changed && secret) return plan.bundle;
      const body: SecretObject = {
        apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
        metadata: {
          name: secretName, namespace,
          labels: { 'app.kubernetes.io/name': 'agentgate', 'app.kubernetes.io/component': 'webhook-certificate' },
          ...(secret?.metadata?.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
        },
        data: secretData(plan.bundle),
      };
      try {
        if (secret) await client.replace(R.secrets, namespace, secretName, body);
        else await client.create(R.secrets, namespace, body);
        this.o.log.info({ secret: `${namespace}/${secretName}`, rotatedCa: plan.rotatedCa, rotatedServing: plan.rotatedServing }, 'serving certificate written');
        return plan.bundle;
      } catch (err) {
        // Another replica wrote first: read its result and use that.
        if (!isConflict(err) && !isAlreadyExists(err)) throw err;
      }
    }
    throw new Error(`could not converge Secret ${namespace}/${secretName} after 5 attempts`);
  }

  private async syncWebhooks(bundle: CertBundle): Promise<void> {
    const ca = Buffer.from(bundle.trustBundlePem).toString('base64');
    const kinds = [
      { ref: R.mutatingWebhooks, desired: mutatingWebhookConfiguration(this.o.endpoint, ca, this.o.excludedNamespaces) },
      { ref: R.validatingWebhooks, desired: validatingWebhookConfiguration(this.o.endpoint, ca) },
    ];
    for (const { ref, desired } of kinds) {
      for (let attempt = 0; attempt < 5; attempt++) {
        let live: WebhookConfiguration | undefined;
        try {
          live = await this.o.client.get<WebhookConfiguration>(ref, undefined, WEBHOOK_CONFIG_NAME);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        let next: WebhookConfiguration | undefined;
        if (this.o.manageWebhooks) {
          next = { ...desired, metadata: { ...desired.metadata, ...(live?.metadata?.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}) } };
          if (live && sameShape(live, desired)) next = undefined;
        } else if (live) {
          const webhooks = (live.webhooks ?? []).map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: ca } }));
          next = JSON.stringify(webhooks) === JSON.stringify(live.webhooks) ? undefined : { ...live, webhooks };
        } else {
          this.o.log.warn({ kind: desired.kind, name: WEBHOOK_CONFIG_NAME }, 'webhook configuration not found (installed by the chart?)');
        }
        if (!next) break;
        try {
          if (live) await this.o.client.replace(ref, undefined, WEBHOOK_CONFIG_NAME, next);
          else await this.o.client.create(ref, undefined, next);
          this.o.log.info({ kind: desired.kind, name: WEBHOOK_CONFIG_NAME }, 'webhook configuration updated');
          break;
        } catch (err) {
          if (!isConflict(err) && !isAlreadyExists(err)) throw err;
        }
      }
    }
  }

  /** Makes sure namespace `ns` has the CA ConfigMap injected sidecars mount. */
  async ensureCaConfigMap(ns: string): Promise<void> {
    const bundle = this.current;
    if (!bundle) throw new Error('no serving certificate loaded yet');
    if (this.published.has(ns)) return;
    const name = this.o.caConfigMapName;
    const body: ConfigMapObject = {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name, namespace: ns, labels: { [CA_CONFIGMAP_LABEL]: 'true', 'app.kubernetes.io/name': 'agentgate' } },
      data: { 'ca.crt': bundle.trustBundlePem },
    };
    try {
      await this.o.client.create(R.configMaps, ns, body);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.o.client.patch(R.configMaps, ns, name, { metadata: { labels: body.metadata?.labels }, data: body.data }, 'merge');
    }
    this.published.add(ns);
  }

  /** After a CA change: rewrite every CA ConfigMap published earlier (by any replica). */
  private async refreshPublishedCa(bundle: CertBundle): Promise<void> {
    this.published.clear();
    let list;
    try {
      list = await this.o.client.list<ConfigMapObject>(R.configMaps, undefined, { labelSelector: `${CA_CONFIGMAP_LABEL}=true` });
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'could not list CA ConfigMaps');
      return;
    }
    for (const cm of list.items) {
      const ns = cm.metadata?.namespace;
      if (!ns || cm.data?.['ca.crt'] === bundle.trustBundlePem) continue;
      try {
        await this.o.client.patch(R.configMaps, ns, this.o.caConfigMapName, { data: { 'ca.crt': bundle.trustBundlePem } }, 'merge');
      } catch (err) {
        this.o.log.warn({ err: errorMessage(err), namespace: ns }, 'could not refresh a CA ConfigMap');
      }
    }
  }
}

/**
 * True when the live configuration has the desired webhooks, compared on the
 * fields we set, key order ignored and empty objects (server defaults for
 * absent selectors) treated as absent.
 */
export function sameShape(live: WebhookConfiguration, desired: WebhookConfiguration): boolean {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const c = canon((v as Record<string, unknown>)[k]);
        if (c !== undefined && !(typeof c === 'object' && c !== null && !Array.isArray(c) && Object.keys(c).length === 0)) out[k] = c;
      }
      return out;
    }
    return v;
  };
  const pick = (c: WebhookConfiguration): unknown => (c.webhooks ?? []).map((w) => {
    const { name, clientConfig, namespaceSelector, objectSelector, rules, failurePolicy, sideEffects, reinvocationPolicy, timeoutSeconds } = w;
    return canon({ name, clientConfig, namespaceSelector, objectSelector, rules, failurePolicy, sideEffects, reinvocationPolicy, timeoutSeconds });
  });
  return JSON.stringify(pick(live)) === JSON.stringify(pick(desired));
}
