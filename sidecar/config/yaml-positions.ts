// Where things are in the YAML source, so every config error names a line
// and column: a field path to its node, and a position inside a CEL
// expression (1-based line/column in the expression) to the file.

import { isScalar, type Document, type LineCounter, type Node } from 'yaml';

export type FieldPath = Array<string | number>;

/** "spec.rules[2].when" → ["spec", "rules", 2, "when"] */
export function parseFieldPath(field: string): FieldPath {
  const out: FieldPath = [];
  for (const part of field.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const idx of (m[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** The deepest node on `path` that exists (so a missing field points at its parent). */
export function nodeAt(doc: Document, path: FieldPath): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as unknown;
    if (node !== null && typeof node === 'object' && 'range' in node) return node as Node;
  }
  return doc.contents ?? undefined;
}

export interface Position {
  line: number;
  column: number;
}

export function positionOf(doc: Document, lc: LineCounter, path: FieldPath): Position | undefined {
  const node = nodeAt(doc, path);
  const start = node?.range?.[0];
  if (start === undefined) return undefined;
  const p = lc.linePos(start);
  return { line: p.line, column: p.col };
}

/** Map a 1-based (line, column) inside a scalar's value to the file. */
export function positionInScalar(
  doc: Document,
  lc: LineCounter,
  source: string,
  path: FieldPath,
  inner: { line?: number | undefined; column?: number | undefined },
): Position | undefined {
  const node = doc.getIn(path, true) as unknown;
  const base = positionOf(doc, lc, path);
  if (!base || !isScalar(node) || inner.line === undefined) return base;
  const col = inner.column ?? 1;
  switch (node.type) {
    case 'PLAIN':
      return inner.line === 1 ? { line: base.line, column: base.column + col - 1 } : base;
    case 'QUOTE_DOUBLE':
    case 'QUOTE_SINGLE':
      return inner.line === 1 ? { line: base.line, column: base.column + col } : base;
    case 'BLOCK_LITERAL':
    case 'BLOCK_FOLDED': {
      // The header ("|" / ">") is on the node's line; content lines follow it.
      const line = base.line + inner.line;
      const text = source.split(/\r?\n/)[line - 1] ?? '';
      const indent = text.length - text.trimStart().length;
      return { line, column: indent + col };
    }
    default:
      return base;
  }
}
