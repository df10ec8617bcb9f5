// `agentgate policy test|lint`: the sidecar's decision, computed offline from
// manifests and a request file, with the same engine and SQL classifier the
// sidecar runs (one decision path, so what the tester says is what enforces).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { compilePolicies, type Activation, type Decision, type Identity } from '../core/policy/index.js';
import type { AccessPolicyLike } from '../core/policy/policy-input.js';
import { loadManifests, validateResource, agentgateKindOf } from '../core/resources/validate.js';
import type { AccessPolicy, Connection } from '../core/resources/generated.js';
import { initSqlParser, SqlClassifier } from '../core/sql/classify.js';
import { sqlFacts } from '../core/sql/facts.js';
import { describeRequest, parseRequest, type PolicyTestRequest, RequestError } from './policy-request.js';

export interface Output {
  write(s: string): unknown;
}

const EXIT = { allow: 0, deny: 3, review: 4, badInput: 2 } as const;

export async function runPolicyCommand(argv: string[], io: { stdout: Output; stderr: Output }): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'test') return policyTest(rest, io);
  if (verb === 'lint') return policyLint(rest, io);
  io.stderr.write(`agentgate policy: expected "test" or "lint", got ${verb === undefined ? 'nothing' : `"${verb}"`}\n`);
  return EXIT.badInput;
}

interface LoadedManifests {
  policies: AccessPolicy[];
  connections: Connection[];
}

/** Reads and validates every document; returns problems as "file: document N (Kind name): path: message". */
async function loadPolicyFiles(files: string[]): Promise<{ loaded: LoadedManifests; problems: string[] }> {
  const loaded: LoadedManifests = { policies: [], connections: [] };
  const problems: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      problems.push(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    let docs: unknown[];
    try {
      docs = loadManifests(text);
    } catch (err) {
      problems.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    docs.forEach((doc, i) => {
      const kind = agentgateKindOf(doc);
      if (kind !== 'AccessPolicy' && kind !== 'Connection') return; // Secrets and others ride along
      const result = validateResource(doc);
      const name = (doc as { metadata?: { name?: unknown } }).metadata?.name;
      const where = `${file}: document ${i + 1} (${kind} ${typeof name === 'string' ? name : '?'})`;
      if (!result.ok) {
        for (const e of result.errors) problems.push(`${where}: ${e.path}: ${e.message}`);
        return;
      }
      if (result.resource.kind === 'AccessPolicy') loaded.policies.push(result.resource);
      else if (result.resource.kind === 'Connection') loaded.connections.push(result.resource);
    });
  }
  return { loaded, problems };
}

async function policyTest(argv: string[], io: { stdout: Output; stderr: Output }): Promise<number> {
  let values: { policy?: string[]; request?: string; output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        policy: { type: 'string', multiple: true, short: 'p' },
        request: { type: 'string', short: 'r' },
        output: { type: 'string', short: 'o', default: 'text' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    io.stderr.write(`agentgate policy test: ${(err as Error).message}\n`);
    return EXIT.badInput;
  }
  if (values.help === true) {
    io.stdout.write(
      'Usage: agentgate policy test --policy FILE [--policy FILE …] --request FILE [--output text|json]\n' +
        'Prints the decision the sidecar would make. Exit status: 0 allow, 3 deny, 4 review, 2 bad input.\n',
    );
    return 0;
  }
  const bad = (msg: string): number => {
    io.stderr.write(`agentgate policy test: ${msg}\n`);
    return EXIT.badInput;
  };
  if (values.policy === undefined || values.policy.length === 0) return bad('--policy FILE is required');
  if (values.request === undefined) return bad('--request FILE is required');
  if (values.output !== 'text' && values.output !== 'json') return bad(`--output must be text or json, not "${values.output}"`);

  const { loaded, problems } = await loadPolicyFiles(values.policy);
  if (problems.length > 0) return bad(`invalid policy input:\n  ${problems.join('\n  ')}`);
  if (loaded.policies.length === 0) return bad(`no AccessPolicy documents in ${values.policy.join(', ')}`);

  let request: PolicyTestRequest;
  try {
    const text = await readFile(values.request, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new RequestError(`cannot read: ${err.code ?? String(err)}`);
    });
    let raw: unknown;
    try {
      raw = parseYaml(text); // JSON is YAML
    } catch (err) {
      throw new RequestError(`not JSON or YAML: ${(err as Error).message}`);
    }
    request = parseRequest(raw, loaded.connections);
  } catch (err) {
    if (err instanceof RequestError) return bad(`${values.request}: ${err.message}`);
    throw err;
  }

  const { engine, errors } = compilePolicies(loaded.policies as unknown as AccessPolicyLike[]);
  if (errors.length > 0) return bad(`policies do not compile:\n  ${errors.map((e) => e.message).join('\n  ')}`);

  const activation = await buildActivation(request);
  const decision = engine.decide(activation);
  if (values.output === 'json') {
    io.stdout.write(
      JSON.stringify({
        action: decision.action,
        policy: decision.policy ?? null,
        rule: decision.rule ?? null,
        message: decision.message,
      }) + '\n',
    );
  } else {
    io.stdout.write(renderDecision(decision, request));
  }
  return EXIT[decision.action];
}

async function buildActivation(request: PolicyTestRequest): Promise<Activation> {
  const now = request.now ?? new Date();
  const activation: Activation = {
    identity: request.identity,
    connection: request.connection,
    session: { id: 'policy-test', startedAt: now, statements: 0, denied: 0 },
    now,
  };
  if (request.sql !== undefined) {
    await initSqlParser();
    const classified = new SqlClassifier({ maxEntries: 16 }).classify(request.sql);
    activation.sql = sqlFacts(classified);
  }
  if (request.ssh !== undefined) activation.ssh = request.ssh;
  if (request.http !== undefined) activation.http = request.http;
  return activation;
}

const LABEL: Record<Decision['action'], string> = { allow: 'ALLOW', deny: 'DENY', review: 'REVIEW' };

function renderDecision(decision: Decision, request: PolicyTestRequest): string {
  const lines: string[] = [];
  const by =
    decision.policy !== undefined ? ` by policy ${decision.policy}${decision.rule !== undefined ? `, rule "${decision.rule}"` : ''}` : '';
  lines.push(`${LABEL[decision.action]}${by}`);
  lines.push(`  message:  ${decision.message}`);
  lines.push(`  request:  ${describeRequest(request)}`);
  if (decision.action === 'review' && decision.approval !== undefined) {
    const a = decision.approval;
    const who = [...a.approvers.groups.map((g) => `group ${g}`), ...a.approvers.users.map((u) => `user ${u}`)];
    lines.push(`  approval: ${a.required} of ${who.join(', ') || '(no approvers configured)'}, scope ${a.scope}, times out after ${a.timeout}`);
  }
  if (decision.matched.length > 0) {
    lines.push('  matched rules:');
    for (const m of decision.matched) lines.push(`    ${m.action.padEnd(6)} ${m.policy} "${m.rule}"`);
  }
  for (const e of decision.errors ?? []) lines.push(`  error:    ${e.policy ?? ''}${e.rule !== undefined ? ` "${e.rule}"` : ''}: ${e.message}`);
  return lines.join('\n') + '\n';
}

async function policyLint(files: string[], io: { stdout: Output; stderr: Output }): Promise<number> {
  if (files.length === 0 || files.includes('--help') || files.includes('-h')) {
    io.stdout.write('Usage: agentgate policy lint FILE [FILE …]\nReports schema problems and CEL compile errors with line and column.\n');
    return files.length === 0 ? EXIT.badInput : 0;
  }
  const { loaded, problems } = await loadPolicyFiles(files);
  const { errors } = compilePolicies(loaded.policies as unknown as AccessPolicyLike[]);
  for (const p of problems) io.stdout.write(`${p}\n`);
  for (const e of errors) {
    io.stdout.write(`${e.message}\n`);
    if (e.expression !== undefined && e.line !== undefined) io.stdout.write(caret(e.expression, e.line, e.column ?? 1));
  }
  const count = problems.length + errors.length;
  io.stdout.write(
    count === 0
      ? `ok: ${loaded.policies.length} polic${loaded.policies.length === 1 ? 'y' : 'ies'}, ${loaded.connections.length} connection(s)\n`
      : `${count} problem(s)\n`,
  );
  return count === 0 ? 0 : EXIT.badInput;
}

/** The offending expression line with a caret under the column. */
function caret(expression: string, line: number, column: number): string {
  const text = expression.split('\n')[line - 1] ?? '';
  return `    ${text}\n    ${' '.repeat(Math.max(0, column - 1))}^\n`;
}

export type { Identity };
