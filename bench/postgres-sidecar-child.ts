// The sidecar under benchmark, in a process of its own (so its CPU and memory
// are its own): standalone mode as an agent would run it — the config file's
// Connection and AccessPolicy compiled by the real policy engine, pod
// identity, masking, recording through the spool to --record-dir.
//   node dist/bench/postgres-sidecar-child.js --config FILE --record-dir DIR --identity NS/SA --pod-labels k=v --connection NAME
// prints `READY <port>` on stdout; SIGTERM/SIGINT shut it down gracefully and
// exit 0 (so `node --cpu-prof` writes its profile).
import { parseArgs } from 'node:util';
import { createLogger } from '../sidecar/standalone/logger.js';
import { STANDALONE_STARTERS } from '../sidecar/standalone/protocol-starters.js';
import { startStandalone } from '../sidecar/standalone/standalone.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      'record-dir': { type: 'string' },
      identity: { type: 'string' },
      'pod-labels': { type: 'string' },
      connection: { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  if (values.config === undefined || values.connection === undefined) {
    throw new Error('usage: postgres-sidecar-child.js --config FILE --connection NAME [--record-dir DIR] [--identity NS/SA] [--pod-labels k=v]');
  }
  // Logs to stderr (the parent keeps them in a file); info would log every session, as in production.
  const logger = createLogger(values['log-level'] ?? 'info', process.stderr);
  const handle = await startStandalone({
    configPath: values.config,
    identity: values.identity,
    podLabels: values['pod-labels'],
    recordDir: values['record-dir'],
    adminPort: 0,
    clientAuth: 'pod',
    shutdownGraceMs: 2000,
    logger,
    starters: STANDALONE_STARTERS,
  });
  const listener = handle.listeners.get(values.connection);
  if (listener === undefined) throw new Error(`no listener for connection ${values.connection}`);
  const stop = (): void => {
    handle.close('benchmark done').then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`READY ${listener.port}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`postgres-sidecar-child: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
