#!/usr/bin/env node
// agentgate-operator: parse flags, load the kubeconfig, run the operator until
// SIGTERM/SIGINT, then stop gracefully (release the Lease, drain webhooks).
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { parseFlags, USAGE } from './config/flags.js';
import { createLogger } from './ops/logger.js';
import { Operator } from './operator.js';
import { ConfigError, errorMessage } from './errors.js';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function inClusterNamespace(): string | undefined {
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseFlags(process.argv.slice(2), process.env, inClusterNamespace());
  } catch (err) {
    process.stderr.write(`agentgate-operator: ${errorMessage(err)}\n\n${USAGE}\n`);
    return err instanceof ConfigError ? 2 : 1;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = createLogger(opts.logLevel);
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();

  const operator = new Operator(opts, kc, log);
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    log.info({ signal }, 'shutting down');
    stopping = operator.stop();
    stopping.then(() => process.exit(0), (err: unknown) => {
      log.error({ err: errorMessage(err) }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await operator.start();
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, 'operator failed to start');
    await operator.stop().catch(() => undefined);
    return 1;
  }
  return -1; // keep running
}

main().then((code) => {
  if (code >= 0) process.exit(code);
}, (err: unknown) => {
  process.stderr.write(`agentgate-operator: ${errorMessage(err)}\n`);
  process.exit(1);
});
