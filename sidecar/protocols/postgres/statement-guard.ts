// Turns a classified statement text into what the policy decides on, and
// refuses, before any policy runs, what cannot be decided safely: text the
// parser cannot read, execution of a prepared statement the proxy has not
// seen, more prepared statements than the bounds allow. `EXECUTE x` (also
// under EXPLAIN or CREATE TABLE AS) is decided on the body of `x`, so a
// harmless-looking PREPARE cannot smuggle a DELETE past a rule.
import type { SqlFacts, SqlStatementFacts } from '../../../core/policy/activation.js';
import type { SqlClassification, SqlStatement } from '../../../core/sql/types.js';
import { mergeForMasking } from './masking-lineage.js';
import { preparedBodyText, type PreparedBody, type PreparedStatements } from './prepared-statements.js';

export interface StatementClassifier {
  classify(text: string): SqlClassification;
}

/** A refusal by the proxy itself (no policy involved); `rule` is stable. */
export interface BuiltinRefusal {
  refused: true;
  rule: 'unparseable' | 'unknown-prepared-statement' | 'prepared-statement-limit';
  message: string;
}

export interface GuardedSql {
  refused: false;
  /** The `sql` activation member. */
  facts: SqlFacts;
  /** Effective statements (EXECUTE replaced by the prepared body). */
  statements: SqlStatement[];
  /**
   * One statement per statement the backend runs, in order, for masking its
   * results: an EXECUTE is every body its name may stand for, merged
   * (masking-lineage.ts); everything else is itself.
   */
  masking: SqlStatement[];
  /** Applies the prepared-statement effects; call once the statement is allowed and forwarded. */
  commit(): void;
}

/** Classifier output is plain JSON data (strings, booleans, arrays, plain objects): a valid fact value. */
export function statementFacts(statements: readonly SqlStatement[]): SqlStatementFacts[] {
  return statements as unknown as SqlStatementFacts[];
}

/**
 * A whole-row reference in a predicate (`WHERE c::text LIKE '%123%'`,
 * `WHERE (c).ssn = …`, `ORDER BY c`, a NATURAL JOIN) compares every column of
 * the row, masked ones included; the classifier cannot list them without the
 * catalog. `columnsOf(table)` names the masked columns of a table (every
 * masked column when the table is unknown): each is added beside the
 * whole-row reference, so a rule that names masked columns
 * (`s.predicateColumns.exists(c, c.column in ['ssn'])`) sees them. Facts
 * without whole-row predicates are returned as they are.
 */
export function expandWholeRowPredicates(facts: SqlFacts, columnsOf: (table: string | undefined) => readonly string[]): SqlFacts {
  // The common case allocates nothing.
  if (!facts.statements.some((s) => Array.isArray(s.predicateColumns) && s.predicateColumns.some(isWholeRow))) return facts;
  let changed = false;
  const statements = facts.statements.map((s) => {
    const preds = s.predicateColumns;
    if (!Array.isArray(preds) || !preds.some((p) => isWholeRow(p))) return s;
    const out: Array<{ table: string; column: string }> = [];
    const seen = new Set<string>();
    const add = (table: string, column: string): void => {
      const key = `${table}\u0000${column}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ table, column });
    };
    for (const p of preds as ReadonlyArray<{ table?: unknown; column?: unknown }>) {
      const table = typeof p.table === 'string' ? p.table : '';
      const column = typeof p.column === 'string' ? p.column : '';
      add(table, column);
      if (column === '*') for (const c of columnsOf(table === '' ? undefined : table)) add(table, c);
    }
    if (out.length === preds.length) return s;
    changed = true;
    return { ...s, predicateColumns: out };
  });
  return changed ? { text: facts.text, statements } : facts;
}

function isWholeRow(p: unknown): boolean {
  return typeof p === 'object' && p !== null && (p as { column?: unknown }).column === '*';
}

function refuse(rule: BuiltinRefusal['rule'], message: string): BuiltinRefusal {
  return { refused: true, rule, message };
}

function executesPrepared(s: SqlStatement): boolean {
  return s.kind === 'EXECUTE' || s.innerKinds.includes('EXECUTE');
}

const DISCARD_ALL = /^\s*discard\s+all\b/i;

/**
 * @param parseName the statement name of a Parse message ('' for unnamed, undefined for a simple Query).
 */
export function guardSql(
  classification: SqlClassification,
  prepared: PreparedStatements,
  classifier: StatementClassifier,
  parseName?: string,
): GuardedSql | BuiltinRefusal {
  if (classification.error !== undefined) {
    return refuse('unparseable', `the statement cannot be parsed: ${classification.error.message}`);
  }
  const effective: SqlStatement[] = [];
  const masking: SqlStatement[] = [];
  const effects: Array<() => void> = [];
  // PREPAREs earlier in the same text are visible to EXECUTEs later in it.
  const overlay = new Map<string, PreparedBody[]>();
  // DEALLOCATEs earlier in the text hide older bodies (over-forgetting is safe).
  let clearedAll = false;
  const removed = new Set<string>();
  const lookup = (name: string): readonly PreparedBody[] | undefined => {
    const mine = overlay.get(name);
    const theirs = clearedAll || removed.has(name) ? undefined : prepared.get(name);
    if (mine === undefined) return theirs;
    return theirs === undefined ? mine : [...theirs, ...mine];
  };

  for (const s of classification.statements) {
    if (s.kind === 'UNPARSEABLE') return refuse('unparseable', 'the statement cannot be parsed');
    if (s.kind === 'PREPARE') {
      const name = s.preparedName;
      const bodyText = preparedBodyText(s.text);
      if (name === undefined || bodyText === undefined) return refuse('unparseable', 'cannot read the body of this PREPARE');
      const body = classifier.classify(bodyText);
      if (body.error !== undefined || body.statements.some((b) => b.kind === 'UNPARSEABLE')) {
        return refuse('unparseable', 'the body of this PREPARE cannot be parsed');
      }
      if (!prepared.canAdd(name)) return refuse('prepared-statement-limit', 'too many prepared statements in this session');
      const entry: PreparedBody = { origin: 'sql', statements: body.statements };
      overlay.set(name, [...(overlay.get(name) ?? []), entry]);
      effects.push(() => prepared.add(name, entry));
      effective.push(s);
      masking.push(s);
      continue;
    }
    if (executesPrepared(s)) {
      const name = s.preparedName;
      const bodies = name === undefined ? undefined : lookup(name);
      if (name === undefined || bodies === undefined || bodies.length === 0) {
        return refuse('unknown-prepared-statement', `prepared statement ${name === undefined ? '' : `"${name}" `}is not known to the proxy`);
      }
      if (s.kind !== 'EXECUTE') effective.push(s);
      for (const b of bodies) effective.push(...b.statements);
      if (s.kind !== 'EXECUTE') {
        masking.push(s);
      } else {
        // What the backend runs may be a body the proxy already forgot (a DEALLOCATE it skipped).
        const mine = (overlay.get(name) ?? []).flatMap((b) => b.statements);
        const known = prepared.lineage(name);
        masking.push(mergeForMasking([...(known === undefined ? [] : [known]), ...mine, ...bodies.flatMap((b) => b.statements)]) ?? s);
      }
      continue;
    }
    if (s.kind === 'DEALLOCATE') {
      // Forgetting more than the backend does is safe (unknown names are refused).
      const name = s.preparedName;
      if (name === undefined || /\bdeallocate\s+(prepare\s+)?all\b/i.test(s.text)) {
        clearedAll = true;
        overlay.clear();
        effects.push(() => prepared.clear());
      } else {
        removed.add(name);
        overlay.delete(name);
        effects.push(() => prepared.remove(name));
      }
    } else if (s.kind === 'DISCARD' && DISCARD_ALL.test(s.text)) {
      clearedAll = true;
      overlay.clear();
      effects.push(() => prepared.clear());
    }
    effective.push(s);
    masking.push(s);
  }

  if (parseName !== undefined && parseName !== '') {
    if (!prepared.canAdd(parseName)) return refuse('prepared-statement-limit', 'too many prepared statements in this session');
    const entry: PreparedBody = { origin: 'parse', statements: effective.slice() };
    effects.push(() => prepared.add(parseName, entry));
  }

  return {
    refused: false,
    facts: { text: classification.text, statements: statementFacts(effective) },
    statements: effective,
    masking,
    commit: () => {
      for (const e of effects) e();
    },
  };
}

/**
 * A Bind names a statement. One made by Parse was decided then; one made by a
 * SQL PREPARE (or a name the proxy never saw, other than the unnamed one) is
 * decided now, on its body.
 */
export function bindNeedsDecision(prepared: PreparedStatements, statement: string): { bodies: readonly PreparedBody[] } | 'known' | 'unknown' {
  if (statement === '') return 'known';
  const bodies = prepared.get(statement);
  if (bodies === undefined || bodies.length === 0) return 'unknown';
  if (bodies.every((b) => b.origin === 'parse')) return 'known';
  return { bodies };
}
