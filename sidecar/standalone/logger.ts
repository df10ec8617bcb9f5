// JSON logs (pino). Anything that looks like a credential is redacted by path,
// as a second line of defence: code never logs secrets on purpose.

import { pino, type Logger, type LevelWithSilent } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const SECRET_KEYS = ['password', 'token', 'credential', 'credentials', 'authorization', 'secret', 'privateKey', 'adminToken'];

export function redactPaths(): string[] {
  const paths: string[] = [];
  for (const k of SECRET_KEYS) paths.push(k, `*.${k}`, `*.*.${k}`);
  paths.push('headers.authorization', '*.headers.authorization', 'req.headers.authorization');
  return paths;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  if (!LOG_LEVELS.includes(level as LevelWithSilent)) {
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`);
  }
  const opts: pino.LoggerOptions = {
    level,
    base: { component: 'agentgate-sidecar' },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(opts, destination) : pino(opts);
}

export type { Logger };
