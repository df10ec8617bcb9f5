// Narration for `make demo`: numbered steps, the command a person would type,
// and its output indented, so the demo reads like a walkthrough.
import { runCommand, type RunResult } from '../../testkit/processes.js';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

let step = 0;

export function chapter(title: string): void {
  process.stdout.write(`\n${bold(`══ ${title} ${'═'.repeat(Math.max(0, 70 - title.length))}`)}\n`);
}

export function say(text: string): void {
  step += 1;
  process.stdout.write(`\n${bold(`${step}.`)} ${text}\n`);
}

export function note(text: string): void {
  process.stdout.write(`${dim(`   ${text}`)}\n`);
}

export function show(output: string): void {
  const trimmed = output.replace(/\s+$/, '');
  if (trimmed !== '') process.stdout.write(trimmed.split('\n').map((l) => `     ${l}`).join('\n') + '\n');
}

/** Runs a command, prints `$ shown` and its output; fails the demo when the exit status is not `expect`. */
export async function run(
  shown: string,
  bin: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; expect?: number; input?: string } = {},
): Promise<RunResult> {
  process.stdout.write(`   ${dim('$')} ${shown}\n`);
  const r = await runCommand(bin, args, { env: opts.env, input: opts.input, timeoutMs: 120_000 });
  show([r.stdout, r.stderr].filter((s) => s.trim() !== '').join('\n'));
  const expected = opts.expect ?? 0;
  if (r.code !== expected) throw new Error(`demo step failed: "${shown}" exited ${r.code}, expected ${expected}`);
  return r;
}

export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`demo check failed: ${what}`);
  process.stdout.write(`   ✔ ${what}\n`);
}
