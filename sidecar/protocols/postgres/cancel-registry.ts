// Cancel keys. Every session gets a random (pid, key) pair of the proxy's own
// in its BackendKeyData; the backend's real pair stays here. A CancelRequest
// whose pair matches is sent to the backend on a new connection with the real
// pair; anything else is ignored (as PostgreSQL does), so an agent can
// neither learn nor guess a backend key, nor cancel another session's query.
import { randomInt, timingSafeEqual } from 'node:crypto';

export interface CancelTarget {
  host: string;
  port: number;
  pid: number;
  key: number;
}

interface Entry {
  key: number;
  target: CancelTarget | undefined;
}

export class CancelRegistry {
  private readonly byPid = new Map<number, Entry>();

  /** Allocates a fresh proxy-side pair for a session; `target` may be set later. */
  register(target?: CancelTarget): { pid: number; key: number; release: () => void; setTarget: (t: CancelTarget) => void } {
    let pid: number;
    do {
      pid = randomInt(1, 0x7fffffff);
    } while (this.byPid.has(pid));
    const entry: Entry = { key: randomInt(-0x80000000, 0x7fffffff), target };
    this.byPid.set(pid, entry);
    return {
      pid,
      key: entry.key,
      release: () => {
        if (this.byPid.get(pid) === entry) this.byPid.delete(pid);
      },
      setTarget: (t) => {
        entry.target = t;
      },
    };
  }

  /** The backend target for a client's pair, or undefined when it does not match a live session. */
  lookup(pid: number, key: number): CancelTarget | undefined {
    const e = this.byPid.get(pid);
    if (e === undefined || e.target === undefined) return undefined;
    const a = Buffer.alloc(4);
    const b = Buffer.alloc(4);
    a.writeInt32BE(e.key, 0);
    b.writeInt32BE(key, 0);
    return timingSafeEqual(a, b) ? e.target : undefined;
  }

  /** Sends the mapped CancelRequest with `send`; false when the pair matches no live session. */
  async cancel(pid: number, key: number, send: (target: CancelTarget) => Promise<void>): Promise<boolean> {
    const target = this.lookup(pid, key);
    if (target === undefined) return false;
    await send(target);
    return true;
  }

  get size(): number {
    return this.byPid.size;
  }
}

