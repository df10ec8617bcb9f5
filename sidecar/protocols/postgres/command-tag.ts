// CommandComplete tags ("SELECT 3", "INSERT 0 5", "CREATE TABLE"): which
// command completed and how many rows it returned or touched, for the
// statement's recorded outcome. Tags are the backend's fixed command names
// followed by counts; they never carry data values.

export interface CommandTag {
  /** The tag without its counts: "SELECT", "INSERT", "CREATE TABLE". */
  command: string;
  /** Rows returned or affected; undefined when the command reports none. */
  rows: number | undefined;
}

/** Commands whose tag ends in a row count ("SELECT n"; INSERT is "INSERT oid n"). */
const COUNTED = new Set(['SELECT', 'UPDATE', 'DELETE', 'COPY', 'FETCH', 'MOVE', 'MERGE']);

/** Longest command name kept (tags are short; anything longer is cut). */
const MAX_COMMAND = 64;

function count(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,15}$/.test(s)) return undefined;
  return Number(s);
}

export function parseCommandTag(tag: string): CommandTag {
  const parts = tag.split(' ');
  const verb = parts[0] ?? '';
  if (verb === 'INSERT' && parts.length === 3 && count(parts[1]) !== undefined) {
    const rows = count(parts[2]);
    if (rows !== undefined) return { command: verb, rows };
  }
  if (COUNTED.has(verb) && parts.length === 2) {
    const rows = count(parts[1]);
    if (rows !== undefined) return { command: verb, rows };
  }
  return { command: tag.slice(0, MAX_COMMAND), rows: undefined };
}
