// Kubernetes LabelSelector semantics (matchLabels AND every matchExpression;
// an empty selector selects every pod), and validation of a selector.
import type { LabelSelectorLike } from './policy-input.js';

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** Problems with a selector, as "field: message" strings (empty when valid). */
export function validateLabelSelector(selector: LabelSelectorLike | undefined, field: string): string[] {
  const problems: string[] = [];
  if (selector === undefined || selector === null) return problems;
  if (typeof selector !== 'object') return [`${field}: must be an object`];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (typeof v !== 'string') problems.push(`${field}.matchLabels.${k}: value must be a string`);
  }
  (selector.matchExpressions ?? []).forEach((req, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    if (typeof req?.key !== 'string' || req.key === '') problems.push(`${f}.key: required`);
    if (!OPERATORS.has(req?.operator)) {
      problems.push(`${f}.operator: must be one of In, NotIn, Exists, DoesNotExist (got ${JSON.stringify(req?.operator)})`);
      return;
    }
    const values = req.values ?? [];
    if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
      problems.push(`${f}.values: ${req.operator} needs at least one value`);
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
      problems.push(`${f}.values: ${req.operator} takes no values`);
    }
  });
  return problems;
}

/** True when the labels satisfy the selector. An absent or empty selector matches everything. */
export function matchesLabelSelector(
  selector: LabelSelectorLike | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (selector === undefined || selector === null) return true;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(labels, k);
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(k) || labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const present = has(req.key);
    const value = present ? labels[req.key] : undefined;
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        // Unknown operators are refused when the policy compiles; never match one here.
        return false;
    }
  }
  return true;
}
