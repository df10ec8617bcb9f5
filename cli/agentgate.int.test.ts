// The offline policy tester, run as a platform engineer runs it: the built
// `agentgate` command as a child process, over every example request. Each
// request file's name ends in the decision it must get (…​.allow|deny|review.*).
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli/agentgate.js');
const POLICY_FOR: Record<string, string> = {
  postgres: 'examples/postgres-customers.yaml',
  ssh: 'examples/ssh-ops.yaml',
  http: 'examples/http-readonly.yaml',
};
const EXIT: Record<string, number> = { allow: 0, deny: 3, review: 4 };

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

let scratch: string;
beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` first (make test does)`);
  scratch = await mkdtemp(join(tmpdir(), 'agentgate-cli-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('agentgate policy test over the examples', () => {
  it('gives every example request the decision its name promises, in text and json', async () => {
    const files = (await readdir(join(ROOT, 'examples/requests'))).sort();
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const file of files) {
      const m = /^(postgres|ssh|http)-.*\.(allow|deny|review)\.(ya?ml|json)$/.exec(file);
      expect(m).not.toBeNull();
      const [, protocol, expected] = m as RegExpExecArray;
      const args = ['policy', 'test', '--policy', POLICY_FOR[protocol as string] as string, '--request', `examples/requests/${file}`];
      const json = await run([...args, '--output', 'json']);
      expect({ file, code: json.code, stderr: json.stderr }).toEqual({ file, code: EXIT[expected as string], stderr: '' });
      const lines = json.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const decision = JSON.parse(lines[0] as string) as Record<string, unknown>;
      expect(Object.keys(decision).sort()).toEqual(['action', 'message', 'policy', 'rule']);
      expect(decision.action).toBe(expected);
      if (expected !== 'deny' || decision.policy !== null) expect(decision.message).toContain(String(decision.rule));
      const text = await run(args);
      expect(text.code).toBe(EXIT[expected as string]);
      expect(text.stdout).toMatch(new RegExp(`^${(expected as string).toUpperCase()}\\b`));
      expect(text.stdout).toContain('request:');
    }
  });

  it('explains a review with its approvers', async () => {
    const r = await run([
      'policy', 'test', '--policy', POLICY_FOR.postgres as string,
      '--request', 'examples/requests/postgres-update-with-where.review.yaml',
    ]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/approval: 1 of group dba, scope once/);
  });
});

describe('agentgate policy test with bad input', () => {
  it('refuses a request with no operation, naming what is missing', async () => {
    const req = join(scratch, 'no-op.json');
    await writeFile(req, JSON.stringify({ identity: { pod: { namespace: 'support' } }, connection: 'customers-db' }));
    const r = await run(['policy', 'test', '--policy', POLICY_FOR.postgres as string, '--request', req]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs exactly one of sql, ssh, http \(found none\)/);
    expect(r.stdout).toBe('');
  });

  it('refuses a misspelled field with its path', async () => {
    const req = join(scratch, 'typo.json');
    await writeFile(req, JSON.stringify({ identity: { pod: { namespace: 'support', lables: {} } }, connection: 'customers-db', sql: 'select 1' }));
    const r = await run(['policy', 'test', '--policy', POLICY_FOR.postgres as string, '--request', req]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('identity.pod.lables: unknown field');
  });

  it('refuses a request whose protocol does not match the connection', async () => {
    const req = join(scratch, 'mismatch.json');
    await writeFile(req, JSON.stringify({ connection: 'customers-db', ssh: { command: 'uptime' } }));
    const r = await run(['policy', 'test', '--policy', POLICY_FOR.postgres as string, '--request', req]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"customers-db" is a postgres connection, but the request is ssh');
  });

  it('refuses a missing file and an unknown option', async () => {
    const missing = await run(['policy', 'test', '--policy', 'nope.yaml', '--request', 'examples/requests/ssh-uptime.allow.yaml']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.yaml: cannot read: ENOENT');
    const unknown = await run(['policy', 'test', '--polcy', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--polcy'/);
  });

  it('refuses a schema-invalid policy with the path of the problem', async () => {
    const pol = join(scratch, 'bad-schema.yaml');
    await writeFile(
      pol,
      [
        'apiVersion: agentgate.dev/v1alpha1',
        'kind: AccessPolicy',
        'metadata: {name: p, namespace: ns}',
        'spec:',
        '  podSelector: {}',
        '  subjects: [{serviceAccount: {name: a}}]',
        '  connections: [db]',
        '  rules: [{name: r, when: "true", action: permit}]',
      ].join('\n'),
    );
    const r = await run(['policy', 'test', '--policy', pol, '--request', 'examples/requests/postgres-insert.deny.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('spec.rules[0].action');
  });
});

describe('agentgate policy lint', () => {
  it('passes the examples', async () => {
    const r = await run(['policy', 'lint', ...Object.values(POLICY_FOR)]);
    expect(r.stdout).toMatch(/^ok: 3 policies, 3 connection\(s\)$/m);
    expect(r.code).toBe(0);
  });

  it('reports a CEL error with its line and column and a caret', async () => {
    const pol = join(scratch, 'bad-cel.yaml');
    await writeFile(
      pol,
      [
        'apiVersion: agentgate.dev/v1alpha1',
        'kind: AccessPolicy',
        'metadata: {name: p, namespace: ns}',
        'spec:',
        '  podSelector: {}',
        '  subjects: [{serviceAccount: {name: a}}]',
        '  connections: [db]',
        '  rules:',
        '    - name: broken',
        '      action: allow',
        '      when: |-',
        "        sql.statements.all(s, s.kind == 'SELECT') &&",
        '        sql.text.startsWith(',
      ].join('\n'),
    );
    const r = await run(['policy', 'lint', pol]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/policy ns\/p: spec\.rules\[0\]\.when \(rule broken\): .* at 2:\d+/);
    expect(r.stdout).toContain('^');
    expect(r.stdout).toMatch(/1 problem\(s\)/);
  });
});
