// Follows the Ready condition of every object of one resource in one
// namespace through a watch, and tells when a condition about them first
// held, with the arrival time of the event that made it hold. A watch that
// ends (server timeout, "resourceVersion too old") is re-listed and resumed.
import { performance } from 'node:perf_hooks';
import type { BenchKubeClient, WatchHandle } from './kube-bench-client.js';

export interface ReadyState {
  generation: number;
  observedGeneration: number | undefined;
  /** The Ready condition's status ("True", "False", "Unknown") and reason, if there is one. */
  ready: { status: string; reason: string } | undefined;
}

interface Obj {
  metadata?: { name?: string; generation?: number; resourceVersion?: string };
  status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string; reason?: string }> };
}

/** Ready=True for the object's current generation. */
export function isReadyNow(s: ReadyState | undefined): boolean {
  return s !== undefined && s.ready?.status === 'True' && s.observedGeneration === s.generation;
}

function stateOf(o: Obj): ReadyState {
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  return {
    generation: o.metadata?.generation ?? 0,
    observedGeneration: o.status?.observedGeneration,
    ready: c ? { status: c.status, reason: c.reason ?? '' } : undefined,
  };
}

interface Waiter {
  check: () => boolean;
  resolve: (at: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class ReadyTracker {
  private readonly states = new Map<string, ReadyState>();
  private readyCount = 0;
  private waiters: Waiter[] = [];
  private handle: WatchHandle | undefined;
  private running = false;
  private lastRv = '';
  /** Watch events seen (for the report: how much status traffic a run caused). */
  events = 0;

  constructor(private readonly client: BenchKubeClient, private readonly collectionPath: string, private readonly label: string) {}

  async start(): Promise<void> {
    this.running = true;
    await this.relist();
    this.follow();
  }

  stop(): void {
    this.running = false;
    this.handle?.stop();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`${this.label}: tracker stopped`));
    }
  }

  get(name: string): ReadyState | undefined {
    return this.states.get(name);
  }

  get size(): number {
    return this.states.size;
  }

  /** Objects that are Ready=True for their current generation. */
  get ready(): number {
    return this.readyCount;
  }

  /** Resolves with the arrival time (performance.now()) of the event after which `check` held; at once if it holds now. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
    if (check()) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        check, resolve, reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new Error(`${this.label}: ${what} did not happen within ${timeoutMs} ms (${this.readyCount}/${this.states.size} ready)`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Waits until the named object's state satisfies `pred`. */
  untilObject(name: string, pred: (s: ReadyState | undefined) => boolean, timeoutMs: number, what: string): Promise<number> {
    return this.until(() => pred(this.states.get(name)), timeoutMs, `${name}: ${what}`);
  }

  private set(name: string, s: ReadyState | undefined, at: number): void {
    const before = isReadyNow(this.states.get(name));
    if (s) this.states.set(name, s);
    else this.states.delete(name);
    this.readyCount += Number(isReadyNow(s)) - Number(before);
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.check()) {
        clearTimeout(w.timer);
        w.resolve(at);
      } else still.push(w);
    }
    this.waiters = still;
  }

  private async relist(): Promise<void> {
    const list = await this.client.json<{ metadata: { resourceVersion: string }; items: Obj[] }>('GET', this.collectionPath);
    const at = performance.now();
    const seen = new Set<string>();
    for (const o of list.items) {
      const name = o.metadata?.name ?? '';
      seen.add(name);
      this.set(name, stateOf(o), at);
    }
    for (const name of [...this.states.keys()]) if (!seen.has(name)) this.set(name, undefined, at);
    this.lastRv = list.metadata.resourceVersion;
  }

  private follow(): void {
    if (!this.running) return;
    const h = this.client.watch(this.collectionPath, this.lastRv, (e) => {
      this.events++;
      const o = e.object as Obj;
      if (e.type === 'ERROR') return; // e.g. 410 Gone: the stream ends next, and we re-list
      if (o.metadata?.resourceVersion) this.lastRv = o.metadata.resourceVersion;
      const name = o.metadata?.name ?? '';
      if (e.type === 'DELETED') this.set(name, undefined, e.at);
      else if (e.type === 'ADDED' || e.type === 'MODIFIED') this.set(name, stateOf(o), e.at);
    });
    this.handle = h;
    const again = (): void => {
      if (!this.running) return;
      // Re-list so nothing missed while the stream was down goes unseen.
      this.relist().then(() => this.follow(), (err: unknown) => {
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.label}: re-list failed: ${err instanceof Error ? err.message : String(err)}`));
        }
      });
    };
    h.ended.then(again, again);
  }
}
