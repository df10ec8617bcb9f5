#!/usr/bin/env node
// `agentgate`: the platform team's offline tools. `policy test` answers "what
// would the sidecar decide for this request under these policies?" without a
// cluster; `policy lint` reports CEL errors with line and column.
import { runPolicyCommand } from './policy-command.js';

const USAGE = `agentgate — offline tools for agentgate policies

Usage:
  agentgate policy test --policy FILE [--policy FILE …] --request FILE [--output text|json]
  agentgate policy lint FILE [FILE …]
  agentgate --help

Exit status: 0 allow (lint: clean), 3 deny, 4 review, 2 bad input (lint: errors found).
`;

async function main(argv: string[]): Promise<number> {
  const [group, ...rest] = argv;
  if (group === undefined || group === '--help' || group === '-h' || group === 'help') {
    process.stdout.write(USAGE);
    return group === undefined ? 2 : 0;
  }
  if (group === 'policy') return runPolicyCommand(rest, { stdout: process.stdout, stderr: process.stderr });
  process.stderr.write(`agentgate: unknown command "${group}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`agentgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
