// The non-rule parts of an AccessPolicy (approval, session, masking): checked
// and normalised when a policy compiles, and merged across the policies that
// apply to one session (strictest wins).
import { RE2JS } from 're2js';
import { parseDuration } from './duration.js';
import type { ApprovalSpecLike, MaskingSpecLike, SecretKeyRefLike, SessionSpecLike } from './policy-input.js';

export type MaskStrategy = 'redact' | 'partial' | 'hash' | 'null';
export const MASK_STRATEGIES: readonly MaskStrategy[] = ['redact', 'partial', 'hash', 'null'];
export const DETECTOR_TYPES = ['pan', 'ssn', 'email', 'phone', 'iban', 'jwt', 'cloudKey', 'privateKey', 'custom'] as const;
export type DetectorType = (typeof DETECTOR_TYPES)[number];

/** The approval spec of a policy with defaults applied and durations in milliseconds. */
export interface ApprovalSettings {
  approvers: { groups: string[]; users: string[] };
  required: number;
  timeout: string;
  timeoutMs: number;
  scope: 'once' | 'grant';
  grantDuration?: string | undefined;
  grantDurationMs?: number | undefined;
}

export const DEFAULT_APPROVAL_TIMEOUT = '10m';

/** Session settings of one policy, or merged over several. */
export interface SessionSettings {
  recording: boolean;
  strictRecording: boolean;
  maxDurationMs?: number | undefined;
  idleTimeoutMs?: number | undefined;
}

export const DEFAULT_SESSION_SETTINGS: Readonly<SessionSettings> = Object.freeze({ recording: true, strictRecording: false });

export interface MaskColumnRule {
  table: string;
  column: string;
  strategy: MaskStrategy;
  keep?: number | undefined;
  /** "namespace/name" of the policy that asked for it */
  policy: string;
}
export interface MaskJsonFieldRule {
  path: string;
  strategy: MaskStrategy;
  keep?: number | undefined;
  policy: string;
}
export interface MaskDetectorRule {
  type: DetectorType;
  pattern?: string | undefined;
  strategy: MaskStrategy;
  keep?: number | undefined;
  policy: string;
}
export interface MaskingSettings {
  columns: MaskColumnRule[];
  jsonFields: MaskJsonFieldRule[];
  detectors: MaskDetectorRule[];
  /** the key for `hash`: the first policy (in namespace/name order) that names one */
  hashKeySecretRef?: (SecretKeyRefLike & { policy: string }) | undefined;
}

type Problems = string[];

function duration(value: unknown, field: string, problems: Problems): number | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return parseDuration(value as string);
  } catch (err) {
    problems.push(`${field}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function stringList(value: unknown, field: string, problems: Problems): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((x) => typeof x !== 'string' || x === '')) {
    problems.push(`${field}: must be a list of non-empty strings`);
    return [];
  }
  return [...(value as string[])];
}

export function normalizeApproval(
  spec: ApprovalSpecLike | undefined,
  field: string,
  problems: Problems,
): ApprovalSettings | undefined {
  if (spec === undefined || spec === null) return undefined;
  const groups = stringList(spec.approvers?.groups, `${field}.approvers.groups`, problems);
  const users = stringList(spec.approvers?.users, `${field}.approvers.users`, problems);
  if (groups.length === 0 && users.length === 0) {
    problems.push(`${field}.approvers: name at least one approver group or user`);
  }
  const required = spec.required ?? 1;
  if (!Number.isInteger(required) || required < 1) problems.push(`${field}.required: must be a whole number >= 1`);
  const timeout = spec.timeout ?? DEFAULT_APPROVAL_TIMEOUT;
  const timeoutMs = duration(timeout, `${field}.timeout`, problems);
  if (timeoutMs === 0) problems.push(`${field}.timeout: must be longer than 0`);
  const scope = spec.scope ?? 'once';
  if (scope !== 'once' && scope !== 'grant') {
    problems.push(`${field}.scope: must be once or grant (got ${JSON.stringify(scope)})`);
  }
  const grantDurationMs = duration(spec.grantDuration, `${field}.grantDuration`, problems);
  if (scope === 'grant' && (spec.grantDuration === undefined || spec.grantDuration === null)) {
    problems.push(`${field}.grantDuration: required when scope is grant`);
  }
  if (grantDurationMs === 0) problems.push(`${field}.grantDuration: must be longer than 0`);
  return {
    approvers: { groups, users },
    required,
    timeout,
    timeoutMs: timeoutMs ?? 0,
    scope: scope === 'grant' ? 'grant' : 'once',
    grantDuration: spec.grantDuration,
    grantDurationMs,
  };
}

export function normalizeSession(spec: SessionSpecLike | undefined, field: string, problems: Problems): SessionSettings {
  const s = spec ?? {};
  for (const flag of ['recording', 'strictRecording'] as const) {
    const v = s[flag];
    if (v !== undefined && v !== null && typeof v !== 'boolean') problems.push(`${field}.${flag}: must be true or false`);
  }
  const maxDurationMs = duration(s.maxDuration, `${field}.maxDuration`, problems);
  const idleTimeoutMs = duration(s.idleTimeout, `${field}.idleTimeout`, problems);
  if (maxDurationMs === 0) problems.push(`${field}.maxDuration: must be longer than 0`);
  if (idleTimeoutMs === 0) problems.push(`${field}.idleTimeout: must be longer than 0`);
  return {
    recording: s.recording ?? true,
    strictRecording: s.strictRecording ?? false,
    maxDurationMs,
    idleTimeoutMs,
  };
}

function checkStrategy(strategy: unknown, keep: unknown, field: string, problems: Problems): void {
  if (strategy !== undefined && strategy !== null && !MASK_STRATEGIES.includes(strategy as MaskStrategy)) {
    problems.push(`${field}.strategy: must be one of ${MASK_STRATEGIES.join(', ')} (got ${JSON.stringify(strategy)})`);
  }
  if (keep !== undefined && keep !== null && (!Number.isInteger(keep) || (keep as number) < 0)) {
    problems.push(`${field}.keep: must be a whole number >= 0`);
  }
}

export function validateMasking(spec: MaskingSpecLike | undefined, field: string, problems: Problems, maxRegexLength: number): void {
  if (spec === undefined || spec === null) return;
  (spec.columns ?? []).forEach((c, i) => {
    const f = `${field}.columns[${i}]`;
    if (typeof c.table !== 'string' || c.table === '') problems.push(`${f}.table: required`);
    if (typeof c.column !== 'string' || c.column === '') problems.push(`${f}.column: required`);
    checkStrategy(c.strategy, c.keep, f, problems);
  });
  (spec.jsonFields ?? []).forEach((j, i) => {
    const f = `${field}.jsonFields[${i}]`;
    if (typeof j.path !== 'string' || !j.path.startsWith('$')) problems.push(`${f}.path: must be a JSON path starting with "$"`);
    checkStrategy(j.strategy, j.keep, f, problems);
  });
  (spec.detectors ?? []).forEach((d, i) => {
    const f = `${field}.detectors[${i}]`;
    if (!DETECTOR_TYPES.includes(d.type as DetectorType)) {
      problems.push(`${f}.type: must be one of ${DETECTOR_TYPES.join(', ')} (got ${JSON.stringify(d.type)})`);
    }
    if (d.type === 'custom') {
      if (typeof d.pattern !== 'string' || d.pattern === '') {
        problems.push(`${f}.pattern: required for a custom detector`);
      } else if (d.pattern.length > maxRegexLength) {
        problems.push(`${f}.pattern: longer than ${maxRegexLength} characters`);
      } else {
        try {
          RE2JS.compile(d.pattern);
        } catch (err) {
          problems.push(`${f}.pattern: not a valid RE2 expression: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    } else if (d.pattern !== undefined && d.pattern !== null) {
      problems.push(`${f}.pattern: only a custom detector takes a pattern`);
    }
    checkStrategy(d.strategy, d.keep, f, problems);
  });
  const ref = spec.hashKeySecretRef;
  if (ref !== undefined && ref !== null && (typeof ref.name !== 'string' || ref.name === '')) {
    problems.push(`${field}.hashKeySecretRef.name: required`);
  }
}

/** Merges session settings: recording on if any says on (unset = on), strict if any, smallest durations. */
export function mergeSessionSettings(settings: readonly SessionSettings[]): SessionSettings {
  if (settings.length === 0) return { ...DEFAULT_SESSION_SETTINGS };
  const min = (xs: (number | undefined)[]): number | undefined => {
    const set = xs.filter((x): x is number => x !== undefined);
    return set.length === 0 ? undefined : Math.min(...set);
  };
  return {
    recording: settings.some((s) => s.recording),
    strictRecording: settings.some((s) => s.strictRecording),
    maxDurationMs: min(settings.map((s) => s.maxDurationMs)),
    idleTimeoutMs: min(settings.map((s) => s.idleTimeoutMs)),
  };
}

// How much a strategy reveals: partial shows a tail, hash shows equality, redact
// and null show nothing (null not even the length).
const STRICTNESS: Readonly<Record<MaskStrategy, number>> = { partial: 1, hash: 2, redact: 3, null: 4 };

function stricter<T extends { strategy: MaskStrategy; keep?: number | undefined }>(a: T, b: T): T {
  const ra = STRICTNESS[a.strategy];
  const rb = STRICTNESS[b.strategy];
  if (ra !== rb) return ra > rb ? a : b;
  if (a.strategy === 'partial') return (a.keep ?? 0) <= (b.keep ?? 0) ? a : b;
  return a;
}

function mergeBy<T extends { strategy: MaskStrategy; keep?: number | undefined }>(items: T[], key: (t: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    const prev = byKey.get(k);
    byKey.set(k, prev === undefined ? item : stricter(prev, item));
  }
  return [...byKey.values()];
}

/** The CRD's default strategy is redact. */
export const DEFAULT_MASK_STRATEGY: MaskStrategy = 'redact';

function strategyOf(s: string | undefined): MaskStrategy {
  return s === undefined || s === null ? DEFAULT_MASK_STRATEGY : (s as MaskStrategy);
}

/**
 * Merges masking specs of the applicable policies (given in namespace/name
 * order): the union of all rules; where two policies mask the same column,
 * JSON path or detector, the stricter strategy wins.
 */
export function mergeMasking(specs: readonly { policy: string; masking: MaskingSpecLike | undefined }[]): MaskingSettings {
  const columns: MaskColumnRule[] = [];
  const jsonFields: MaskJsonFieldRule[] = [];
  const detectors: MaskDetectorRule[] = [];
  let hashKeySecretRef: MaskingSettings['hashKeySecretRef'];
  for (const { policy, masking } of specs) {
    if (masking === undefined || masking === null) continue;
    for (const c of masking.columns ?? []) {
      columns.push({ table: c.table, column: c.column, strategy: strategyOf(c.strategy), keep: c.keep, policy });
    }
    for (const j of masking.jsonFields ?? []) {
      jsonFields.push({ path: j.path, strategy: strategyOf(j.strategy), keep: j.keep, policy });
    }
    for (const d of masking.detectors ?? []) {
      detectors.push({ type: d.type as DetectorType, pattern: d.pattern, strategy: strategyOf(d.strategy), keep: d.keep, policy });
    }
    if (hashKeySecretRef === undefined && masking.hashKeySecretRef !== undefined && masking.hashKeySecretRef !== null) {
      hashKeySecretRef = { ...masking.hashKeySecretRef, policy };
    }
  }
  return {
    columns: mergeBy(columns, (c) => `${c.table}\u0000${c.column}`),
    jsonFields: mergeBy(jsonFields, (j) => j.path),
    detectors: mergeBy(detectors, (d) => `${d.type}\u0000${d.pattern ?? ''}`),
    hashKeySecretRef,
  };
}
