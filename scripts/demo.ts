// `make demo`: the whole product, end to end, on this machine. Each chapter
// starts the real parts it needs and checks what it shows; a failed check
// fails the demo.
import { clusterChapter } from './demo/cluster.js';
import { policyTesterChapter } from './demo/policy-tester.js';
import { standalonePostgresChapter } from './demo/standalone-postgres.js';

const chapters: [string, () => Promise<void>][] = [
  ['policy-tester', policyTesterChapter],
  ['postgres', standalonePostgresChapter],
  ['cluster', clusterChapter],
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  for (const [name, chapter] of chapters) {
    if (only.length > 0 && !only.includes(name)) continue;
    await chapter();
  }
  process.stdout.write('\nDemo complete.\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
