// The pure parts of the PostgreSQL benchmark: reading pgbench's summary and
// summarising a V8 CPU profile.
import { describe, expect, it } from '@jest/globals';
import { frameArea, summarizeCpuProfile, type CpuProfile } from './postgres-cpuprofile.js';
import { parsePgbenchOutput, statementsPerTransaction } from './postgres-pgbench.js';

// pgbench 15's summary, as printed for `pgbench -n -S -T 5 -c 4 -j 2`.
const PGBENCH_15 = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 5
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 140866
number of failed transactions: 0 (0.000%)
latency average = 0.142 ms
initial connection time = 6.513 ms
tps = 28182.411209 (without initial connection time)
`;

describe('parsePgbenchOutput', () => {
  it('reads tps, latency, transactions and failures', () => {
    expect(parsePgbenchOutput(PGBENCH_15)).toEqual({ tps: 28182.411209, latencyMs: 0.142, transactions: 140866, failed: 0 });
  });

  it('reads the summary of a run with a new session per transaction (-C)', () => {
    const out = PGBENCH_15.replace('initial connection time = 6.513 ms\ntps = 28182.411209 (without initial connection time)', 'average connection time = 10.318 ms\ntps = 189.130523 (including reconnection times)');
    expect(out).not.toBe(PGBENCH_15);
    expect(parsePgbenchOutput(out)).toEqual({ tps: 189.130523, latencyMs: 0.142, transactions: 140866, failed: 0 });
  });

  it('reads failed transactions', () => {
    const out = PGBENCH_15.replace('number of failed transactions: 0 (0.000%)', 'number of failed transactions: 12 (0.009%)');
    expect(parsePgbenchOutput(out).failed).toBe(12);
  });

  it('refuses output without a figure', () => {
    expect(() => parsePgbenchOutput(PGBENCH_15.replace(/^tps = .*$/m, ''))).toThrow(/no tps/);
    expect(() => parsePgbenchOutput('')).toThrow(/pgbench output has no/);
  });

  it('counts the statements of each built-in script', () => {
    expect(statementsPerTransaction('select')).toBe(1);
    expect(statementsPerTransaction('tpcb')).toBe(7);
  });
});

describe('frameArea', () => {
  it('names built code by its TypeScript source, packages by name, and V8 pseudo-frames as they are', () => {
    expect(frameArea('file:///work/main/dist/sidecar/protocols/postgres/pg-session.js', 'onQuery')).toBe('sidecar/protocols/postgres/pg-session.ts');
    expect(frameArea('file:///work/main/node_modules/@bufbuild/cel/dist/esm/planner.js', 'eval')).toBe('npm:@bufbuild/cel');
    expect(frameArea('file:///work/main/node_modules/pino/pino.js', 'write')).toBe('npm:pino');
    expect(frameArea('node:internal/crypto/random', 'randomFillSync')).toBe('node:internal/crypto/random');
    expect(frameArea('', '(garbage collector)')).toBe('(garbage collector)');
    expect(frameArea('', 'writev')).toBe('(native)');
  });
});

describe('summarizeCpuProfile', () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
  // root → onQuery → decide; root → (idle); root → (native) writev
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 1000,
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 4, 5] },
      { id: 2, callFrame: frame('onQuery', 'file:///x/dist/sidecar/protocols/postgres/pg-session.js', 9), children: [3] },
      { id: 3, callFrame: frame('decide', 'file:///x/dist/core/policy/engine.js', 19) },
      { id: 4, callFrame: frame('(idle)', '') },
      { id: 5, callFrame: frame('writev', '') },
    ],
    // Each sample stands for the gap after it (the last one for nothing).
    samples: [3, 3, 2, 4, 5, 5],
    timeDeltas: [0, 100, 100, 100, 200, 100],
  };

  it('splits busy and idle time, and gives self and total time per function', () => {
    const s = summarizeCpuProfile(profile);
    expect(s.idleUs).toBe(200);
    expect(s.busyUs).toBe(400);
    const byName = new Map(s.functions.map((f) => [f.name, f]));
    expect(byName.get('core/policy/engine.ts:decide:20')).toMatchObject({ selfUs: 200, totalUs: 200, selfPct: 50 });
    expect(byName.get('sidecar/protocols/postgres/pg-session.ts:onQuery:10')).toMatchObject({ selfUs: 100, totalUs: 300, totalPct: 75 });
    expect(byName.get('(native):writev')).toMatchObject({ selfUs: 100 });
    expect(s.functions[0]?.name).toBe('core/policy/engine.ts:decide:20');
    expect(s.areas.map((a) => a.area)).toEqual(['core/policy/engine.ts', 'sidecar/protocols/postgres/pg-session.ts', '(native)']);
  });

  it('falls back to hit counts without a sample stream', () => {
    const s = summarizeCpuProfile({
      startTime: 0,
      endTime: 300,
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2], hitCount: 0 },
        { id: 2, callFrame: frame('f', 'file:///x/dist/core/sql/lru.js'), hitCount: 3 },
      ],
    });
    expect(s.busyUs).toBe(300);
    expect(s.functions.find((f) => f.name === 'core/sql/lru.ts:f:1')?.selfUs).toBe(300);
  });
});
