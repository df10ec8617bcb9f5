// Chapter 2 of `make demo`: the PostgreSQL data path in standalone mode, in
// front of a real PostgreSQL that the demo starts. An allowed query, masked
// columns, a refused statement, an approval, and the session record.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyChain } from '../../core/recording/hash-chain.js';
import { isRecordEvent, type RecordEvent } from '../../core/recording/events.js';
import { freePort } from '../../testkit/ports.js';
import { startPostgres, type PgServer } from '../../testkit/postgres.js';
import { logTail, runCommand, startProcess, type ManagedProcess } from '../../testkit/processes.js';
import { chapter, check, note, run, say, show } from './narrator.js';

const SIDECAR = join(process.cwd(), 'dist', 'sidecar', 'main.js');

function config(pg: PgServer, listenPort: number, backendPassword: string): string {
  return `# The sidecar's whole configuration: the same documents a platform team
# applies to the cluster, plus the Secret the Connection references.
apiVersion: v1
kind: Secret
metadata: { name: shop-db-creds, namespace: shop }
stringData:
  username: shop_app
  password: ${backendPassword}
  ca.crt: ${JSON.stringify(pg.tls?.caPem ?? '')}
  masking-key: demo-masking-key-0123456789abcdef
---
apiVersion: agentgate.dev/v1alpha1
kind: Connection
metadata: { name: shop-db, namespace: shop, labels: { env: demo } }
spec:
  protocol: postgres
  target: { host: 127.0.0.1, port: ${pg.port}, database: shop }
  tls: { mode: verify-full, caSecretRef: { name: shop-db-creds, key: ca.crt } }
  credentials: { secretRef: { name: shop-db-creds } }
  listen: { port: ${listenPort} }
---
apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: support-agent, namespace: shop }
spec:
  podSelector: { matchLabels: { app: support-agent } }
  subjects: [{ serviceAccount: { name: support-agent } }]
  connections: [shop-db]
  rules:
    - name: reads
      when: "sql.statements.all(s, s.kind == 'SELECT' && !s.writes)"
      action: allow
    - name: changes-need-a-dba
      when: "sql.statements.exists(s, s.kind in ['UPDATE', 'DELETE'] && s.hasWhere)"
      action: review
      message: changes to customer data need a DBA's approval
    - name: no-unbounded-changes
      when: "sql.statements.exists(s, s.kind in ['UPDATE', 'DELETE'] && !s.hasWhere)"
      action: deny
      message: UPDATE and DELETE need a WHERE clause
    - name: no-ddl
      when: "sql.statements.exists(s, s.kind in ['DROP', 'TRUNCATE', 'ALTER', 'CREATE', 'GRANT'])"
      action: deny
      message: schema changes are not for agents
  masking:
    hashKeySecretRef: { name: shop-db-creds, key: masking-key }
    columns:
      - { table: customers, column: ssn, strategy: partial, keep: 4 }
      - { table: customers, column: card, strategy: partial, keep: 4 }
      - { table: customers, column: email, strategy: hash }
    detectors:
      - { type: pan }
      - { type: ssn }
      - { type: email }
  approval:
    approvers: { users: [dba-alice] }
    timeout: 5m
    scope: once
`;
}

async function readTranscripts(dir: string): Promise<RecordEvent[][]> {
  const out: RecordEvent[][] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort()) {
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n').filter((l) => l !== '');
    out.push(lines.map((l) => JSON.parse(l) as unknown).filter(isRecordEvent));
  }
  return out;
}

export async function standalonePostgresChapter(): Promise<void> {
  chapter('The PostgreSQL data path (standalone mode, real PostgreSQL)');
  const work = await mkdtemp(join(tmpdir(), 'agentgate-demo-'));
  let pg: PgServer | undefined;
  let sidecar: ManagedProcess | undefined;
  try {
    say('Start a real PostgreSQL 15 (initdb, SCRAM passwords, TLS) on a random loopback port, with customer data.');
    pg = await startPostgres({ tls: true });
    const backendPassword = `shop-${crypto.randomUUID()}`;
    await pg.sql(`CREATE ROLE shop_app LOGIN PASSWORD '${backendPassword}'`);
    await pg.sql('CREATE DATABASE shop OWNER shop_app');
    await pg.sql(
      `CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text, card text);
       INSERT INTO customers VALUES
         (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789', '4111 1111 1111 1111'),
         (2, 'Alan Turing', 'alan@example.com', '219-09-9999', '5500 0000 0000 0004'),
         (3, 'Grace Hopper', 'grace@example.com', '078-05-1120', '3400 0000 0000 009');
       ALTER TABLE customers OWNER TO shop_app;`,
      { database: 'shop' },
    );
    note(`PostgreSQL on 127.0.0.1:${pg.port}; only the sidecar knows the password of shop_app.`);

    const listenPort = await freePort();
    const adminPort = await freePort();
    const configFile = join(work, 'agentgate.yaml');
    await writeFile(configFile, config(pg, listenPort, backendPassword), { mode: 0o600 });
    say('Start the sidecar with a Connection, an AccessPolicy (rules + masking) and the Secret they reference.');
    show((await readFile(configFile, 'utf8')).replace(backendPassword, '<backend password>').split('\n').slice(21, 56).join('\n'));
    const args = [SIDECAR, 'standalone', '--config', configFile, '--identity', 'shop/support-agent',
      '--pod-labels', 'app=support-agent', '--client-auth', 'pod', '--record-dir', join(work, 'records'),
      '--state-dir', join(work, 'state'), '--admin-port', String(adminPort)];
    note(`$ agentgate-sidecar ${args.slice(1).join(' ')}`);
    sidecar = startProcess('sidecar', process.execPath, args, { logPath: join(work, 'sidecar.log') });
    for (let i = 0; ; i++) {
      const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (sidecar.hasExited() || i > 300) throw new Error(`sidecar did not become ready:\n${await logTail(sidecar.logPath)}`);
      await sleep(100);
    }
    check(true, `sidecar ready: PostgreSQL listener on 127.0.0.1:${listenPort}, admin on 127.0.0.1:${adminPort}`);

    const psqlEnv = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(listenPort), PGUSER: 'agent', PGDATABASE: 'shop', PGCONNECT_TIMEOUT: '10' };
    const psql = (sql: string, expect = 0): ReturnType<typeof run> =>
      run(`psql -c "${sql}"`, 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: psqlEnv, expect });

    say('The agent reads through the sidecar with plain psql (PGHOST/PGPORT point at the sidecar; no credential).');
    const read = await psql('SELECT id, name, email, ssn, card FROM customers ORDER BY id');
    check(!read.stdout.includes('123-45-6789') && read.stdout.includes('6789'), 'SSN masked, last 4 kept');
    check(!read.stdout.includes('4111 1111 1111 1111') && read.stdout.includes('1111'), 'card masked, last 4 kept');
    check(!read.stdout.includes('ada@example.com'), 'email replaced by a keyed pseudonym');

    say('Masking follows the column, not its name: an alias and a computed value are masked too.');
    const alias = await psql("SELECT ssn AS x, upper(email) AS shout, 'card ' || card AS c FROM customers WHERE id = 1");
    check(!alias.stdout.includes('123-45-6789'), 'aliased SSN still masked (lineage from RowDescription)');
    check(!alias.stdout.toLowerCase().includes('ada@example.com'), 'computed email caught');
    check(!alias.stdout.includes('4111 1111 1111 1111'), 'computed card caught');

    say('A destructive statement is refused with SQLSTATE 42501, naming the policy and rule; the data is untouched.');
    const drop = await psql('DROP TABLE customers', 1);
    check(drop.stderr.includes('no-ddl'), 'refusal names rule no-ddl');
    const wipe = await psql('DELETE FROM customers', 1);
    check(wipe.stderr.includes('no-unbounded-changes'), 'DELETE without WHERE refused by no-unbounded-changes');
    check((await pg.sql('SELECT count(*) FROM customers', { database: 'shop' })).trim() === '3', 'still 3 customers');

    say('A DELETE with a WHERE clause needs a DBA: the sidecar holds it and tells the agent which request waits.');
    process.stdout.write('   $ psql -c "DELETE FROM customers WHERE id = 3"   (in the background)\n');
    const held = runCommand('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', 'DELETE FROM customers WHERE id = 3'], { env: psqlEnv, timeoutMs: 120_000 });
    const token = ['--admin-port', String(adminPort), '--admin-token-file', join(work, 'state', 'admin.token')];
    let pending: { id: string }[] = [];
    for (let i = 0; pending.length === 0; i++) {
      if (i > 200) throw new Error('no approval request appeared');
      await sleep(100);
      const r = await runCommand(process.execPath, [SIDECAR, 'approvals', ...token, '-o', 'json']);
      if (r.code === 0) pending = JSON.parse(r.stdout) as { id: string }[];
    }
    const id = (pending[0] as { id: string }).id;
    await run('agentgate-sidecar approvals --admin-port … ', process.execPath, [SIDECAR, 'approvals', ...token]);
    note('The approval endpoints need the admin token (a file the agent cannot read); without it the admin port answers 401.');
    const noToken = await fetch(`http://127.0.0.1:${adminPort}/approvals`);
    check(noToken.status === 401, 'GET /approvals without the token: 401');
    await run(`agentgate-sidecar approve ${id} --reason "ticket 4711"`, process.execPath,
      [SIDECAR, 'approve', id, '--reason', 'ticket 4711', '--user', 'dba-alice', ...token]);
    const released = await held;
    show([released.stdout, released.stderr].join('\n'));
    check(released.code === 0 && released.stderr.includes(id), `the agent was told about ${id}, then its DELETE ran`);
    check((await pg.sql('SELECT count(*) FROM customers', { database: 'shop' })).trim() === '2', 'customer 3 deleted after approval');

    say('Every session is recorded as a hash-chained transcript; stop the sidecar to flush, then verify.');
    await sidecar.stop({ signal: 'SIGTERM', graceMs: 15_000 });
    sidecar = undefined;
    const recordDir = join(work, 'records');
    const sessions = await readTranscripts(recordDir);
    let statements = 0;
    for (const events of sessions) {
      const verdict = verifyChain(events);
      check(verdict.ok, `session ${events[0]?.sessionId ?? '?'}: ${events.length} events, hash chain intact`);
      for (const e of events) {
        if (e.type !== 'statement') continue;
        statements += 1;
        const d = e.data as { text: string; decision: { action: string; rule?: string }; maskedFields?: number };
        note(`${d.decision.action.padEnd(6)} ${(d.decision.rule ?? '').padEnd(22)} masked=${d.maskedFields ?? 0}  ${d.text}`);
      }
    }
    const all = JSON.stringify(sessions);
    check(!all.includes(backendPassword), 'no backend password anywhere in the records');
    check(!all.includes('123-45-6789'), 'no unmasked SSN in the records');
    const summaries = (await readdir(recordDir)).filter((n) => n.endsWith('.summary.json')).sort();
    check(summaries.length === sessions.length, `${summaries.length} session summaries (the shape of a SessionRecord)`);
    const first = summaries[0];
    if (first !== undefined) show((await readFile(join(recordDir, first), 'utf8')).slice(0, 900));
    check(statements === 5, `${statements} statements recorded with their decisions`);
  } finally {
    if (sidecar !== undefined) await sidecar.stop({ graceMs: 2000 });
    if (pg !== undefined) await pg.stop();
    await rm(work, { recursive: true, force: true });
  }
}
