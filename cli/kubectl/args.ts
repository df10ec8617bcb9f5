// Command-line parsing for kubectl-agentgate: kubectl's global flags that a
// plugin should honour (--kubeconfig, --context, -n/--namespace,
// -A/--all-namespaces) plus each command's own. Unknown flags are errors.

export class UsageError extends Error {
  readonly code = 'AG_CLI_USAGE';
}

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  allNamespaces: boolean;
  flags: Map<string, string | true>;
}

const GLOBAL_VALUE = new Map([['--kubeconfig', 'kubeconfig'], ['--context', 'context'], ['-n', 'namespace'], ['--namespace', 'namespace']]);

/** `valueFlags`: the command's flags that take a value; `boolFlags`: those that do not. */
export function parseArgs(argv: readonly string[], valueFlags: ReadonlySet<string>, boolFlags: ReadonlySet<string>): ParsedArgs {
  const out: ParsedArgs = { command: undefined, positionals: [], allNamespaces: false, flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const global = GLOBAL_VALUE.get(flag);
    if (global !== undefined) {
      (out as unknown as Record<string, string>)[global] = value();
    } else if (flag === '-A' || flag === '--all-namespaces') {
      out.allNamespaces = true;
    } else if (valueFlags.has(flag)) {
      out.flags.set(flag, value());
    } else if (boolFlags.has(flag)) {
      out.flags.set(flag, true);
    } else if (flag.startsWith('-') && flag !== '-') {
      throw new UsageError(`unknown flag ${flag}`);
    } else if (out.command === undefined) {
      out.command = raw;
    } else {
      out.positionals.push(raw);
    }
  }
  return out;
}
