// An informer: client-node's ListWatch (list, then watch from the list's
// resourceVersion, with a local cache), plus what it lacks for a controller:
// it restarts itself with backoff after a watch error (ListWatch stops for
// good on one), reports when the first list has landed (synced), and can
// transform objects before they are cached (Secrets keep key names only, so no
// secret value ever sits in operator memory).
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ExponentialBackoff } from './work-queue.js';
import { resourcePath, type KubeClient } from './kube-client.js';
import type { KubeObject, ResourceRef } from './types.js';
import { errorMessage } from '../errors.js';

export type Transform<T> = (obj: T) => T;

/**
 * A Watch whose events are transformed before ListWatch caches them, and that
 * tells when ListWatch starts watching: that happens right after the list has
 * been put into the cache, which is the moment the informer is synced.
 */
class CacheAwareWatch<T> extends Watch {
  constructor(kc: KubeConfig, private readonly transform: Transform<T> | undefined, private readonly onWatch: () => void) {
    super(kc);
  }
  override watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.onWatch();
    const transform = this.transform;
    return super.watch(path, query, (phase, obj, w) => {
      const t = transform && (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') ? transform(obj as T) : obj;
      callback(phase, t, w);
    }, done);
  }
}

export interface InformerOptions<T> {
  client: KubeClient;
  ref: ResourceRef;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  transform?: Transform<T>;
  log: Logger;
}

export type Handler<T> = (obj: T, old?: T) => void;

export class Informer<T extends KubeObject> {
  private lw: ListWatch<KubernetesObject> | undefined;
  private readonly handlers = { add: [] as Handler<T>[], update: [] as Handler<T>[], delete: [] as Handler<T>[] };
  private listed = false;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new ExponentialBackoff(500, 30_000);
  private readonly name: string;

  constructor(private readonly opts: InformerOptions<T>) {
    this.name = `${opts.ref.plural}${opts.namespace ? `@${opts.namespace}` : ''}`;
  }

  on(event: 'add' | 'update' | 'delete', h: Handler<T>): void {
    this.handlers[event].push(h);
  }

  get synced(): boolean {
    return this.listed;
  }

  list(namespace?: string): T[] {
    return (this.lw?.list(namespace) ?? []) as unknown as T[];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw?.get(name, namespace) as T | undefined;
  }

  /** Starts list+watch; resolves after the first attempt (check `synced`). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const { client, ref, namespace, transform } = this.opts;
    const path = resourcePath(ref, namespace);
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const query: Record<string, string> = {};
      if (this.opts.labelSelector) query.labelSelector = this.opts.labelSelector;
      if (this.opts.fieldSelector) query.fieldSelector = this.opts.fieldSelector;
      const list = await client.list<T>(ref, namespace, query);
      const items = transform ? list.items.map(transform) : list.items;
      return { ...list, items } as unknown as KubernetesListObject<KubernetesObject>;
    };
    const watch = new CacheAwareWatch<T>(client.kubeConfig, transform, () => {
      this.listed = true;
      this.backoff.forget('list');
    });
    const lw = new ListWatch<KubernetesObject>(path, watch, listFn, false, this.opts.labelSelector, this.opts.fieldSelector);
    // ListWatch reports updates without the previous object; keep it ourselves.
    const last = new Map<string, T>();
    const k = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
    lw.on('add', (o) => { last.set(k(o as T), o as T); for (const h of this.handlers.add) h(o as T); });
    lw.on('update', (o) => {
      const prev = last.get(k(o as T));
      last.set(k(o as T), o as T);
      for (const h of this.handlers.update) h(o as T, prev);
    });
    lw.on('delete', (o) => { last.delete(k(o as T)); for (const h of this.handlers.delete) h(o as T); });
    lw.on('error', (err?: unknown) => this.scheduleRestart(err));
    this.lw = lw;
    await lw.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.lw?.stop();
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    const delay = this.backoff.when('list');
    this.opts.log.warn({ informer: this.name, err: errorMessage(err), retryInMs: delay }, 'watch failed; restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || !this.lw) return;
      this.lw.start().catch((e: unknown) => this.scheduleRestart(e));
    }, delay);
    this.restartTimer.unref();
  }
}
