// The rules of the AccessPolicy every PostgreSQL benchmark measures with: the
// sidecar's config (postgres-fixture.ts) and the decide() micro-benchmark
// (core/policy/decide-bench.ts) both take them from here, so the figures are
// for the same policy.

export interface BenchRule {
  name: string;
  when: string;
  action: 'allow' | 'deny' | 'review';
  message?: string;
}

export const BENCH_RULES: readonly BenchRule[] = [
  {
    name: 'allow-reads-and-row-changes',
    when: "sql.statements.size() > 0 && sql.statements.all(s, s.kind in ['SELECT', 'UPDATE', 'INSERT', 'TRANSACTION'])",
    action: 'allow',
  },
  {
    name: 'deny-unbounded-changes',
    when: "sql.statements.exists(s, s.kind in ['UPDATE', 'DELETE'] && !s.hasWhere)",
    action: 'deny',
    message: 'UPDATE and DELETE need a WHERE clause.',
  },
  {
    name: 'deny-ddl',
    when: "sql.statements.exists(s, s.kind in ['DROP', 'TRUNCATE', 'ALTER', 'CREATE', 'GRANT'])",
    action: 'deny',
    message: 'No schema changes.',
  },
  {
    name: 'deny-unparseable',
    when: "sql.statements.exists(s, s.kind == 'UNPARSEABLE')",
    action: 'deny',
    message: 'The statement could not be parsed.',
  },
];
