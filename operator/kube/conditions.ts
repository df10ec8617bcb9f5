// Status conditions as the API conventions want them: one entry per type,
// lastTransitionTime moves only when the status flips.
import type { Condition } from './types.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** A new list with `c` set; `now` is used only when the status changes. */
export function setCondition(existing: readonly Condition[] | undefined, c: ConditionInput, now: Date): Condition[] {
  const list = (existing ?? []).filter((x) => x.type !== c.type);
  const prev = (existing ?? []).find((x) => x.type === c.type);
  const lastTransitionTime = prev && prev.status === c.status ? prev.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  list.push({ ...c, lastTransitionTime });
  return list.sort((a, b) => a.type.localeCompare(b.type));
}

export function findCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return (list ?? []).find((x) => x.type === type);
}

/** True when the condition already says exactly this (no status write needed). */
export function conditionUnchanged(list: readonly Condition[] | undefined, c: ConditionInput): boolean {
  const prev = findCondition(list, c.type);
  return prev !== undefined && prev.status === c.status && prev.reason === c.reason &&
    prev.message === c.message && prev.observedGeneration === c.observedGeneration;
}
