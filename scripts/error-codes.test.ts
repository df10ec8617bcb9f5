// Keeps docs/errors.md true: every stable error code in the source is
// documented, and every documented code still exists. The scanner itself is
// pinned on a fixture tree, so that a scanner that finds nothing (or finds
// everything) cannot make the page look right.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectErrorCodes, documentedErrorCodes } from './error-codes.js';

const repo = fileURLToPath(new URL('../', import.meta.url));
const DOC = 'docs/errors.md';

describe('docs/errors.md', () => {
  let source: Map<string, string[]>;
  let documented: Map<string, number[]>;

  beforeAll(async () => {
    source = await collectErrorCodes(repo);
    documented = documentedErrorCodes(await readFile(join(repo, DOC), 'utf8'));
  });

  it('finds the codes of every component in the source', () => {
    // A floor, not the count: a scanner that silently stopped matching would
    // otherwise pass the two checks below against an empty page.
    const prefixes = ['AG_API_', 'AG_APPROVAL_', 'AG_CRED_', 'AUTH_', 'MASK_', 'PG_', 'POLICY_', 'RECORD_', 'SQL_', 'CONFIG_', 'ADMIN_', 'CONTROL_PLANE_'];
    for (const p of prefixes) expect([...source.keys()].filter((c) => c.startsWith(p)).length).toBeGreaterThan(0);
    expect(source.size).toBeGreaterThan(100);
  });

  it('documents every code found in the source', () => {
    const missing = [...source].filter(([code]) => !documented.has(code)).map(([code, files]) => `${code} (${files.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('documents no code the source no longer has', () => {
    const stale = [...documented].filter(([code]) => !source.has(code)).map(([code, lines]) => `${code} (${DOC}:${lines.join(',')})`);
    expect(stale).toEqual([]);
  });

  it('documents each code in exactly one row', () => {
    const twice = [...documented].filter(([, lines]) => lines.length > 1).map(([code, lines]) => `${code} (${DOC}:${lines.join(',')})`);
    expect(twice).toEqual([]);
  });
});

describe('collectErrorCodes', () => {
  let root: string;

  const fixture: Record<string, string> = {
    // Each way a code is defined, once.
    'core/field.ts': `export class A extends Error { readonly code = 'FIX_FIELD_INIT'; }`,
    'core/field-type.ts': `export class B extends Error { readonly code: 'FIX_FIELD_TYPE_A' | 'FIX_FIELD_TYPE_B'; constructor(c: 'FIX_FIELD_TYPE_A' | 'FIX_FIELD_TYPE_B') { super(); this.code = c; } }`,
    'core/union.ts': `export type FixErrorCode =\n  | 'FIX_UNION_A' // comment\n  | 'FIX_UNION_B';\nexport type Other = 'NOT_A_CODE_UNION';`,
    'core/table.ts': `export const FIX_CODES = ['FIX_TABLE_ARRAY'] as const;\nexport const MORE_CODES = { FIX_TABLE_KEY: 404 };\nexport const STRATEGIES = ['NOT_A_CODE_TABLE'];`,
    'core/base.ts': [
      `export class BaseError extends Error { readonly code: string; constructor(code: string, message: string) { super(message); this.code = code; } }`,
      `export class StatusError extends Error { constructor(readonly status: number, readonly code: string) { super(''); } }`,
      `export class ChildError extends BaseError { constructor() { super('FIX_SUPER', 'm'); } }`,
      `export class GrandChildError extends ChildError {}`,
    ].join('\n'),
    'core/use.ts': [
      `import { BaseError, StatusError } from './base.js';`,
      `export const a = new BaseError('FIX_NEW', \`text \${1}\`);`,
      `export const b = new StatusError(503, 'FIX_NEW_SECOND_ARG');`,
      `export const forbidden = (code: string, message: string) => new StatusError(403, code);`,
      `export const c = forbidden('FIX_HELPER', 'NOT_A_CODE_MESSAGE');`,
      `export const d = { error: 'x', code: 'FIX_PROPERTY' };`,
      `export function pick(e: unknown) { const code = e instanceof BaseError ? e.code : 'FIX_VARIABLE'; return code; }`,
      `export const e = new BaseError(Math.random() > 0.5 ? 'FIX_CONDITIONAL_A' : 'FIX_CONDITIONAL_B', 'm');`,
    ].join('\n'),
    // Look like codes, are not ours.
    'core/distractors.ts': [
      `export function isErrno(err: unknown, code: string): boolean { return (err as { code?: unknown }).code === code; }`,
      `export const gone = isErrno(new Error(), 'ENOENT');`,
      `export const compared = (e: { code: string }) => e.code === 'NOT_A_CODE_COMPARED';`,
      `export const kinds = ['SELECT', 'NOT_A_CODE_LIST'];`,
      `export const sqlstate = { code: 'XX000' };`,
      `export const letter = { code: 'D' };`,
      `export const lower = { code: 'not_upper_case' };`,
      `export const env = process.env['NOT_A_CODE_ENV'];`,
      `// readonly code = 'NOT_A_CODE_COMMENT'`,
      `export const text = "readonly code = 'NOT_A_CODE_IN_STRING'";`,
    ].join('\n'),
    // Files the scan skips.
    'core/field.test.ts': `export class T extends Error { readonly code = 'NOT_A_CODE_TEST_FILE'; }`,
    'node_modules/dep/index.ts': `export class N extends Error { readonly code = 'NOT_A_CODE_NODE_MODULES'; }`,
    'dist/core/field.ts': `export class D extends Error { readonly code = 'NOT_A_CODE_DIST'; }`,
    'core/types.d.ts': `export declare class Decl extends Error { readonly code: 'NOT_A_CODE_DECLARATION'; }`,
    'core/readme.md': `readonly code = 'NOT_A_CODE_MARKDOWN'`,
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'error-codes-'));
    for (const [path, text] of Object.entries(fixture)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), text);
    }
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds exactly the codes defined by the recognised patterns', async () => {
    const codes = await collectErrorCodes(root);
    expect([...codes.keys()]).toEqual([
      'FIX_CONDITIONAL_A',
      'FIX_CONDITIONAL_B',
      'FIX_FIELD_INIT',
      'FIX_FIELD_TYPE_A',
      'FIX_FIELD_TYPE_B',
      'FIX_HELPER',
      'FIX_NEW',
      'FIX_NEW_SECOND_ARG',
      'FIX_PROPERTY',
      'FIX_SUPER',
      'FIX_TABLE_ARRAY',
      'FIX_TABLE_KEY',
      'FIX_UNION_A',
      'FIX_UNION_B',
      'FIX_VARIABLE',
    ]);
  });

  it('names the files that define each code, relative to the root', async () => {
    const codes = await collectErrorCodes(root);
    expect(codes.get('FIX_SUPER')).toEqual(['core/base.ts']);
    expect(codes.get('FIX_HELPER')).toEqual(['core/use.ts']);
    expect(codes.get('FIX_UNION_A')).toEqual(['core/union.ts']);
  });
});

describe('documentedErrorCodes', () => {
  it('reads codes from the first column of tables only, with their line numbers', () => {
    const md = [
      'Intro mentions `NOT_IN_TABLE` in prose.',
      '',
      '| code | class | when |',
      '|---|---|---|',
      '| `DOC_ONE` | `SomeError` | raises `NOT_FIRST_COLUMN` |',
      '| `DOC_TWO`, `DOC_THREE` | x | y |',
      '| `lowercase_thing` | x | y |',
      '| `DOC_ONE` | again | z |',
    ].join('\n');
    expect([...documentedErrorCodes(md)]).toEqual([
      ['DOC_ONE', [5, 8]],
      ['DOC_TWO', [6]],
      ['DOC_THREE', [6]],
    ]);
  });
});
