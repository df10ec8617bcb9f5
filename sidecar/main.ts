#!/usr/bin/env node
// agentgate-sidecar entry point (bin). All logic is in standalone/cli.ts.
import { runCli } from './standalone/cli.js';
import { STANDALONE_STARTERS } from './standalone/protocol-starters.js';

const code = await runCli(
  process.argv.slice(2),
  { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
  STANDALONE_STARTERS,
);
// Exit explicitly: after a graceful shutdown nothing may keep the process alive.
process.exit(code);
