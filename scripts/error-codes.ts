// Collects every stable error code in the TypeScript sources, so that
// scripts/error-codes.test.ts can keep docs/errors.md true in both directions
// (every code documented, every documented code still exists).
//
// The scan reads syntax only (TypeScript's parser, no type checker) and counts
// a string literal as a code only where the code says so:
//   - it is assigned to, or is the type of, a field/property/variable/parameter
//     named `code`:        readonly code = 'X' | code: 'X' | const code = c ? e.code : 'X'
//                          readonly code: 'X' | 'Y' | (code: 'X' = 'X') => ...
//   - it is a member of a type alias named `...Code`/`...Codes`:  type FooCode = 'X' | 'Y'
//   - it is an element or key of a constant named `...CODES`:      const FOO_CODES = ['X'] / { X: ... }
//   - it is passed in the `code` parameter of a function, method or constructor
//     declared in the scanned sources, including `super(...)` to such a base
//     class:  new RecordingError('X', msg), super('X', 404, msg), forbidden('X', msg)
// and only if it looks like a code (upper case, digits and underscores).
// Comparisons (`e.code === 'X'`) refer to codes; they never define one.
//
// Run by hand: node --experimental-strip-types scripts/error-codes.ts [root]

import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** What a stable code looks like: SQL_TOO_LONG, USAGE, AG_API_KUBE. */
export const CODE_SHAPE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;
/** Shorter all-caps literals are protocol letters or verbs, not codes. */
const MIN_CODE_LENGTH = 4;

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'coverage']);

function isSourceFile(name: string): boolean {
  return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts');
}

async function listSources(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) await listSources(root, join(dir, e.name), out);
    } else if (e.isFile() && isSourceFile(e.name)) {
      out.push(join(dir, e.name));
    }
  }
}

/** PostgreSQL's own SQLSTATEs (five characters with a digit: XX000, 42501) are not ours. */
const SQLSTATE_SHAPE = /^(?=.*[0-9])[0-9A-Z]{5}$/;

function isCode(text: string): boolean {
  return text.length >= MIN_CODE_LENGTH && CODE_SHAPE.test(text) && !SQLSTATE_SHAPE.test(text);
}

function nameOf(node: ts.Node | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (ts.isIdentifier(node) || ts.isStringLiteral(node) || ts.isPrivateIdentifier(node)) return node.text;
  return undefined;
}

/** String literals an expression can evaluate to directly: 'X', c ? 'X' : y, a ?? 'X', 'X' as const. */
function literalsOfExpression(e: ts.Expression | undefined): string[] {
  if (e === undefined) return [];
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [e.text];
  if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) return literalsOfExpression(e.expression);
  if (ts.isConditionalExpression(e)) return [...literalsOfExpression(e.whenTrue), ...literalsOfExpression(e.whenFalse)];
  if (ts.isBinaryExpression(e)) {
    const op = e.operatorToken.kind;
    if (op === ts.SyntaxKind.QuestionQuestionToken || op === ts.SyntaxKind.BarBarToken) {
      return [...literalsOfExpression(e.left), ...literalsOfExpression(e.right)];
    }
  }
  return [];
}

/** String literal types of a type node: 'X', 'X' | 'Y' (parenthesised or not). */
function literalsOfType(t: ts.TypeNode | undefined): string[] {
  if (t === undefined) return [];
  if (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal)) return [t.literal.text];
  if (ts.isUnionTypeNode(t)) return t.types.flatMap(literalsOfType);
  if (ts.isParenthesizedTypeNode(t)) return literalsOfType(t.type);
  return [];
}

/** Elements of an array constant and keys of an object constant (`FOO_CODES`). */
function literalsOfCodeTable(e: ts.Expression | undefined): string[] {
  if (e === undefined) return [];
  if (ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isParenthesizedExpression(e)) return literalsOfCodeTable(e.expression);
  if (ts.isArrayLiteralExpression(e)) return e.elements.flatMap((x) => literalsOfExpression(x));
  if (ts.isObjectLiteralExpression(e)) {
    return e.properties.flatMap((p) => {
      const n = nameOf(p.name);
      return n === undefined ? [] : [n];
    });
  }
  if (ts.isNewExpression(e) && e.arguments?.[0] !== undefined) return literalsOfCodeTable(e.arguments[0]); // new Set([...])
  return [];
}

/**
 * Positions of parameters named `code` that the function carries on: stores
 * (`this.code = code`, `{ code }`, `readonly code` parameter property), returns
 * or passes to another call. A `code` that is only compared
 * (`isErrno(err, code)`: `e.code === code`) takes someone else's codes.
 */
function codeParamIndexes(fn: ts.SignatureDeclaration): number[] {
  const out: number[] = [];
  fn.parameters.forEach((p, i) => {
    if (nameOf(p.name) !== 'code') return;
    const isParameterProperty = (ts.getCombinedModifierFlags(p) & ts.ModifierFlags.ParameterPropertyModifier) !== 0;
    if (isParameterProperty || carriesCode(fn)) out.push(i);
  });
  return out;
}

function carriesCode(fn: ts.SignatureDeclaration): boolean {
  const body = 'body' in fn ? (fn.body as ts.Node | undefined) : undefined;
  if (body === undefined) return true; // a signature only (interface, overload): trust the name
  let carried = false;
  const visit = (node: ts.Node): void => {
    if (carried) return;
    if (ts.isIdentifier(node) && node.text === 'code') {
      const parent = node.parent;
      if (
        ts.isShorthandPropertyAssignment(parent) ||
        (ts.isPropertyAssignment(parent) && parent.initializer === node) ||
        ((ts.isCallExpression(parent) || ts.isNewExpression(parent)) && parent.arguments?.includes(node) === true) ||
        (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.EqualsToken && parent.right === node) ||
        ts.isReturnStatement(parent) ||
        ts.isArrowFunction(parent) // `(code) => code`
      ) {
        carried = true;
        return;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(body);
  return carried;
}

function addIndexes(map: Map<string, Set<number>>, name: string, indexes: number[]): void {
  if (indexes.length === 0) return;
  const set = map.get(name) ?? new Set<number>();
  for (const i of indexes) set.add(i);
  map.set(name, set);
}

/** Pass 1: every function, method or class (by name) that takes a `code` parameter, and where. */
function collectCodeTakers(file: ts.SourceFile, takers: Map<string, Set<number>>, bases: Map<string, string>): void {
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionDeclaration(node) && node.name !== undefined) {
      addIndexes(takers, node.name.text, codeParamIndexes(node));
    } else if (ts.isMethodDeclaration(node) || ts.isMethodSignature(node)) {
      const n = nameOf(node.name);
      if (n !== undefined) addIndexes(takers, n, codeParamIndexes(node));
    } else if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer !== undefined) {
      const init = node.initializer;
      if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) addIndexes(takers, node.name.text, codeParamIndexes(init));
    } else if (ts.isClassDeclaration(node) && node.name !== undefined) {
      const ctor = node.members.find(ts.isConstructorDeclaration);
      if (ctor !== undefined) addIndexes(takers, node.name.text, codeParamIndexes(ctor));
      const base = baseClassName(node);
      if (base !== undefined) bases.set(node.name.text, base);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
}

function baseClassName(c: ts.ClassLikeDeclaration): string | undefined {
  for (const h of c.heritageClauses ?? []) {
    if (h.token !== ts.SyntaxKind.ExtendsKeyword) continue;
    const t = h.types[0];
    if (t !== undefined && ts.isIdentifier(t.expression)) return t.expression.text;
  }
  return undefined;
}

/** Index of `code` in a constructor, following `extends` when a class has no constructor of its own. */
function ctorIndexes(name: string, takers: Map<string, Set<number>>, bases: Map<string, string>): Set<number> | undefined {
  let n: string | undefined = name;
  for (let depth = 0; n !== undefined && depth < 16; depth++) {
    const found = takers.get(n);
    if (found !== undefined) return found;
    n = bases.get(n);
  }
  return undefined;
}

/** Pass 2: the code literals of one file. */
function collectFromFile(file: ts.SourceFile, takers: Map<string, Set<number>>, bases: Map<string, string>): Set<string> {
  const found = new Set<string>();
  const add = (texts: string[]): void => {
    for (const t of texts) if (isCode(t)) found.add(t);
  };
  const addArgs = (args: ts.NodeArray<ts.Expression> | undefined, indexes: Set<number> | undefined): void => {
    if (args === undefined || indexes === undefined) return;
    for (const i of indexes) add(literalsOfExpression(args[i]));
  };

  const visit = (node: ts.Node, enclosingClass: ts.ClassLikeDeclaration | undefined): void => {
    if (ts.isPropertyDeclaration(node) || ts.isPropertySignature(node)) {
      if (nameOf(node.name) === 'code') {
        add(literalsOfType(node.type));
        if (ts.isPropertyDeclaration(node)) add(literalsOfExpression(node.initializer));
      }
    } else if (ts.isPropertyAssignment(node)) {
      if (nameOf(node.name) === 'code') add(literalsOfExpression(node.initializer));
    } else if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) {
      if (node.name.text === 'code') {
        add(literalsOfType(node.type));
        add(literalsOfExpression(node.initializer));
      } else if (/CODES$/.test(node.name.text)) {
        add(literalsOfCodeTable(node.initializer));
      }
    } else if (ts.isParameter(node) && nameOf(node.name) === 'code') {
      add(literalsOfType(node.type));
      add(literalsOfExpression(node.initializer));
    } else if (ts.isTypeAliasDeclaration(node) && /Codes?$/.test(node.name.text)) {
      add(literalsOfType(node.type));
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression)) {
      addArgs(node.arguments, ctorIndexes(node.expression.text, takers, bases));
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.SuperKeyword) {
        const base = enclosingClass !== undefined ? baseClassName(enclosingClass) : undefined;
        if (base !== undefined) addArgs(node.arguments, ctorIndexes(base, takers, bases));
      } else if (ts.isIdentifier(node.expression)) {
        addArgs(node.arguments, takers.get(node.expression.text));
      } else if (ts.isPropertyAccessExpression(node.expression) && node.expression.expression.kind === ts.SyntaxKind.ThisKeyword) {
        addArgs(node.arguments, takers.get(node.expression.name.text));
      }
    }
    const cls = ts.isClassDeclaration(node) || ts.isClassExpression(node) ? node : enclosingClass;
    ts.forEachChild(node, (child) => visit(child, cls));
  };
  visit(file, undefined);
  return found;
}

/**
 * Every stable error code under `root`, with the files (relative, `/`-separated,
 * sorted) that define or raise it. Scans `.ts` files, not `*.test.ts`, `*.d.ts`,
 * node_modules, dist or dot-directories.
 */
export async function collectErrorCodes(root: string): Promise<Map<string, string[]>> {
  const paths: string[] = [];
  await listSources(root, root, paths);
  paths.sort();
  const files = await Promise.all(
    paths.map(async (p) => ts.createSourceFile(p, await readFile(p, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)),
  );
  const takers = new Map<string, Set<number>>();
  const bases = new Map<string, string>();
  for (const f of files) collectCodeTakers(f, takers, bases);

  const byCode = new Map<string, string[]>();
  for (const f of files) {
    const rel = relative(root, f.fileName).split(sep).join('/');
    for (const code of collectFromFile(f, takers, bases)) {
      const list = byCode.get(code) ?? [];
      list.push(rel);
      byCode.set(code, list);
    }
  }
  return new Map([...byCode.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The codes named in the first column of the Markdown tables of `markdown` (`` `CODE` `` cells). */
export function documentedErrorCodes(markdown: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  markdown.split('\n').forEach((line, i) => {
    const m = /^\s*\|([^|]*)\|/.exec(line);
    if (m === null) return;
    for (const tick of (m[1] ?? '').matchAll(/`([^`]+)`/g)) {
      const code = tick[1] ?? '';
      if (!CODE_SHAPE.test(code)) continue;
      const lines = out.get(code) ?? [];
      lines.push(i + 1);
      out.set(code, lines);
    }
  });
  return out;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = process.argv[2] ?? process.cwd();
  const codes = await collectErrorCodes(root);
  for (const [code, where] of codes) console.log(`${code}\t${where.join(' ')}`);
  console.log(`${codes.size} codes`);
}
