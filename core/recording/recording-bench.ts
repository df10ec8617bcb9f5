// Measures what recording costs per statement on the sidecar's path: a real
// spool (group-committed fdatasync), a shipper and a file sink, as standalone
// mode wires them, with 4 sessions each recording a `statement` and its
// `statement.result` per statement (what pgbench -S produces), the way the
// PostgreSQL proxy writes them (write-ahead statement, deferred outcome). Run after a build:
//   node dist/core/recording/recording-bench.js [--statements N] [--dir DIR] [--no-defer]
// Figures are CPU microseconds per statement of the whole process (all
// threads, so fsyncs and the shipper count); for reports, never for assertions.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileRecordSink } from './file-record-sink.js';
import { Recorder, type SessionRecording } from './session-recorder.js';
import { Shipper } from './shipper.js';
import { Spool } from './spool.js';

const SESSIONS = 4;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { statements: { type: 'string', default: '50000' }, dir: { type: 'string' }, 'no-defer': { type: 'boolean' } },
  });
  const defer = values['no-defer'] !== true;
  const total = Number(values.statements);
  const base = await mkdtemp(join(values.dir ?? tmpdir(), 'agentgate-recording-bench-'));
  try {
    const spool = await Spool.open({ dir: join(base, 'spool'), syncDelayMs: process.env.AGENTGATE_BENCH_SYNC_MS !== undefined ? Number(process.env.AGENTGATE_BENCH_SYNC_MS) : undefined });
    const sink = new FileRecordSink(join(base, 'records'));
    const shipper = new Shipper({ spool, sink });
    // AGENTGATE_BENCH_NO_SHIP=1: the shipper starts only at the end (what recording costs without shipping).
    const ship = process.env.AGENTGATE_BENCH_NO_SHIP !== '1';
    if (ship) shipper.start();
    const recorder = new Recorder({ spool, strict: true });
    const sessions: SessionRecording[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      sessions.push(
        await recorder.startSession({
          identity: { sub: 'system:serviceaccount:bench:agent', iss: 'kubernetes', groups: [] },
          connection: 'bench',
          protocol: 'postgres',
        }),
      );
    }
    const t0 = process.cpuUsage();
    const w0 = performance.now();
    for (let n = 0; n < total; n++) {
      const s = sessions[n % SESSIONS] as SessionRecording;
      const text = `SELECT abalance FROM pgbench_accounts WHERE aid = ${(n * 7919) % 100_000 + 1};`;
      s.write('statement', {
        text,
        decision: { action: 'allow', policy: 'bench/bench-agent', rule: 'allow-reads-and-writes', message: 'allowed by policy bench/bench-agent rule allow-reads-and-writes' },
        kinds: ['SELECT'],
        tables: ['public.pgbench_accounts'],
      });
      const ref = s.lastSeq;
      s.write(
        'statement.result',
        { ref, command: 'SELECT', durationMs: 0.05, rows: 1, maskedFields: 1, maskedColumns: ['public.pgbench_accounts.abalance'] },
        { defer },
      );
      // Let the event loop turn now and then, as a proxy's sockets would.
      if (n % 64 === 63) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    for (const s of sessions) await s.end('ok');
    if (ship) await shipper.flush();
    else await spool.drain();
    const used = process.cpuUsage(t0);
    if (!ship) await shipper.flush();
    const wall = performance.now() - w0;
    await shipper.stop();
    await sink.close();
    await spool.close();
    const cpuUs = (used.user + used.system) / total;
    process.stdout.write(
      `${total} statements (2 events each, ${SESSIONS} sessions): ${cpuUs.toFixed(2)} µs CPU per statement ` +
        `(user ${(used.user / total).toFixed(2)}, system ${(used.system / total).toFixed(2)}), ${(wall * 1000 / total).toFixed(2)} µs wall; ` +
        `spool fsyncs ${spool.stats.fsyncs}, shipper batches ${shipper.stats.batches}\n`,
    );
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
