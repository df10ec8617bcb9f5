// One pgbench run against a target, and what its output says.
import { join } from 'node:path';
import { PG_BIN } from '../testkit/postgres.js';
import { runCommand } from '../testkit/processes.js';

export interface PgbenchWorkload {
  /** 'select' = `pgbench -S` (select-only), 'tpcb' = the default TPC-B-like script. */
  script: 'select' | 'tpcb';
  clients: number;
}

/** Statements the client sends per transaction: -S one SELECT; TPC-B BEGIN, 3 UPDATE, SELECT, INSERT, END. */
export function statementsPerTransaction(script: PgbenchWorkload['script']): number {
  return script === 'select' ? 1 : 7;
}

export interface PgbenchResult {
  tps: number;
  /** pgbench's "latency average" in ms (per transaction, as the clients saw it). */
  latencyMs: number;
  transactions: number;
  failed: number;
}

/** Reads pgbench's summary (PostgreSQL 15 format). Throws when a figure is missing. */
export function parsePgbenchOutput(stdout: string): PgbenchResult {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(stdout);
    if (m === null || m[1] === undefined) throw new Error(`pgbench output has no ${what}:\n${stdout}`);
    return Number(m[1]);
  };
  const failedMatch = /number of failed transactions: (\d+)/.exec(stdout);
  return {
    // "(including reconnection times)" with -C.
    tps: num(/^tps = ([\d.]+) \((?:without initial connection time|including reconnection times)\)/m, 'tps'),
    latencyMs: num(/^latency average = ([\d.]+) ms/m, 'latency average'),
    transactions: num(/^number of transactions actually processed: (\d+)/m, 'transaction count'),
    failed: failedMatch?.[1] !== undefined ? Number(failedMatch[1]) : 0,
  };
}

export async function runPgbench(
  w: PgbenchWorkload,
  o: { port: number; user: string; database: string; password: string; seconds: number; connectEachTransaction?: boolean },
): Promise<PgbenchResult> {
  const args = [
    '-n', // no vacuum before the run: the same work on every path
    ...(o.connectEachTransaction === true ? ['-C'] : []), // a new session per transaction (connection churn)
    '-T', String(o.seconds),
    '-c', String(w.clients),
    '-j', String(Math.min(w.clients, 2)),
    '-h', '127.0.0.1',
    '-p', String(o.port),
    '-U', o.user,
    ...(w.script === 'select' ? ['-S'] : []),
    o.database,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
  if (o.password !== '') env.PGPASSWORD = o.password;
  else delete env.PGPASSWORD;
  const r = await runCommand(join(PG_BIN, 'pgbench'), args, { env, timeoutMs: (o.seconds + 60) * 1000 });
  if (r.code !== 0) throw new Error(`pgbench ${args.join(' ')} failed (${String(r.code)}): ${r.stderr.slice(0, 2000)}`);
  const res = parsePgbenchOutput(r.stdout);
  if (res.failed > 0 || res.transactions === 0) throw new Error(`pgbench ${args.join(' ')}: ${res.failed} failed, ${res.transactions} done: ${r.stderr.slice(0, 2000)}`);
  return res;
}
