// What every prepared-statement name of a session stands for. PostgreSQL has
// one namespace for protocol-level (Parse) and SQL-level (PREPARE) prepared
// statements, and either kind can be run by the other path (`EXECUTE x`, or a
// Bind naming a statement made by PREPARE), so a name may only be executed
// against the body the proxy saw and decided on. A name can hold several
// candidate bodies (a PREPARE that the backend refused as a duplicate still
// leaves its text here); executing it is checked against all of them.
// Over-forgetting is safe (an unknown name is refused); under-forgetting is
// what the candidate lists guard against.
import { scanSync } from 'libpg-query';
import type { SqlStatement } from '../../../core/sql/types.js';
import { distinctStatements, mergeForMasking, UNKNOWN_LINEAGE } from './masking-lineage.js';

export interface PreparedBody {
  /** 'parse': decided when the Parse arrived; 'sql': made by a PREPARE statement, decided only on execution. */
  origin: 'parse' | 'sql';
  statements: SqlStatement[];
}

export const MAX_PREPARED_NAMES = 10_000;
export const MAX_BODIES_PER_NAME = 8;
/** Statement text the masking history of a session may hold (characters). */
export const MAX_HISTORY_CHARS = 8 * 1024 * 1024;

export class PreparedStatements {
  private readonly byName = new Map<string, PreparedBody[]>();
  /**
   * For masking: every statement a name has stood for in this session. Never
   * shortened by Close / DEALLOCATE / DISCARD, which the backend may have
   * skipped (behind an error, in an aborted transaction) while the proxy
   * forgot; the backend's statement is always among these. A name with too
   * many, or beyond the name bound, masks as UNKNOWN_LINEAGE.
   */
  private readonly history = new Map<string, SqlStatement[]>();
  private historyFull = false;
  /** Text held by the history: bounded, a name beyond it masks as UNKNOWN_LINEAGE. */
  private historyChars = 0;

  get(name: string): readonly PreparedBody[] | undefined {
    return this.byName.get(name);
  }

  /** False when the bounds are reached (the caller refuses the statement). */
  canAdd(name: string): boolean {
    const list = this.byName.get(name);
    if (list === undefined) return this.byName.size < MAX_PREPARED_NAMES;
    return list.length < MAX_BODIES_PER_NAME;
  }

  add(name: string, body: PreparedBody): void {
    const list = this.byName.get(name);
    if (list === undefined) this.byName.set(name, [body]);
    else list.push(body);
    this.remember(name, body.statements);
  }

  private remember(name: string, statements: readonly SqlStatement[]): void {
    const known = this.history.get(name);
    if (known === undefined && this.history.size >= MAX_PREPARED_NAMES) {
      this.historyFull = true;
      return;
    }
    if (known !== undefined && known.includes(UNKNOWN_LINEAGE)) return;
    const before = known ?? [];
    const next = distinctStatements([...before, ...statements]);
    const added = next.slice(before.length).reduce((n, st) => n + st.text.length, 0);
    if (next.length > MAX_BODIES_PER_NAME * 2 || this.historyChars + added > MAX_HISTORY_CHARS) {
      this.historyChars -= before.reduce((n, st) => n + st.text.length, 0);
      this.history.set(name, [UNKNOWN_LINEAGE]);
      return;
    }
    this.historyChars += added;
    this.history.set(name, next);
  }

  /** The statement masking must assume `name` runs (every candidate merged); undefined for a name never seen. */
  lineage(name: string): SqlStatement | undefined {
    const known = this.history.get(name);
    if (known === undefined) return this.historyFull ? UNKNOWN_LINEAGE : undefined;
    return mergeForMasking(known);
  }

  remove(name: string): void {
    this.byName.delete(name);
  }

  clear(): void {
    this.byName.clear();
  }

  get size(): number {
    return this.byName.size;
  }
}

/**
 * The statement text after `AS` in `PREPARE name [ (types) ] AS statement`,
 * found with PostgreSQL's own scanner (so quoting and comments cannot fool
 * it). Undefined when the text does not have that shape.
 */
export function preparedBodyText(prepareText: string): string | undefined {
  const bytes = Buffer.from(prepareText, 'utf8');
  let tokens;
  try {
    tokens = scanSync(prepareText).tokens;
  } catch {
    return undefined;
  }
  const first = tokens.find((t) => t.tokenName !== 'C_COMMENT' && t.tokenName !== 'SQL_COMMENT');
  if (first === undefined || first.text.toUpperCase() !== 'PREPARE') return undefined;
  let depth = 0;
  for (const t of tokens) {
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && t.keywordKind !== 0 && t.text.toUpperCase() === 'AS') {
      // Scanner offsets are byte offsets into the UTF-8 text.
      const body = bytes.subarray(t.end).toString('utf8').trim();
      return body.length > 0 ? body : undefined;
    }
  }
  return undefined;
}
