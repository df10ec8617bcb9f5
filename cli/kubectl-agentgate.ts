#!/usr/bin/env node
// `kubectl agentgate …` (a kubectl plugin: kubectl runs kubectl-agentgate from
// PATH). Approvers list and decide AccessRequests; anyone RBAC lets read
// SessionRecords lists sessions and replays their verified transcripts.
import { main } from './kubectl/plugin.js';

main(process.argv.slice(2), { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`kubectl-agentgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
