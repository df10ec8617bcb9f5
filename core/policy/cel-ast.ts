// Small helpers over the CEL AST (cel.expr.Expr, as produced by @bufbuild/cel's
// parser): children, positions, and building the few nodes the engine injects.
import type { Expr, SourceInfo } from '@bufbuild/cel-spec/cel/expr/syntax_pb.js';

export type { Expr, SourceInfo };

/** Children of a node, in evaluation-ish order. `body` marks comprehension loop parts (evaluated per iteration). */
export function childrenOf(e: Expr): { expr: Expr; body: boolean }[] {
  const k = e.exprKind;
  const out: { expr: Expr; body: boolean }[] = [];
  const push = (x: Expr | undefined, body = false): void => {
    if (x !== undefined) out.push({ expr: x, body });
  };
  switch (k.case) {
    case 'selectExpr':
      push(k.value.operand);
      break;
    case 'callExpr':
      push(k.value.target);
      for (const a of k.value.args) push(a);
      break;
    case 'listExpr':
      for (const a of k.value.elements) push(a);
      break;
    case 'structExpr':
      for (const entry of k.value.entries) {
        if (entry.keyKind.case === 'mapKey') push(entry.keyKind.value);
        push(entry.value);
      }
      break;
    case 'comprehensionExpr':
      push(k.value.iterRange);
      push(k.value.accuInit);
      push(k.value.loopCondition, true);
      push(k.value.loopStep, true);
      push(k.value.result);
      break;
    default:
      break;
  }
  return out;
}

/** Calls fn on every node (pre-order), iteratively: deep ASTs must not overflow the stack here. */
export function forEachNode(root: Expr, fn: (e: Expr) => void): void {
  const stack: Expr[] = [root];
  while (stack.length > 0) {
    const e = stack.pop();
    if (e === undefined) break;
    fn(e);
    const kids = childrenOf(e);
    for (let i = kids.length - 1; i >= 0; i--) {
      const kid = kids[i];
      if (kid !== undefined) stack.push(kid.expr);
    }
  }
}

/** 1-based line and column of a UTF-16 offset in text. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.max(0, Math.min(offset, text.length));
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/** Position of an expression id in the source, if the parser recorded one. */
export function positionOf(
  sourceInfo: SourceInfo | undefined,
  text: string,
  id: bigint | number | undefined,
): { line: number; column: number } | undefined {
  if (sourceInfo === undefined || id === undefined) return undefined;
  const offset = sourceInfo.positions[String(id)];
  if (offset === undefined) return undefined;
  return lineColumnAt(text, offset);
}

export function maxId(root: Expr): bigint {
  let max = 0n;
  forEachNode(root, (e) => {
    if (e.id > max) max = e.id;
  });
  return max;
}

export function identNode(id: bigint, name: string): Expr {
  return {
    $typeName: 'cel.expr.Expr',
    id,
    exprKind: { case: 'identExpr', value: { $typeName: 'cel.expr.Expr.Ident', name } },
  };
}

export function callNode(id: bigint, fn: string, args: Expr[]): Expr {
  return {
    $typeName: 'cel.expr.Expr',
    id,
    exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: fn, args } },
  };
}
