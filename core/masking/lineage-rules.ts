// From column lineage to masking rules. Two sources of lineage meet here:
// the catalog's (exact, for plain column references) and the statement's own
// (from the SQL classifier, for computed columns). When they cannot be lined
// up position by position, every uncertain position is treated as possibly
// reading every referenced column: more masking, never less.
import type { CompiledMasking, ColumnRule } from './masker.js';
import { STRATEGY_STRICTNESS, type MaskStrategy } from './strategies.js';

/** A column reference from the SQL classifier; table is "schema.table", "table", or unknown; column '*' is a whole row. */
export interface ColumnRef {
  table?: string;
  column: string;
}

/** Statement-level lineage of one output column (core/sql OutputColumn is assignable to it). */
export interface OutputColumnLineage {
  /** Every column the output expression reads. */
  refs: readonly ColumnRef[];
  /** True when the expression is a plain column reference. */
  direct: boolean;
  /** An unexpanded `*` / `t.*`: stands for an unknown number of output columns. */
  star?: boolean;
}

export interface RuleChoice {
  strategy: MaskStrategy;
  keep: number;
}

export function strictestChoice(a: RuleChoice | undefined, b: RuleChoice | undefined): RuleChoice | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return STRATEGY_STRICTNESS[b.strategy] > STRATEGY_STRICTNESS[a.strategy] ? b : a;
}

/**
 * A rule reached through a computed expression: partial would keep the last
 * characters of the *transformed* value (reverse(card) keeps the card's first
 * digits), so it becomes redact.
 */
function viaExpression(rule: ColumnRule): RuleChoice {
  return { strategy: rule.strategy === 'partial' ? 'redact' : rule.strategy, keep: rule.keep };
}

/** The strictest rule among the columns `refs` reads; `direct` keeps partial as is. */
export function ruleForRefs(refs: readonly ColumnRef[], direct: boolean, masking: CompiledMasking): RuleChoice | undefined {
  let best: RuleChoice | undefined;
  for (const ref of refs) {
    for (const rule of masking.columnRules(ref.table, ref.column)) best = strictestChoice(best, direct ? rule : viaExpression(rule));
  }
  return best;
}

/** What the statement says about one output position. */
export type OutputSlot =
  /** Lined up with exactly one output expression (outputs[index]). */
  | { kind: 'exact'; index: number; lineage: OutputColumnLineage | undefined }
  /** Could come from any of these references (inside an expanded `*`, or the shapes did not line up). */
  | { kind: 'merged'; refs: readonly ColumnRef[] };

/**
 * Line the classifier's output columns up with `count` actual columns. Without
 * a star the lists must have the same length. With stars, the columns before
 * the first star and after the last one line up from either end; the middle
 * is merged. Anything else merges everything.
 */
export function alignOutputs(outputs: readonly (OutputColumnLineage | undefined)[], count: number): OutputSlot[] {
  const all = (): OutputSlot[] => {
    const refs = outputs.flatMap((o) => o?.refs ?? []);
    return Array.from({ length: count }, () => ({ kind: 'merged', refs }));
  };
  let first = -1;
  let last = -1;
  outputs.forEach((o, i) => {
    if (o?.star === true) {
      if (first < 0) first = i;
      last = i;
    }
  });
  if (first < 0) return outputs.length === count ? outputs.map((lineage, index) => ({ kind: 'exact', index, lineage })) : all();
  const suffix = outputs.length - last - 1;
  if (first + suffix > count) return all();
  const middle = outputs.slice(first, last + 1).flatMap((o) => o?.refs ?? []);
  return Array.from({ length: count }, (_, i): OutputSlot => {
    if (i < first) return { kind: 'exact', index: i, lineage: outputs[i] };
    if (i >= count - suffix) {
      const index = last + 1 + (i - (count - suffix));
      return { kind: 'exact', index, lineage: outputs[index] };
    }
    return { kind: 'merged', refs: middle };
  });
}
