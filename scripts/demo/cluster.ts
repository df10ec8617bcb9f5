// Chapter 3 of `make demo`: agentgate on Kubernetes, the way the README's
// quick start does it by hand. A real kube-apiserver + etcd (no kubelet), the
// CRDs, the operator from this checkout (webhooks registered by URL), a real
// PostgreSQL behind just-in-time credentials, the manifests of
// examples/quickstart/ applied with kubectl, an agent pod injected by the
// webhook whose sidecar the kubelet stand-in starts from the pod spec, psql
// through it with the agent's token, an approval with `kubectl agentgate`,
// SessionRecords and their verified transcripts, and a policy edit that cuts
// a live session. Everything it starts is stopped at the end.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments, stringify } from 'yaml';
import type { SessionRecord } from '../../core/resources/generated.js';
import { cacheRoot, ensureControlPlaneBinaries, findRepoRoot, kubernetesVersion } from '../../e2e/harness/control-plane-binaries.js';
import { startControlPlane, type ControlPlane } from '../../e2e/harness/control-plane.js';
import { startOidcIssuer, type OidcIssuer } from '../../e2e/harness/oidc-issuer.js';
import { serviceAccountKubeconfig, settle, startOperator, waitReady, type OperatorProcess } from '../../e2e/operator-e2e-support.js';
import { freePort } from '../../testkit/ports.js';
import { startPostgres, type PgServer } from '../../testkit/postgres.js';
import { logTail, runCommand, startProcess, type ManagedProcess } from '../../testkit/processes.js';
import { chapter, check, note, run, say, show } from './narrator.js';

const ROOT = findRepoRoot();
const QS = join(ROOT, 'examples', 'quickstart');
const NS = 'shop';
const OP_NS = 'agentgate-system';
const AGENT = 'agent-7@example.com';
const AUDIENCE = 'agentgate';
const SSN = '123-45-6789';

/** Quotes an argument as a person would type it in a shell. */
const q = (a: string): string => (/^[A-Za-z0-9_./:=,@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** Waits (bounded) until the process's log matches `re`; throws with the log when it exits first or never does. */
async function waitForLog(p: ManagedProcess, re: RegExp, what: string, tries = 600): Promise<string> {
  for (let i = 0; i < tries; i++) {
    const text = await readFile(p.logPath, 'utf8').catch(() => '');
    if (re.test(text)) return text;
    if (p.hasExited()) break;
    await sleep(100);
  }
  throw new Error(`${what}: not seen in the output of ${p.name}:\n${await logTail(p.logPath, 60)}`);
}

/** The quick start's manifests with this run's free ports, issuer and PostgreSQL (what a person would edit). */
async function demoManifest(file: string, edit: (doc: Record<string, unknown>) => void): Promise<string> {
  const docs = parseAllDocuments(await readFile(join(QS, file), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
  for (const d of docs) edit(d);
  return docs.map((d) => stringify(d)).join('---\n');
}

export async function clusterChapter(): Promise<void> {
  chapter('On Kubernetes: the operator, an injected sidecar, approvals with kubectl');
  const work = await mkdtemp(join(tmpdir(), 'agentgate-demo-cluster-'));
  const stops: Array<() => Promise<unknown>> = [];
  const cleanup = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
    await rm(work, { recursive: true, force: true });
  };
  const onSigint = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSigint);
  try {
    // ── The control plane ────────────────────────────────────────────────
    say('Start a local Kubernetes control plane: kube-apiserver and etcd on random loopback ports (no kubelet).');
    note('By hand: make cluster-up, which prints export KUBECONFIG=…');
    const version = await kubernetesVersion(ROOT);
    const binDir = join(cacheRoot(), `k8s-${version}`);
    if (!existsSync(join(binDir, 'kube-apiserver')) || !existsSync(join(binDir, 'etcd'))) {
      note(`First run: building kube-apiserver and etcd ${version} from the Go module proxy into ${binDir}.`);
      note('This takes about 5 minutes, once; later runs start in seconds.');
      await ensureControlPlaneBinaries({
        onProgress: (text) => text.split('\n').filter((l) => l.trim() !== '').forEach((l) => note(`  ${l.trim()}`)),
      });
    }
    const cp: ControlPlane = await startControlPlane();
    stops.push(() => cp.stop());
    check(true, `kube-apiserver ${cp.version} ready at ${cp.server}`);
    const env = { ...process.env, KUBECONFIG: cp.kubeconfigPath, PATH: `${join(ROOT, 'bin')}:${process.env.PATH ?? ''}` };
    const kubectl = (args: string[], o: { shown?: string; expect?: number; input?: string } = {}): ReturnType<typeof run> =>
      run(o.shown ?? `kubectl ${args.map(q).join(' ')}`, 'kubectl', args, { env, expect: o.expect, input: o.input });
    const quiet = async (args: string[]): Promise<string> => {
      const r = await runCommand('kubectl', args, { env, timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
      return r.stdout;
    };

    say('Install the CRDs: Connection, AccessPolicy, AccessRequest, SessionRecord.');
    await kubectl(['apply', '-f', join(ROOT, 'crds')], { shown: 'kubectl apply -f crds/' });
    await quiet(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);

    // ── PostgreSQL ───────────────────────────────────────────────────────
    say('Start a real PostgreSQL 15 (TLS, SCRAM) and load the quick start\'s database as its superuser.');
    const pg: PgServer = await startPostgres({ tls: true });
    stops.push(() => pg.stop());
    const adminPassword = randomBytes(16).toString('hex');
    const dbaEnv = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(pg.port), PGUSER: pg.superuser, PGPASSWORD: pg.superPassword, PGSSLMODE: 'require' };
    await run('psql -U postgres -v admin_password="$ADMIN_PASSWORD" -f examples/quickstart/database.sql', 'psql',
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `admin_password=${adminPassword}`, '-f', join(QS, 'database.sql')], { env: dbaEnv });
    note(`PostgreSQL on 127.0.0.1:${pg.port}. agentgate will hold one credential: jit_admin, which may create roles.`);
    const dba = (sql: string, shown = `psql -U postgres -d shop -c "${sql}"`): ReturnType<typeof run> =>
      run(shown, 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', 'shop', '-c', sql], { env: dbaEnv });
    const jitRoles = async (): Promise<number> => Number(await pg.sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'agentgate\\_%'"));

    // ── The operator ─────────────────────────────────────────────────────
    say('Run the operator from this checkout, with its admission webhooks registered by URL (there is no Service network here).');
    const webhookPort = await freePort();
    const operatorUrl = `https://127.0.0.1:${webhookPort}`;
    const transcripts = join(work, 'transcripts');
    await kubectl(['create', 'namespace', OP_NS]);
    process.stdout.write(`   $ node dist/operator/main.js --manage-webhooks --webhook-host 127.0.0.1 --webhook-port ${webhookPort} \\\n` +
      `       --bind-address 127.0.0.1 --operator-url ${operatorUrl} --sidecar-image registry.local/agentgate:e2e \\\n` +
      `       --transcript-dir ${transcripts} --leader-elect …   (in the background)\n`);
    const op: OperatorProcess = await startOperator(join(ROOT, 'dist', 'operator', 'main.js'), {
      kubeconfig: cp.kubeconfigPath, namespace: OP_NS, identity: 'demo', webhookPort, logDir: work,
      extraArgs: ['--manage-webhooks', '--operator-url', operatorUrl, '--transcript-dir', transcripts, '--jit-sweep-interval', '10s', '--log-level', 'info'],
    });
    stops.push(() => op.stop());
    await waitReady(op);
    const hooks = await settle(() => quiet(['get', 'mutatingwebhookconfigurations,validatingwebhookconfigurations', '-o', 'name']),
      (o) => o.split('\n').filter((l) => l.includes('agentgate')).length === 2, 300);
    check(hooks.split('\n').filter((l) => l.includes('agentgate')).length === 2, 'operator ready; it registered its mutating and validating webhooks');
    await kubectl(['get', 'mutatingwebhookconfigurations,validatingwebhookconfigurations']);

    // ── The platform team's resources ────────────────────────────────────
    say('The agents\' namespace, opted in to injection by a label, and the agent\'s ServiceAccount.');
    await kubectl(['apply', '-f', join(QS, 'namespace.yaml')], { shown: 'kubectl apply -f examples/quickstart/namespace.yaml' });
    check((await quiet(['get', 'namespace', NS, '-o', 'jsonpath={.metadata.labels.agentgate\\.dev/injection}'])) === 'enabled', 'namespace shop has agentgate.dev/injection=enabled');

    say('The Secrets only the operator reads: the database admin that mints roles, and the CA of the server certificate.');
    await run('kubectl -n shop create secret generic shop-db-admin --from-literal=username=jit_admin --from-literal=password="$ADMIN_PASSWORD"', 'kubectl',
      ['-n', NS, 'create', 'secret', 'generic', 'shop-db-admin', '--from-literal=username=jit_admin', `--from-literal=password=${adminPassword}`], { env });
    const caFile = join(work, 'server-ca.crt');
    await writeFile(caFile, pg.tls?.caPem ?? '');
    await run('kubectl -n shop create secret generic shop-db-ca --from-file=ca.crt=server-ca.crt', 'kubectl',
      ['-n', NS, 'create', 'secret', 'generic', 'shop-db-ca', `--from-file=ca.crt=${caFile}`], { env });

    say('The Connection: PostgreSQL with just-in-time credentials (a role per session, VALID UNTIL, dropped after).');
    const listenPort = await freePort();
    show((await readFile(join(QS, 'connection.yaml'), 'utf8')).split('\n').filter((l) => !l.startsWith('#')).join('\n'));
    const connection = await demoManifest('connection.yaml', (d) => {
      const spec = d.spec as { target: { port: number }; listen: { port: number }; env: Array<{ name: string; value: string }> };
      spec.target.port = pg.port;
      spec.listen.port = listenPort;
      for (const e of spec.env) if (e.name === 'PGPORT') e.value = String(listenPort);
    });
    note(`This demo's ports: target.port ${pg.port} (its PostgreSQL), listen.port and PGPORT ${listenPort} (free).`);
    await kubectl(['apply', '-f', '-'], { shown: 'kubectl apply -f examples/quickstart/connection.yaml', input: connection });

    say('The AccessPolicy: SELECT allowed with ssn masked, DELETE under review (approver alice), DROP denied; the rest denied by default.');
    const issuer: OidcIssuer = await startOidcIssuer({ dir: work, audience: AUDIENCE });
    stops.push(() => issuer.close());
    const oidcSubjects = [{ oidc: { issuer: issuer.url, audience: AUDIENCE, users: [AGENT] } }];
    const policy = await demoManifest('policy.yaml', (d) => {
      (d.spec as { subjects: unknown }).subjects = oidcSubjects;
    });
    show((await readFile(join(QS, 'policy.yaml'), 'utf8')).split('\n').filter((l) => !/^\s*#/.test(l)).join('\n'));
    note('The quick start names the pod\'s ServiceAccount as the subject (the sidecar knows its own pod: no password).');
    note('In this demo the agent signs in with a token from its identity provider instead, a local OIDC issuer:');
    show(stringify({ subjects: oidcSubjects }));
    await kubectl(['apply', '-f', '-'], { shown: 'kubectl apply -f examples/quickstart/policy.yaml', input: policy });
    await kubectl(['apply', '-f', join(QS, 'approvers.yaml')], { shown: 'kubectl apply -f examples/quickstart/approvers.yaml' });

    say('The operator checks both and reports Ready (the Secrets exist, the CEL compiles, the connections resolve).');
    const ready = await settle(() => quiet(['-n', NS, 'get', 'connections,accesspolicies', '-o', 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}']),
      (o) => o === 'True True', 300);
    await kubectl(['-n', NS, 'get', 'connections,accesspolicies']);
    check(ready === 'True True', 'Connection shop-db and AccessPolicy agents are Ready');

    say('A broken policy never reaches the cluster: the admission webhook compiles its CEL and says where it is wrong.');
    const broken = `apiVersion: agentgate.dev/v1alpha1
kind: AccessPolicy
metadata: { name: careless, namespace: shop }
spec:
  podSelector: { matchLabels: { app: agent } }
  subjects: [ { serviceAccount: { name: agent } } ]
  connections: [shop-db]
  rules:
    - name: no-drop
      when: "sql.statements.exists(s, s.kind == DROP)"
      action: deny
`;
    show(broken);
    const refused = await kubectl(['apply', '-f', '-'], { shown: 'kubectl apply -f careless-policy.yaml', input: broken, expect: 1 });
    check(/rule "no-drop"\): unknown variable 'DROP'.* at line 1, column 36/.test(refused.stderr), 'refused, naming the rule, the error and where: line 1, column 36');

    // ── The agent pod ────────────────────────────────────────────────────
    say('Create the agent pod: nothing about agentgate in its spec.');
    await kubectl(['create', '-f', join(QS, 'pod.yaml')], { shown: 'kubectl create -f examples/quickstart/pod.yaml' });
    say('It came back from the API server with the sidecar injected: a native sidecar (init container, restartPolicy Always) and PG* for the agent.');
    const jsonpath = '{range .spec.initContainers[*]}{.name}: image {.image}, args {.args}, restartPolicy {.restartPolicy}{"\\n"}  env: {.env[*].name}{"\\n"}' +
      '  volumes: {.volumeMounts[*].name}{"\\n"}{end}{range .spec.containers[*]}{.name}: env {.env}{"\\n"}{end}';
    const spec = await kubectl(['-n', NS, 'get', 'pod', 'agent-7', '-o', `jsonpath=${jsonpath}`]);
    check(spec.stdout.startsWith('agentgate-sidecar: image registry.local/agentgate:e2e, args ["injected"], restartPolicy Always'), 'agentgate-sidecar injected first, as a native sidecar');
    const opUrl = await kubectl(['-n', NS, 'get', 'pod', 'agent-7', '-o', 'jsonpath={.spec.initContainers[0].env[?(@.name=="AGENTGATE_OPERATOR_URL")].value}']);
    check(opUrl.stdout === operatorUrl, 'the sidecar is told where the operator is');
    check(spec.stdout.includes(`{"name":"PGPORT","value":"${listenPort}"}`), `the agent container gets PGHOST=127.0.0.1 PGPORT=${listenPort} PGDATABASE=shop`);

    say('No kubelet runs here, so the kubelet stand-in starts the sidecar exactly as the pod spec says.');
    note('(its args and environment, a TokenRequest token bound to the pod, the CA ConfigMap, an emptyDir spool, its user, its startup probe)');
    process.stdout.write(`   $ node dist/e2e/harness/kubelet-cli.js run shop/agent-7 --trust-ca oidc-ca.crt   (in the background)\n`);
    note('--trust-ca: the OIDC issuer\'s CA, which a real image would have in its trust store');
    const kubelet = startProcess('kubelet stand-in', process.execPath,
      [join(ROOT, 'dist', 'e2e', 'harness', 'kubelet-cli.js'), 'run', `${NS}/agent-7`, '--trust-ca', issuer.caFile],
      { logPath: join(work, 'kubelet.log'), env });
    stops.push(() => kubelet.stop({ signal: 'SIGTERM', graceMs: 40_000 }));
    const started = await waitForLog(kubelet, /^export .*PGPORT=/m, 'the agent environment');
    show(started);
    const exported = /^export (.*)$/m.exec(started)?.[1] ?? '';
    const podEnv = Object.fromEntries(exported.split(' ').map((kv) => kv.split('=') as [string, string]));
    check(podEnv.PGPORT === String(listenPort), `sidecar ready; the agent reaches it at ${podEnv.PGHOST ?? '?'}:${podEnv.PGPORT ?? '?'}`);

    // ── The agent at work ────────────────────────────────────────────────
    const token = await issuer.token(AGENT);
    const agentEnv = { ...process.env, ...podEnv, PGUSER: 'agent', PGPASSWORD: token, PGCONNECT_TIMEOUT: '30' };
    const psql = (sql: string, expect = 0): ReturnType<typeof run> =>
      run(`psql -c "${sql}"`, 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: agentEnv, expect });
    say('The agent uses plain psql: PGHOST/PGPORT/PGDATABASE from its pod spec, its token as the password, no database credential.');
    note(`export PGPASSWORD=$AGENT_TOKEN   # a JWT: iss ${issuer.url}, sub ${AGENT}, aud ${AUDIENCE}`);
    const read = await psql('SELECT id, name, ssn FROM customers ORDER BY id');
    check(read.stdout.includes('[REDACTED]') && !read.stdout.includes(SSN), 'read allowed, ssn masked');
    const drop = await psql('DROP TABLE orders', 1);
    check(drop.stderr.includes('agentgate: denied by policy shop/agents rule "no-drop": tables are never dropped by agents'), 'DROP refused, naming the policy and rule');
    check((await pg.sql("SELECT to_regclass('public.orders') IS NOT NULL", { database: 'shop' })) === 't', 'table orders still there');

    say('Just-in-time credentials: each of those sessions had its own role, dropped when it ended; between sessions there is none.');
    const countRoles = "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'agentgate\\_%'";
    const none = await settle(jitRoles, (n) => n === 0, 300);
    await dba(countRoles, `psql -U postgres -c "${countRoles}"`);
    check(none === 0, 'no agentgate_* role now');

    say('A DELETE needs a human: the sidecar holds it, creates an AccessRequest, and its NOTICE names the request.');
    process.stdout.write('   $ psql -c "DELETE FROM orders WHERE id = 1"   (waits; in the background)\n');
    const held = startProcess('psql (held DELETE)', 'psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-c', 'DELETE FROM orders WHERE id = 1'],
      { logPath: join(work, 'psql-delete.log'), env: agentEnv });
    stops.push(() => held.stop({ graceMs: 1000 }));
    const notice = await waitForLog(held, /HINT: .*approve ar-[a-z0-9]+/, 'the NOTICE naming the request');
    show(notice);
    const name = /request (ar-[a-z0-9]+)/.exec(notice)?.[1] ?? '';
    check(name !== '', `the agent was told: request ${name}`);
    const roles = await dba("SELECT rolname, rolvaliduntil FROM pg_roles WHERE rolname LIKE 'agentgate\\_%'",
      "psql -U postgres -c \"SELECT rolname, rolvaliduntil FROM pg_roles WHERE rolname LIKE 'agentgate\\_%'\"");
    check(/\(1 row\)/.test(roles.stdout), 'during the session: exactly one role, valid for minutes (VALID UNTIL)');

    say('alice, an approver, lists the pending requests with the kubectl plugin.');
    const alice = await cp.makeUserKubeconfig('alice', []);
    note('alice.kubeconfig: a client certificate for user alice from the cluster\'s CA (the README shows how, with openssl);');
    note('approvers.yaml gave her the agentgate-approver role in namespace shop. bin/ is on PATH, so kubectl finds kubectl-agentgate.');
    const listed = await run('kubectl agentgate requests -n shop --kubeconfig alice.kubeconfig', 'kubectl',
      ['agentgate', 'requests', '-n', NS, '--kubeconfig', alice], { env });
    check(listed.stdout.includes(name) && listed.stdout.includes('DELETE FROM orders WHERE id = 1'), 'the request shows the exact statement, the requester and the pod');

    say('The agent tries to approve its own request. Even with RBAC that lets its ServiceAccount patch requests, the operator refuses.');
    await kubectl(['-n', NS, 'create', 'rolebinding', 'careless-agent-approver', '--clusterrole', 'agentgate-approver', '--serviceaccount', `${NS}:agent`]);
    const agentKube = await serviceAccountKubeconfig(cp.kubeconfigPath, NS, 'agent', join(work, 'agent.kubeconfig'));
    const self = await run(`kubectl agentgate approve ${name} --reason "I am sure" -n shop --kubeconfig agent.kubeconfig`, 'kubectl',
      ['agentgate', 'approve', name, '--reason', 'I am sure', '-n', NS, '--kubeconfig', agentKube], { env, expect: 1 });
    check(self.stderr.includes(`self-approval refused: system:serviceaccount:${NS}:agent is the requester of AccessRequest ${name}`), 'self-approval refused');
    check((await pg.sql('SELECT count(*) FROM orders WHERE id = 1', { database: 'shop' })) === '1', 'order 1 still there, the DELETE still waits');

    say('alice approves, with a reason; the held DELETE runs and the agent\'s psql returns.');
    const ok = await run(`kubectl agentgate approve ${name} --reason "order 1 was a test" -n shop --kubeconfig alice.kubeconfig`, 'kubectl',
      ['agentgate', 'approve', name, '--reason', 'order 1 was a test', '-n', NS, '--kubeconfig', alice], { env });
    check(ok.stdout.includes(`accessrequest/${name} approved by alice`), 'approved by alice (stamped from the API server\'s authenticated user)');
    const status = await held.exited;
    show(await readFile(held.logPath, 'utf8'));
    check(status.code === 0 && (await readFile(held.logPath, 'utf8')).includes('DELETE 1'), 'the DELETE completed: DELETE 1');
    check((await pg.sql('SELECT count(*) FROM orders WHERE id = 1', { database: 'shop' })) === '0', 'order 1 deleted after approval');

    // ── Records ──────────────────────────────────────────────────────────
    say('Every session becomes a SessionRecord: identity, pod, counts, and the head of its hash-chained transcript.');
    const records = async (): Promise<SessionRecord[]> =>
      (JSON.parse(await quiet(['-n', NS, 'get', 'sessionrecords', '-o', 'json'])) as { items: SessionRecord[] }).items;
    const withApproval = (rs: SessionRecord[]): SessionRecord | undefined => rs.find((r) => (r.spec.counts?.approvals ?? 0) > 0 && r.spec.outcome !== undefined);
    const recs = await settle(records, (rs) => rs.length >= 3 && withApproval(rs) !== undefined && rs.every((r) => r.spec.outcome !== undefined), 600);
    await kubectl(['-n', NS, 'get', 'sessionrecords']);
    const rec = withApproval(recs);
    check(rec !== undefined && rec.spec.identity.sub === AGENT && rec.spec.pod?.name === 'agent-7', `${recs.length} sessions recorded; the DELETE's names ${AGENT} in pod agent-7`);
    const recName = rec?.metadata.name ?? '';
    const replay = await kubectl(['agentgate', 'replay', recName, '-n', NS]);
    check(/approval\.decided\s+ar-[a-z0-9]+ approved by alice/.test(replay.stdout), 'the transcript has the approval, by alice');
    check(replay.stdout.includes(`chain OK: ${rec?.spec.transcript?.events ?? -1} events`), 'hash chain verified against the SessionRecord');

    say('And the just-in-time role is gone with the session.');
    const gone = await settle(jitRoles, (n) => n === 0, 300);
    await dba(countRoles, `psql -U postgres -c "${countRoles}"`);
    check(gone === 0, 'no agentgate_* role left in pg_roles');

    // ── Revocation ───────────────────────────────────────────────────────
    say('Access removed while a session is open: the policy stops naming the agent; its live session is cut.');
    process.stdout.write('   $ psql -c "SELECT pg_sleep(60)"   (a long query; in the background)\n');
    const live = startProcess('psql (live session)', 'psql', ['-X', '-c', 'SELECT pg_sleep(60)'], { logPath: join(work, 'psql-live.log'), env: agentEnv });
    stops.push(() => live.stop({ graceMs: 1000 }));
    check((await settle(jitRoles, (n) => n === 1, 300)) === 1, 'the session is open (its role exists)');
    const patch = JSON.stringify([{ op: 'replace', path: '/spec/subjects/0/oidc/users', value: ['someone-else@example.com'] }]);
    const editedAt = Date.now();
    await kubectl(['-n', NS, 'patch', 'accesspolicy', 'agents', '--type', 'json', '-p', patch]);
    const cut = await Promise.race([live.exited.then(() => true), sleep(30_000).then(() => false)]);
    const seconds = ((Date.now() - editedAt) / 1000).toFixed(1);
    show(await readFile(live.logPath, 'utf8'));
    check(cut && (await readFile(live.logPath, 'utf8')).includes(`agentgate: access revoked: no AccessPolicy grants ${AGENT} access to connection shop-db any more`),
      `the live session was cut ${seconds}s after the edit, with the reason`);
    const again = await psql('SELECT 1', 2);
    check(again.stderr.includes(`no AccessPolicy lets ${AGENT} use connection shop-db`), 'a new session is refused at sign-in');
    const terminated = await settle(records, (rs) => rs.some((r) => r.spec.outcome === 'terminated'), 600);
    check(terminated.some((r) => r.spec.outcome === 'terminated'), 'its SessionRecord says outcome terminated');

    // ── Cleanup ──────────────────────────────────────────────────────────
    say('Clean up: stop the sidecar as the kubelet does (SIGTERM), then the operator, PostgreSQL, the issuer, the control plane.');
    await kubelet.stop({ signal: 'SIGTERM', graceMs: 40_000 });
    const stopped = await kubelet.exited;
    show((await readFile(kubelet.logPath, 'utf8')).split('\n').filter((l) => /stopping|exited/.test(l)).join('\n'));
    check(stopped.code === 0, 'the sidecar exited 0 after SIGTERM (sessions closed, events shipped)');
    await cleanup();
    const alive = [cp.pids.kubeApiServer, cp.pids.etcd, op.child.pid ?? 0, kubelet.pid].filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    check(alive.length === 0 && !existsSync(work), 'no process left running, temp directories removed');
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSigint);
  }
}
