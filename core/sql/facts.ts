// A classification as the policy activation's `sql` member. One conversion,
// used by the sidecar and the offline tester alike, so both decide on the
// same facts.
import type { SqlFacts, SqlStatementFacts } from '../policy/activation.js';
import type { ColumnRef, SqlClassification, SqlStatement } from './types.js';

const refFacts = (r: ColumnRef): { table: string; column: string } => ({ table: r.table ?? '', column: r.column });

export function statementFacts(s: SqlStatement): SqlStatementFacts {
  return {
    kind: s.kind,
    text: s.text,
    tables: s.tables,
    functions: s.functions,
    hasWhere: s.hasWhere,
    writes: s.writes,
    innerKinds: s.innerKinds,
    program: s.program,
    locking: s.locking,
    copyDirection: s.copyDirection ?? '',
    preparedName: s.preparedName ?? '',
    setting: s.setting ?? '',
    cursorName: s.cursorName ?? '',
    predicateColumns: s.predicateColumns.map(refFacts),
    outputColumns: (s.outputColumns ?? []).map((c) => ({
      name: c.name,
      refs: c.refs.map(refFacts),
      direct: c.direct,
      star: c.star === true,
    })),
  };
}

export function sqlFacts(c: SqlClassification): SqlFacts {
  return { text: c.text, statements: c.statements.map(statementFacts) };
}
