import { describe, it, expect } from '@jest/globals';
import { pino } from 'pino';
import { Controller, TerminalError } from './controller.js';
import { RefIndex } from './ref-index.js';
import { OperatorMetrics } from '../ops/metrics.js';

describe('RefIndex', () => {
  it('maps refs back to owners and forgets replaced refs', () => {
    const ix = new RefIndex();
    ix.set('ns/p1', ['ns/db', 'ns/ssh']);
    ix.set('ns/p2', ['ns/db']);
    expect(ix.owners('ns/db')).toEqual(['ns/p1', 'ns/p2']);
    ix.set('ns/p1', ['ns/ssh']);
    expect(ix.owners('ns/db')).toEqual(['ns/p2']);
    ix.delete('ns/p2');
    expect(ix.owners('ns/db')).toEqual([]);
    expect(ix.owners('ns/ssh')).toEqual(['ns/p1']);
  });
});

describe('Controller', () => {
  const log = pino({ level: 'silent' });

  it('retries failures with backoff until success, then counts it', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    let calls = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => { resolveDone = r; });
    const c = new Controller('t', async () => {
      calls++;
      if (calls < 3) throw new Error('transient');
      resolveDone();
    }, { resyncPeriodMs: 3_600_000, listKeys: () => ['ns/a'], metrics, log, backoff: { baseMs: 1, maxMs: 10 } });
    c.start();
    await done;
    await c.stop();
    expect(calls).toBe(3);
    const m = await metrics.registry.getSingleMetricAsString('agentgate_reconcile_total');
    expect(m).toContain('agentgate_reconcile_total{controller="t",result="error"} 2');
    expect(m).toContain('agentgate_reconcile_total{controller="t",result="success"} 1');
  });

  it('does not retry a terminal error', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const seen: string[] = [];
    let resolveSecond: () => void = () => undefined;
    const second = new Promise<void>((r) => { resolveSecond = r; });
    const c = new Controller('t', async (key) => {
      seen.push(key);
      if (key === 'ns/bad') throw new TerminalError('bad spec');
      resolveSecond();
    }, { workers: 1, resyncPeriodMs: 3_600_000, listKeys: () => ['ns/bad'], metrics, log, backoff: { baseMs: 1, maxMs: 1 } });
    c.start();
    c.enqueue('ns/good'); // queued after ns/bad; one worker handles them in order
    await second;
    expect(c.hasPendingRetry('ns/bad')).toBe(false);
    await c.stop();
    expect(seen).toEqual(['ns/bad', 'ns/good']);
  });
});
