// JSON logs with pino. Redaction is a last line of defence: the code never
// passes Secret data, tokens or admission objects to the logger in the first
// place.
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'token', '*.token', 'password', '*.password', 'data', '*.data', 'stringData', '*.stringData',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'key', '*.key', 'keyPem', '*.keyPem', 'privateKey', '*.privateKey',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const opts: pino.LoggerOptions = {
    level,
    base: { component: 'agentgate-operator' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
