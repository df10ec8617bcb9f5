// Chapter 1 of `make demo`: the offline policy tester over the examples, as a
// platform engineer uses it before applying a policy.
import { join } from 'node:path';
import { chapter, check, run, say } from './narrator.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'agentgate.js');

export async function policyTesterChapter(): Promise<void> {
  chapter('Offline policy tester (agentgate policy test / lint)');
  say('Lint the example policies: schema and CEL are checked before anything reaches a cluster.');
  await run('agentgate policy lint examples/*.yaml', process.execPath,
    [CLI, 'policy', 'lint', 'examples/postgres-customers.yaml', 'examples/ssh-ops.yaml', 'examples/http-readonly.yaml']);
  const cases: [string, string, number][] = [
    ['examples/postgres-customers.yaml', 'examples/requests/postgres-select-customers.allow.yaml', 0],
    ['examples/postgres-customers.yaml', 'examples/requests/postgres-update-with-where.review.yaml', 4],
    ['examples/postgres-customers.yaml', 'examples/requests/postgres-delete-without-where.deny.yaml', 3],
    ['examples/ssh-ops.yaml', 'examples/requests/ssh-systemctl-restart.review.yaml', 4],
    ['examples/http-readonly.yaml', 'examples/requests/http-post-refund.deny.yaml', 3],
  ];
  for (const [policy, request, code] of cases) {
    say(`What would the sidecar decide for ${request.split('/').pop() ?? request}?`);
    await run(`agentgate policy test --policy ${policy} --request ${request}`, process.execPath,
      [CLI, 'policy', 'test', '--policy', policy, '--request', request], { expect: code });
  }
  say('The same decision as one JSON object, for scripts and CI (exit status 0 allow, 3 deny, 4 review).');
  const r = await run('agentgate policy test … --output json', process.execPath,
    [CLI, 'policy', 'test', '--policy', 'examples/postgres-customers.yaml', '--request',
      'examples/requests/postgres-delete-without-where.deny.yaml', '--output', 'json'], { expect: 3 });
  check((JSON.parse(r.stdout) as { action: string }).action === 'deny', 'action is deny');
}
