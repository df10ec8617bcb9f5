// Watches Secrets only in the namespaces where Connections live (one informer
// per namespace, started with the first Connection there and stopped with the
// last), and caches only their key names: secret values never sit in operator
// memory here. RBAC can then grant Secret read per namespace.
import type { Logger } from 'pino';
import { Informer } from '../kube/informer.js';
import type { KubeClient } from '../kube/kube-client.js';
import { R } from '../kube/resources.js';
import type { KubeObject } from '../kube/types.js';

export interface SecretKeysOnly extends KubeObject {
  /** Key names of data and stringData; values dropped. */
  keys: string[];
}

export function keysOnly(s: KubeObject & { data?: Record<string, unknown>; stringData?: Record<string, unknown> }): SecretKeysOnly {
  const keys = [...new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})])].sort();
  return {
    apiVersion: s.apiVersion, kind: s.kind,
    metadata: { name: s.metadata?.name, namespace: s.metadata?.namespace, uid: s.metadata?.uid, resourceVersion: s.metadata?.resourceVersion },
    keys,
  };
}

export class SecretWatcher {
  private readonly informers = new Map<string, Informer<SecretKeysOnly>>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    /** Called with (namespace, secretName) on any change. */
    private readonly onChange: (namespace: string, name: string) => void,
  ) {}

  /** Starts watching `ns` if not yet; resolves once the first list is in. */
  async watch(ns: string): Promise<void> {
    if (this.informers.has(ns)) return;
    const inf = new Informer<SecretKeysOnly>({
      client: this.client, ref: R.secrets, namespace: ns, log: this.log,
      transform: (s) => keysOnly(s as SecretKeysOnly & { data?: Record<string, unknown> }),
    });
    const fire = (s: SecretKeysOnly): void => this.onChange(ns, s.metadata?.name ?? '');
    inf.on('add', fire);
    inf.on('update', (s, old) => {
      if (JSON.stringify(s.keys) !== JSON.stringify(old?.keys)) fire(s);
    });
    inf.on('delete', fire);
    this.informers.set(ns, inf);
    await inf.start();
  }

  async unwatch(ns: string): Promise<void> {
    const inf = this.informers.get(ns);
    this.informers.delete(ns);
    await inf?.stop();
  }

  synced(ns: string): boolean {
    return this.informers.get(ns)?.synced ?? false;
  }

  /** Key names of the Secret, or undefined when it does not exist. */
  keys(ns: string, name: string): readonly string[] | undefined {
    return this.informers.get(ns)?.get(name, ns)?.keys;
  }

  namespaces(): string[] {
    return [...this.informers.keys()];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.keys()].map((ns) => this.unwatch(ns)));
  }
}
