// Configuration failure modes (standalone config file), each with a stable code.

/** One problem, located in the config file when possible. */
export interface ConfigProblem {
  message: string;
  /** e.g. "Connection team-a/orders-db" */
  object?: string | undefined;
  /** JSON-path-like field, e.g. "spec.rules[0].when" */
  field?: string | undefined;
  line?: number | undefined;
  column?: number | undefined;
}

export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}:${p.column ?? 1}` : file;
  const what = [p.object, p.field].filter((x) => x !== undefined && x !== '').join(' ');
  return `${where}: ${what !== '' ? `${what}: ` : ''}${p.message}`;
}

/** The config file is invalid; `problems` lists every problem found (not only the first). */
export class ConfigError extends Error {
  readonly code: string;
  readonly problems: readonly ConfigProblem[];
  constructor(code: string, file: string, problems: readonly ConfigProblem[]) {
    super(`${file}: ${problems.length} problem(s) in the configuration:\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.code = code;
    this.problems = problems;
  }
}
