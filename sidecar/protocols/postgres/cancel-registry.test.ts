import { describe, expect, it } from '@jest/globals';
import { CancelRegistry, type CancelTarget } from './cancel-registry.js';

describe('CancelRegistry', () => {
  const target: CancelTarget = { host: '10.0.0.1', port: 5432, pid: 4242, key: 99 };

  it('maps the proxy key to the backend key, and only an exact match', async () => {
    const r = new CancelRegistry();
    const a = r.register(target);
    expect(a.pid).not.toBe(target.pid);
    const sent: CancelTarget[] = [];
    const send = async (t: CancelTarget): Promise<void> => {
      sent.push(t);
    };
    expect(await r.cancel(a.pid, a.key ^ 1, send)).toBe(false);
    expect(await r.cancel(a.pid + 1, a.key, send)).toBe(false);
    expect(sent).toEqual([]);
    expect(await r.cancel(a.pid, a.key, send)).toBe(true);
    expect(sent).toEqual([target]);
  });

  it('issues distinct keys and forgets released sessions', async () => {
    const r = new CancelRegistry();
    const regs = Array.from({ length: 200 }, () => r.register(target));
    expect(new Set(regs.map((x) => x.pid)).size).toBe(200);
    const first = regs[0];
    if (first === undefined) throw new Error('no registration');
    first.release();
    expect(r.lookup(first.pid, first.key)).toBeUndefined();
    expect(r.size).toBe(199);
  });

  it('ignores a session whose backend key is not known yet', () => {
    const r = new CancelRegistry();
    const a = r.register();
    expect(r.lookup(a.pid, a.key)).toBeUndefined();
    a.setTarget(target);
    expect(r.lookup(a.pid, a.key)).toEqual(target);
  });
});
