// The kubectl-agentgate commands: argument parsing and dispatch. The bin
// (cli/kubectl-agentgate.ts) only wires process I/O to main().
import { parseArgs, UsageError } from './args.js';
import { decide } from './decide-command.js';
import { apiMessage, kubeContext, type Io } from './kube-context.js';
import { replay } from './replay-command.js';
import { listRequests } from './requests-command.js';
import { listSessions } from './sessions-command.js';

export const USAGE = `kubectl agentgate — approvals and session records of agentgate

Usage:
  kubectl agentgate requests [--all] [-A] [-o text|json]    pending (or all) AccessRequests
  kubectl agentgate approve NAME --reason TEXT              approve an AccessRequest
  kubectl agentgate deny NAME --reason TEXT                 deny an AccessRequest
  kubectl agentgate sessions [-A] [-o text|json]            SessionRecords, newest first
  kubectl agentgate replay NAME [--store-dir DIR] [--quiet] print a transcript and verify its hash chain

Global flags: --kubeconfig FILE, --context NAME, -n/--namespace NS (default: the context's namespace).
Exit status: 0 done, 1 refused or failed (the reason is printed), 2 bad usage.
`;

const VALUE_FLAGS = new Set(['--reason', '-o', '--output', '--store-dir']);
const BOOL_FLAGS = new Set(['--all', '--quiet', '-h', '--help']);

export async function main(argv: readonly string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, VALUE_FLAGS, BOOL_FLAGS);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`kubectl-agentgate: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (args.flags.has('--help') || args.flags.has('-h') || args.command === undefined || args.command === 'help') {
    (args.command === undefined && !args.flags.has('--help') && !args.flags.has('-h') ? io.err : io.out)(USAGE);
    return args.command === undefined && !args.flags.has('--help') && !args.flags.has('-h') ? 2 : 0;
  }
  const output = String(args.flags.get('-o') ?? args.flags.get('--output') ?? 'text');
  if (output !== 'text' && output !== 'json') {
    io.err(`kubectl-agentgate: --output must be text or json\n`);
    return 2;
  }
  const needName = (): string | undefined => {
    if (args.positionals.length !== 1) {
      io.err(`kubectl-agentgate: ${args.command ?? ''} takes exactly one NAME\n\n${USAGE}`);
      return undefined;
    }
    return args.positionals[0];
  };
  const ctx = kubeContext(args);
  try {
    switch (args.command) {
      case 'requests':
        return await listRequests(ctx, io, { all: args.flags.has('--all'), allNamespaces: args.allNamespaces, output });
      case 'sessions':
        return await listSessions(ctx, io, { allNamespaces: args.allNamespaces, output });
      case 'approve':
      case 'deny': {
        const name = needName();
        if (name === undefined) return 2;
        const reason = args.flags.get('--reason');
        if (typeof reason !== 'string' || reason.trim() === '') {
          io.err(`kubectl-agentgate: ${args.command} needs --reason TEXT (it is recorded with the decision)\n`);
          return 2;
        }
        return await decide(ctx, io, args.command, name, reason.trim());
      }
      case 'replay': {
        const name = needName();
        if (name === undefined) return 2;
        const storeDir = args.flags.get('--store-dir');
        return await replay(ctx, io, name, { storeDir: typeof storeDir === 'string' ? storeDir : undefined, quiet: args.flags.has('--quiet') });
      }
      default:
        io.err(`kubectl-agentgate: unknown command ${JSON.stringify(args.command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    io.err(`kubectl-agentgate: ${args.command}: ${apiMessage(err)}\n`);
    return 1;
  }
}

