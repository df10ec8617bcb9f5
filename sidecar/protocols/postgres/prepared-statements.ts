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

export interface PreparedBody {
  /** 'parse': decided when the Parse arrived; 'sql': made by a PREPARE statement, decided only on execution. */
  origin: 'parse' | 'sql';
  statements: SqlStatement[];
}

export const MAX_PREPARED_NAMES = 10_000;
export const MAX_BODIES_PER_NAME = 8;

export class PreparedStatements {
  private readonly byName = new Map<string, PreparedBody[]>();

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
