// Measures PolicyEngine.decide() on pgbench's statements with the decision
// cache off and on (hits: every statement differs from the cached one only in
// its literals), and what finding cached facts costs (the hash and exact
// comparison used, against a JSON.stringify string key and a Map lookup). The policy is the one bench/postgres-fixture.ts
// gives the benchmarked sidecar. Run after a build:
//   node dist/core/policy/decide-bench.js
// Figures are CPU microseconds per call (median of several rounds); they are
// for reports, never for assertions.
import { BENCH_RULES } from '../../bench/bench-policy-rules.js';
import { cpuMicrosPerCall } from '../cpu-time.js';
import { classifySql, initSqlParser } from '../sql/classify-text.js';
import { sqlFacts } from '../sql/facts.js';
import type { Activation, ConnectionFacts, Identity, SqlFacts } from './activation.js';
import { CelCompiler } from './cel-program.js';
import { compilePolicies, type PolicyEngine } from './engine.js';
import { hashStatements, sameStatements, snapshotStatements } from './facts-match.js';
import type { AccessPolicyLike } from './policy-input.js';

export interface DecideBenchResult {
  /** every rule of the policy is cacheable (cel-cacheability.ts) */
  policyCacheable: boolean;
  microsecondsPerCall: Record<string, number>;
  cacheStats: Record<string, number>;
}

function timeIt(rounds: number, n: number, fn: (i: number) => void): number {
  return cpuMicrosPerCall(rounds, n, fn, 3);
}

// The AccessPolicy bench/postgres-fixture.ts gives the benchmarked sidecar (same rules).
export const BENCH_POLICY: AccessPolicyLike = {
  metadata: { name: 'bench-agent', namespace: 'bench' },
  spec: {
    podSelector: { matchLabels: { app: 'agent' } },
    subjects: [{ serviceAccount: { name: 'agent' } }],
    connections: ['bench-db'],
    rules: BENCH_RULES.map((r) => ({ ...r })),
  },
};

// pgbench's TPC-B-like script with literals, one statement per Query.
function pgbenchTexts(i: number): string[] {
  const aid = (i * 7919) % 100_000 + 1;
  const tid = (i % 10) + 1;
  const bid = 1;
  const delta = ((i * 31) % 10_000) - 5000;
  return [
    'BEGIN;',
    `UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid};`,
    `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`,
    `UPDATE pgbench_tellers SET tbalance = tbalance + ${delta} WHERE tid = ${tid};`,
    `UPDATE pgbench_branches SET bbalance = bbalance + ${delta} WHERE bid = ${bid};`,
    `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${tid}, ${bid}, ${aid}, ${delta}, CURRENT_TIMESTAMP);`,
    'END;',
  ];
}

export async function benchDecide(opts: { rounds?: number; perRound?: number } = {}): Promise<DecideBenchResult> {
  await initSqlParser();
  const rounds = opts.rounds ?? 7;
  const n = opts.perRound ?? 20_000;

  // Facts as the sidecar builds them, classified up front (classification is not measured here).
  const variants = 64;
  const facts: SqlFacts[] = [];
  for (let v = 0; v < variants; v++) for (const t of pgbenchTexts(v)) facts.push(sqlFacts(classifySql(t)));

  const identity: Identity = {
    kind: 'serviceAccount',
    sub: 'system:serviceaccount:bench:agent',
    iss: 'https://kubernetes.default.svc',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:bench'],
    claims: {},
    pod: { namespace: 'bench', name: 'agent-0', serviceAccount: 'agent', labels: { app: 'agent' } },
  };
  const connection: ConnectionFacts = { name: 'bench-db', protocol: 'postgres', host: '127.0.0.1', port: 5432, labels: { env: 'bench' } };
  const session = { id: 'bench-session', startedAt: new Date(), statements: 0, denied: 0 };
  // as sidecar/gate/decisions.ts buildActivation(): a new session copy and `now` per operation
  const activation = (i: number): Activation => {
    session.statements = i;
    return { identity, connection, session: { ...session }, now: new Date(), sql: facts[i % facts.length] };
  };

  const build = (cache: boolean): PolicyEngine => {
    const { engine, errors } = compilePolicies([BENCH_POLICY], cache ? {} : { decisionCache: false });
    if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('; '));
    return engine;
  };
  const off = build(false);
  const on = build(true);
  for (let i = 0; i < facts.length; i++) {
    const a = activation(i);
    const x = off.decide(a);
    const y = on.decide(a);
    if (x.action !== y.action || x.rule !== y.rule || x.action !== 'allow') throw new Error(`unexpected decision for ${a.sql?.text ?? ''}`);
  }

  const results: Record<string, number> = {};
  results.buildActivation = timeIt(rounds, n, (i) => void activation(i));
  results.decideCacheOff = timeIt(rounds, n, (i) => void off.decide(activation(i)));
  results.decideCacheHit = timeIt(rounds, n, (i) => void on.decide(activation(i)));
  // Misses: every call new facts (an extra field), so evaluation + key + store (+ eviction once full).
  const unique: SqlFacts[] = [];
  for (let i = 0; i < n + 2000; i++) {
    const f = facts[i % facts.length] as SqlFacts;
    unique.push({ text: f.text, statements: f.statements.map((st) => ({ ...st, variant: i })) });
  }
  let m = 0;
  results.decideCacheOffUniqueFacts = timeIt(rounds, n, () => {
    const a = activation(m);
    off.decide({ ...a, sql: unique[m++ % unique.length] });
  });
  // Facts seen once are not stored (decision-cache.ts): evaluation plus the hash.
  m = 0;
  results.decideCacheMissFirstSight = timeIt(rounds, n, () => {
    const a = activation(m);
    on.decide({ ...a, sql: unique[m++ % unique.length] });
  });
  // Every facts twice in a row: the second miss also snapshots and stores (and, once full, turns generations over).
  m = 0;
  const twice = timeIt(rounds, n, () => {
    const a = activation(m);
    on.decide({ ...a, sql: unique[(m++ >> 1) % unique.length] });
  });
  results.decideCacheMissStored = Number((2 * twice - results.decideCacheMissFirstSight).toFixed(3));
  const limits = { maxStringLength: 1 << 20, maxDepth: 32, maxSnapshotSize: 4096 };
  const stmts = (i: number): readonly unknown[] => facts[i % facts.length]?.statements ?? [];
  const snapshots = facts.map((f) => snapshotStatements(f.statements, limits));
  results.factsHash = timeIt(rounds, n, (i) => void hashStatements(stmts(i), limits));
  results.factsSnapshot = timeIt(rounds, n, (i) => void snapshotStatements(stmts(i), limits));
  results.factsHashAndCompare = timeIt(rounds, n, (i) => {
    const snap = snapshots[i % facts.length];
    if (hashStatements(stmts(i), limits) === undefined || snap === undefined || !sameStatements(snap, stmts(i), limits)) {
      throw new Error('facts do not match their own snapshot');
    }
  });
  // The alternative: a string key without texts, and a Map lookup (which flattens and hashes the fresh string).
  const jsonKey = (i: number): string => JSON.stringify(stmts(i).map((st) => ({ ...(st as object), text: undefined })));
  const byJson = new Map<string, number>(facts.map((_, i) => [jsonKey(i), i]));
  results.jsonKey = timeIt(rounds, n, (i) => void jsonKey(i));
  results.jsonKeyAndMapGet = timeIt(rounds, n, (i) => void byJson.get(jsonKey(i)));
  results.jsonKeyLength = jsonKey(1).length;

  const compiler = new CelCompiler();
  const policyCacheable = (BENCH_POLICY.spec?.rules ?? []).every((r) => {
    const c = compiler.compile(String(r.when));
    return c.ok && c.program.cacheability.cacheable;
  });
  return { policyCacheable, microsecondsPerCall: results, cacheStats: { ...on.decisionCacheStats() } };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  benchDecide().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
