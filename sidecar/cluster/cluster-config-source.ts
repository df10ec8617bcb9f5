// This pod's configuration from the operator: one fetch, then long polls
// (the operator answers as soon as a policy, connection or grant changes).
// When the operator cannot be reached the last good configuration stays in
// force (live sessions keep their policy) and `stale` says so; fetching goes
// on with backoff. 'change' fires with every new configuration.
import { EventEmitter } from 'node:events';
import type { PodConfig } from './api-types.js';
import type { OperatorClient } from './operator-client.js';

export interface ClusterConfigSourceOptions {
  client: Pick<OperatorClient, 'getConfig'>;
  /** Long-poll length asked of the operator (default 30 s). */
  watchTimeoutSeconds?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Told about every failed fetch (the source keeps going). */
  onError?: (err: unknown, info: { attempt: number; retryInMs: number }) => void;
}

export interface ClusterConfigSourceEvents {
  change: [config: PodConfig, previous: PodConfig | undefined];
}

export class ClusterConfigSource extends EventEmitter<ClusterConfigSourceEvents> {
  private config: PodConfig | undefined;
  private failing = false;
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private readonly firstWaiters: Array<(c: PodConfig) => void> = [];
  private readonly o: Required<Omit<ClusterConfigSourceOptions, 'onError'>> & Pick<ClusterConfigSourceOptions, 'onError'>;

  constructor(o: ClusterConfigSourceOptions) {
    super();
    this.o = { watchTimeoutSeconds: 30, retryMinMs: 500, retryMaxMs: 30_000, ...o };
  }

  /** The last good configuration (undefined until the first fetch succeeded). */
  current(): PodConfig | undefined {
    return this.config;
  }

  /** True while the operator cannot be reached (the last good configuration is in force). */
  get stale(): boolean {
    return this.failing;
  }

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Resolves with the first configuration (at once if there is one). */
  ready(): Promise<PodConfig> {
    if (this.config) return Promise.resolve(this.config);
    return new Promise((resolve) => this.firstWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wakeSleep?.();
    await this.loop;
    this.loop = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const next = await this.o.client.getConfig(this.config?.etag, this.o.watchTimeoutSeconds, signal);
        attempt = 0;
        this.failing = false;
        if (next !== null && next.etag !== this.config?.etag) this.set(next);
      } catch (err) {
        if (signal.aborted) break;
        attempt++;
        this.failing = true;
        const base = Math.min(this.o.retryMaxMs, this.o.retryMinMs * 2 ** Math.min(attempt - 1, 20));
        const retryInMs = Math.round(base / 2 + Math.random() * (base / 2));
        this.o.onError?.(err, { attempt, retryInMs });
        await this.sleep(retryInMs);
      }
    }
  }

  private set(next: PodConfig): void {
    const prev = this.config;
    this.config = next;
    for (const w of this.firstWaiters.splice(0)) w(next);
    this.emit('change', next, prev);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepTimer = setTimeout(resolve, ms);
      this.wakeSleep = resolve;
    });
  }
}
