// Bounded memory, measured where it matters: the real sidecar process
// (`agentgate-sidecar standalone`, a child) streams 100k, 1M and 3M masked rows
// to psql; its peak RSS (VmHWM from /proc) must not grow with the result.
// In-process RSS is not used: the reader's own garbage would dominate it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../testkit/ports.js';
import { startPostgres, type PgServer } from '../../testkit/postgres.js';
import { logTail, runCommand, startProcess, type ManagedProcess } from '../../testkit/processes.js';

const MAIN = join(process.cwd(), 'dist', 'sidecar', 'main.js');

let dir = '';
let pg: PgServer;
let sidecar: ManagedProcess | undefined;
let listenPort = 0;

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error('no VmHWM in /proc status');
  return Number(m[1]) * 1024;
}

/** Streams `rows` rows of ~330 bytes through the sidecar with psql COPY TO STDOUT into /dev/null; returns the bytes. */
async function stream(rows: number, via: 'copy' | 'select'): Promise<number> {
  const query = `SELECT g, 'ssn ' || lpad((g % 899 + 100)::text, 3, '0') || '-45-6789' AS note, repeat('x', 300) AS pad, ssn
                 FROM generate_series(1, ${rows}) g, (SELECT '123-45-6789'::text AS ssn) s`;
  const sql = via === 'copy' ? `COPY (${query}) TO STDOUT` : query;
  const env = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(listenPort), PGUSER: 'agent', PGDATABASE: 'big' };
  // FETCH_COUNT makes psql read a SELECT through a cursor in batches, so psql itself does not hold the result.
  const args = ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-v', 'FETCH_COUNT=5000', '-o', '/dev/null', '-c', sql];
  const r = await runCommand('psql', args, { env, timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`psql failed (${r.code}): ${r.stderr}`);
  return rows * 330;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgate-mem-'));
  pg = await startPostgres();
  await pg.sql("CREATE ROLE big_app LOGIN PASSWORD 'big-app-pw'");
  await pg.sql('CREATE DATABASE big OWNER big_app');
  listenPort = await freePort();
  const adminPort = await freePort();
  await writeFile(
    join(dir, 'agentgate.yaml'),
    `apiVersion: v1
kind: Secret
metadata: { name: big-creds }
stringData: { username: big_app, password: big-app-pw }
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: big-db }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${pg.port}, database: big }
  tls: { mode: disable }
  credentials: { secretRef: { name: big-creds } }
  listen: { port: ${listenPort} }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: reader }
spec:
  podSelector: {}
  subjects: [{ serviceAccount: { name: agent } }]
  connections: [big-db]
  rules:
    - { name: reads, when: "sql.statements.all(s, !s.writes)", action: allow }
  masking:
    detectors: [{ type: ssn }]
`,
  );
  sidecar = startProcess(
    'agentgate-sidecar',
    process.execPath,
    [MAIN, 'standalone', '--config', join(dir, 'agentgate.yaml'), '--identity', 'default/agent', '--client-auth', 'pod',
      '--record-dir', join(dir, 'records'), '--state-dir', join(dir, 'state'), '--admin-port', String(adminPort)],
    { logPath: join(dir, 'sidecar.log') },
  );
  for (let i = 0; ; i++) {
    if (sidecar.hasExited()) throw new Error(`sidecar exited:\n${await logTail(sidecar.logPath)}`);
    if (await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false)) break;
    if (i >= 300) throw new Error(`sidecar not ready:\n${await logTail(sidecar.logPath)}`);
    await sleep(100);
  }
});

afterAll(async () => {
  await sidecar?.stop({ graceMs: 10_000 });
  await pg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('sidecar memory while streaming masked results', () => {
  it('keeps its peak RSS flat from 100k to 3M rows (SELECT and COPY, every value through the SSN detector)', async () => {
    const pid = (sidecar as ManagedProcess).pid;
    // Warm up: parser, policy, masking, the first sessions.
    await stream(100_000, 'select');
    await stream(100_000, 'copy');
    const afterSmall = await peakRssBytes(pid);
    const bytes1 = await stream(1_000_000, 'select');
    const after1M = await peakRssBytes(pid);
    const bytes3 = await stream(3_000_000, 'copy');
    const after3M = await peakRssBytes(pid);
    process.stdout.write(
      `sidecar peak RSS: ${(afterSmall / 2 ** 20).toFixed(0)} MiB after 100k rows, ${(after1M / 2 ** 20).toFixed(0)} MiB after 1M ` +
        `(${(bytes1 / 2 ** 20).toFixed(0)} MiB streamed), ${(after3M / 2 ** 20).toFixed(0)} MiB after 3M (${(bytes3 / 2 ** 20).toFixed(0)} MiB)\n`,
    );
    // Buffering the result would add at least its size; streaming adds socket buffers and GC slack.
    expect(after1M - afterSmall).toBeLessThan(bytes1 / 4);
    expect(after3M - afterSmall).toBeLessThan(bytes3 / 8);
  });
});
