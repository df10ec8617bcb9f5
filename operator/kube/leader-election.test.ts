import { describe, it, expect } from '@jest/globals';
import { canAcquire, recordOf, type Lease } from './leader-election.js';

const lease = (holder: string | null, renew = '2026-01-01T00:00:00.000000Z'): Lease => ({
  metadata: { name: 'l' }, spec: { holderIdentity: holder, renewTime: renew, leaseDurationSeconds: 15, leaseTransitions: 1 },
});

describe('canAcquire', () => {
  it('takes a missing, unheld or own Lease', () => {
    expect(canAcquire('me', undefined, undefined, 0)).toBe(true);
    expect(canAcquire('me', lease(null), undefined, 0)).toBe(true);
    expect(canAcquire('me', lease(''), undefined, 0)).toBe(true);
    expect(canAcquire('me', lease('me'), undefined, 0)).toBe(true);
  });

  it('waits for a full lease duration after last seeing the holder renew', () => {
    const l = lease('other');
    const observed = { record: recordOf(l), holder: 'other', at: 1000, durationMs: 15_000 };
    expect(canAcquire('me', l, undefined, 1_000_000)).toBe(false); // never observed: wait
    expect(canAcquire('me', l, observed, 1000)).toBe(false);
    expect(canAcquire('me', l, observed, 15_999)).toBe(false);
    expect(canAcquire('me', l, observed, 16_000)).toBe(true);
  });

  it('sees each renewal as a new record', () => {
    expect(recordOf(lease('a', 't1'))).not.toBe(recordOf(lease('a', 't2')));
    expect(recordOf(lease('a', 't1'))).toBe(recordOf(lease('a', 't1')));
  });
});
