// `agentgate-sidecar` command line: `standalone` runs the sidecar from a
// config file; `injected` runs it as the sidecar the operator injected into a
// pod (settings from the AGENTGATE_* environment); `approve`, `deny` and
// `approvals` talk to a running standalone sidecar's admin server.
// Exit status: 0 ok, 1 failure, 2 usage or configuration error.

import { userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDuration } from '../../core/policy/duration.js';
import { AdminClientError, decideApproval, listApprovals } from '../admin/admin-client.js';
import { ConfigError } from '../config/errors.js';
import { UnsupportedProtocolError, type ListenerStarters } from './listeners.js';
import { createLogger } from './logger.js';
import { UsageError } from './pod-identity.js';
import { defaultStateDir, startStandalone } from './standalone.js';
import { INJECTED_HELP, parseInjectedOptions } from '../injected/injected-options.js';
import { startInjected } from '../injected/injected.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const DEFAULT_ADMIN_PORT = 15000;

const HELP_MAIN = `agentgate-sidecar — the agentgate proxy

Usage:
  agentgate-sidecar standalone --config FILE [options]   run without a cluster
  agentgate-sidecar injected [options]                   run as the sidecar the operator injected
  agentgate-sidecar approvals [--admin-port N]           list pending approvals
  agentgate-sidecar approve ID [--reason R]              approve a held operation
  agentgate-sidecar deny ID [--reason R]                 deny a held operation

Run 'agentgate-sidecar COMMAND --help' for a command's options.
`;

const HELP_STANDALONE = `agentgate-sidecar standalone --config FILE [options]

Runs the sidecar from one YAML file of Connection, AccessPolicy and v1 Secret
documents. Each Connection listens on 127.0.0.1:spec.listen.port.

Options:
  --config FILE             the configuration file (required)
  --identity NS/SA          the pod's namespace and service account (default default/default)
  --pod-labels k=v,...      the pod's labels, for podSelector
  --record-dir DIR          where session transcripts go (DIR/<session>.jsonl, .summary.json)
  --state-dir DIR           spool and admin token (default: --record-dir, else ~/.local/state/agentgate-sidecar)
  --admin-port N            admin server on 127.0.0.1 (health, metrics, approvals; default ${DEFAULT_ADMIN_PORT}; 0 = any)
  --admin-token-file F      bearer token for approvals (default STATE_DIR/admin.token, created 0600)
  --jwks-file [ISSUER=]FILE public keys for OIDC tokens (repeatable; default: issuer discovery)
  --shutdown-grace DUR      how long sessions may finish after SIGTERM (default 30s)
  --client-auth MODE        password (agents send a token as the password), pod (no credential:
                            the pod's identity) or auto (default: password if a policy names an OIDC subject)
  --log-level L             fatal|error|warn|info|debug|trace|silent (default info)
  -h, --help                this help
`;

const HELP_DECIDE = (verb: string): string => `agentgate-sidecar ${verb} ID [options]

${verb === 'approve' ? 'Approves' : 'Denies'} the held operation ID (see 'agentgate-sidecar approvals').

Options:
  --reason R                why (recorded)
  --user U                  who decides (recorded; default: the OS user)
  --admin-port N            the sidecar's admin port (default ${DEFAULT_ADMIN_PORT})
  --admin-token-file F      the admin token (default STATE_DIR/admin.token)
  --state-dir DIR / --record-dir DIR   where to find the default token file
  -h, --help                this help
`;

const HELP_APPROVALS = `agentgate-sidecar approvals [options]

Lists operations waiting for approval.

Options:
  --admin-port N            the sidecar's admin port (default ${DEFAULT_ADMIN_PORT})
  --admin-token-file F      the admin token (default STATE_DIR/admin.token)
  --state-dir DIR / --record-dir DIR   where to find the default token file
  -o, --output FORMAT       table (default) or json
  -h, --help                this help
`;

const CLIENT_OPTIONS = {
  'admin-port': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'state-dir': { type: 'string' },
  'record-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parsePort(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`${flag} must be a port number 0..65535 (got ${JSON.stringify(value)})`);
  return n;
}

function tokenFileFrom(values: { 'admin-token-file'?: string | undefined; 'state-dir'?: string | undefined; 'record-dir'?: string | undefined }): string {
  if (values['admin-token-file'] !== undefined) return values['admin-token-file'];
  const stateDir = values['state-dir'] ?? defaultStateDir(values['record-dir']);
  return join(stateDir, 'admin.token');
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export async function runCli(
  argv: string[],
  io: CliIo,
  starters: ListenerStarters,
  signals: NodeJS.EventEmitter = process,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(HELP_MAIN);
        return command === undefined ? 2 : 0;
      case 'standalone':
        return await standalone(rest, io, starters, signals);
      case 'injected':
        return await injected(rest, io, signals, env);
      case 'approve':
      case 'deny':
        return await decide(command, rest, io);
      case 'approvals':
        return await approvalsList(rest, io);
      default:
        io.err(`unknown command ${JSON.stringify(command)}\n\n${HELP_MAIN}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof UnsupportedProtocolError) {
      io.err(`error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof AdminClientError) {
      io.err(`error: ${err.message} (${err.code})\n`);
      return 1;
    }
    const code = typeof (err as { code?: unknown }).code === 'string' ? ` (${(err as { code: string }).code})` : '';
    io.err(`error: ${(err as Error).message}${code}\n`);
    return 1;
  }
}

async function standalone(args: string[], io: CliIo, starters: ListenerStarters, signals: NodeJS.EventEmitter): Promise<number> {
  const { values } = parse(
    args,
    {
      config: { type: 'string' },
      identity: { type: 'string' },
      'pod-labels': { type: 'string' },
      'record-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      'admin-port': { type: 'string' },
      'admin-token-file': { type: 'string' },
      'jwks-file': { type: 'string', multiple: true },
      'shutdown-grace': { type: 'string' },
      'client-auth': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    false,
  );
  if (values.help) {
    io.out(HELP_STANDALONE);
    return 0;
  }
  if (values.config === undefined) throw new UsageError('--config FILE is required (see --help)');
  const clientAuth = values['client-auth'] ?? 'auto';
  if (clientAuth !== 'auto' && clientAuth !== 'password' && clientAuth !== 'pod') {
    throw new UsageError('--client-auth must be auto, password or pod');
  }
  let graceMs = 30_000;
  if (values['shutdown-grace'] !== undefined) {
    try {
      graceMs = parseDuration(values['shutdown-grace']);
    } catch (err) {
      throw new UsageError(`--shutdown-grace: ${(err as Error).message}`);
    }
  }
  let logger;
  try {
    logger = createLogger(values['log-level'] ?? 'info');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const handle = await startStandalone({
    configPath: values.config,
    identity: values.identity,
    podLabels: values['pod-labels'],
    recordDir: values['record-dir'],
    stateDir: values['state-dir'],
    adminPort: parsePort(values['admin-port'], '--admin-port', DEFAULT_ADMIN_PORT),
    adminTokenFile: values['admin-token-file'],
    jwksFiles: values['jwks-file'] ?? [],
    shutdownGraceMs: graceMs,
    clientAuth,
    logger,
    starters,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      signals.off('SIGTERM', onTerm);
      signals.off('SIGINT', onInt);
      handle.close(signal).then(resolve, (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'shutdown failed');
        resolve();
      });
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    signals.on('SIGTERM', onTerm);
    signals.on('SIGINT', onInt);
  });
  logger.flush();
  return 0;
}

async function injected(args: string[], io: CliIo, signals: NodeJS.EventEmitter, env: NodeJS.ProcessEnv): Promise<number> {
  const opts = parseInjectedOptions(args, env);
  if (opts === 'help') {
    io.out(INJECTED_HELP);
    return 0;
  }
  let logger;
  try {
    logger = createLogger(opts.logLevel);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const handle = await startInjected(opts, logger);
  await waitForSignal(signals, (signal) => handle.close(signal), logger);
  logger.flush();
  return 0;
}

/** Resolves after SIGTERM/SIGINT once `stop` finished (or failed, which is logged). */
function waitForSignal(signals: NodeJS.EventEmitter, stop: (signal: string) => Promise<void>, logger: { error(o: object, m: string): void }): Promise<void> {
  return new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      signals.off('SIGTERM', onTerm);
      signals.off('SIGINT', onInt);
      stop(signal).then(resolve, (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'shutdown failed');
        resolve();
      });
    };
    const onTerm = (): void => onSignal('SIGTERM');
    const onInt = (): void => onSignal('SIGINT');
    signals.on('SIGTERM', onTerm);
    signals.on('SIGINT', onInt);
  });
}

async function decide(verb: 'approve' | 'deny', args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(
    args,
    { ...CLIENT_OPTIONS, reason: { type: 'string' }, user: { type: 'string' } },
    true,
  );
  if (values.help) {
    io.out(HELP_DECIDE(verb));
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`${verb} takes exactly one approval id (see --help)`);
  const id = positionals[0] ?? '';
  const user = values.user ?? process.env.USER ?? userInfo().username;
  const result = await decideApproval(
    { port: parsePort(values['admin-port'], '--admin-port', DEFAULT_ADMIN_PORT), tokenFile: tokenFileFrom(values) },
    id,
    verb,
    { user, reason: values.reason },
  );
  const outcome = typeof result['outcome'] === 'string' ? result['outcome'] : 'recorded (more approvals needed)';
  io.out(`${id}: ${outcome} by ${user}\n`);
  return 0;
}

async function approvalsList(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, { ...CLIENT_OPTIONS, output: { type: 'string', short: 'o' } }, false);
  if (values.help) {
    io.out(HELP_APPROVALS);
    return 0;
  }
  const format = values.output ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError('--output must be table or json');
  const items = await listApprovals({ port: parsePort(values['admin-port'], '--admin-port', DEFAULT_ADMIN_PORT), tokenFile: tokenFileFrom(values) });
  if (format === 'json') {
    io.out(JSON.stringify(items, null, 2) + '\n');
    return 0;
  }
  if (items.length === 0) {
    io.out('no pending approvals\n');
    return 0;
  }
  const rows = [
    ['ID', 'POLICY', 'RULE', 'CONNECTION', 'REQUESTER', 'APPROVALS', 'EXPIRES', 'OPERATION'],
    ...items.map((a) => [
      a.id,
      a.policy,
      a.rule,
      a.connection,
      a.requester.sub,
      `${a.approvals.length}/${a.required}`,
      a.expiresAt,
      oneLine(a.operation, 60),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  io.out(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n');
  return 0;
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
