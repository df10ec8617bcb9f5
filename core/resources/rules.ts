// The CRDs' x-kubernetes-validations (CEL rules) as TypeScript checks, so
// offline validation refuses what admission refuses. Each entry repeats the
// CRD's rule text and message exactly: the validator finds a check by
// (kind, schema location, rule text), and rules.test.ts fails if this table
// and the CRDs disagree, or if a check and the CEL rule give different answers.
//
// A check runs on the defaulted value at its location, and only when the
// document has no type, required, enum or size errors (as the API server
// skips CEL then), so the generated types describe `self` faithfully.
import type {
  AccessPolicySpec,
  AccessRequestSpec,
  AccessRequestStatus,
  AgentgateKind,
  Approval,
  Approvers,
  ColumnMask,
  ConnectionCredentials,
  ConnectionSpec,
  ConnectionTLS,
  Detector,
  JITCredentials,
  JSONFieldMask,
  LabelSelectorRequirement,
  Masking,
  PolicyRule,
  SessionRecordSpec,
  SessionSettings,
  Subject,
} from './generated.js';
import { canonical } from './schema-validator.js';

export interface RuleCheck {
  kind: AgentgateKind;
  /** Schema location: "spec.credentials", "spec.rules[]" (each item), "spec.rules[].when". */
  at: string;
  /** The CEL rule, verbatim from the CRD. */
  rule: string;
  /** The rule's message, verbatim from the CRD. */
  message: string;
  /** Rules without oldSelf: true when the value is valid. */
  check?: (self: unknown) => boolean;
  /** Rules with oldSelf (run only on updates, when the old value exists): true when valid. */
  transition?: (self: unknown, oldSelf: unknown) => boolean;
}

function on<T>(kind: AgentgateKind, at: string, rule: string, message: string, check: (self: T) => boolean): RuleCheck {
  return { kind, at, rule, message, check: check as (self: unknown) => boolean };
}

function onUpdate<T>(kind: AgentgateKind, at: string, rule: string, message: string, transition: (self: T, oldSelf: T) => boolean): RuleCheck {
  return { kind, at, rule, message, transition: transition as (self: unknown, oldSelf: unknown) => boolean };
}

const has = (v: unknown): boolean => v !== undefined;
const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);

/** Milliseconds of a Go duration in the CRDs' pattern ([0-9]+(ms|s|m|h))+; NaN if it is not one. */
export function durationMs(text: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = text;
  while (rest !== '') {
    const m = /^([0-9]+)(ms|s|m|h)/.exec(rest);
    if (m === null) return Number.NaN;
    total += Number(m[1]) * (unit[m[2] ?? ''] ?? Number.NaN);
    rest = rest.slice(m[0].length);
  }
  return text === '' ? Number.NaN : total;
}
const MINUTE = 60_000;
const DAY = 24 * 3_600_000;
const within = (text: string, min: number, max: number, minExclusive: boolean): boolean => {
  const ms = durationMs(text);
  return (minExclusive ? ms > min : ms >= min) && ms <= max;
};

const partialRules = (at: string): RuleCheck[] => [
  on<ColumnMask | JSONFieldMask | Detector>('AccessPolicy', at, "!has(self.keep) || self.strategy == 'partial'", 'keep is only allowed with strategy partial', (s) => !has(s.keep) || s.strategy === 'partial'),
  on<ColumnMask | JSONFieldMask | Detector>('AccessPolicy', at, "self.strategy != 'partial' || has(self.keep)", 'strategy partial needs keep', (s) => s.strategy !== 'partial' || has(s.keep)),
];

const validFor = (at: string): RuleCheck =>
  on<string>('Connection', at, "duration(self) >= duration('1m') && duration(self) <= duration('24h')", 'validFor must be between 1m and 24h', (s) => within(s, MINUTE, DAY, false));

export const RULE_CHECKS: readonly RuleCheck[] = [
  // Connection
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol != 'ssh' || (has(self.ssh) && has(self.ssh.hostKeys) && size(self.ssh.hostKeys) > 0)",
    'ssh connections need ssh.hostKeys: the pinned host keys of the target (host-key checking is never skipped)',
    (s) => s.protocol !== 'ssh' || (s.ssh !== undefined && s.ssh.hostKeys !== undefined && s.ssh.hostKeys.length > 0),
  ),
  on<ConnectionSpec>('Connection', 'spec', "self.protocol == 'ssh' || !has(self.ssh)", 'ssh settings are only allowed with protocol ssh', (s) => s.protocol === 'ssh' || !has(s.ssh)),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol != 'http' || (has(self.target.url) && (self.target.url.startsWith('http://') || self.target.url.startsWith('https://')))",
    'http connections need target.url starting with http:// or https://',
    (s) => s.protocol !== 'http' || (s.target.url !== undefined && (s.target.url.startsWith('http://') || s.target.url.startsWith('https://'))),
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol != 'http' || (!has(self.target.host) && !has(self.target.port))",
    'http connections take target.url, not target.host or target.port',
    (s) => s.protocol !== 'http' || (!has(s.target.host) && !has(s.target.port)),
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol == 'http' || (has(self.target.host) && has(self.target.port))",
    'postgres and ssh connections need target.host and target.port',
    (s) => s.protocol === 'http' || (has(s.target.host) && has(s.target.port)),
  ),
  on<ConnectionSpec>('Connection', 'spec', "self.protocol == 'http' || !has(self.target.url)", 'target.url is only allowed with protocol http', (s) => s.protocol === 'http' || !has(s.target.url)),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol == 'postgres' || !has(self.target.database)",
    'target.database is only allowed with protocol postgres',
    (s) => s.protocol === 'postgres' || !has(s.target.database),
  ),
  on<ConnectionSpec>('Connection', 'spec', "self.protocol == 'http' || !has(self.http)", 'http settings are only allowed with protocol http', (s) => s.protocol === 'http' || !has(s.http)),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol != 'ssh' || !has(self.tls)",
    'tls does not apply to ssh connections (the target is authenticated by ssh.hostKeys)',
    (s) => s.protocol !== 'ssh' || !has(s.tls),
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol != 'http' || !has(self.tls) || !has(self.tls.mode) || self.tls.mode != 'disable'",
    'http connections choose TLS with the target.url scheme; tls.mode disable is not allowed',
    (s) => s.protocol !== 'http' || s.tls === undefined || s.tls.mode === undefined || s.tls.mode !== 'disable',
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "!has(self.credentials.jit) || (self.protocol == 'postgres' && has(self.credentials.jit.postgres)) || (self.protocol == 'ssh' && has(self.credentials.jit.ssh))",
    'credentials.jit must match the protocol: jit.postgres for postgres, jit.ssh for ssh (http has no just-in-time credentials)',
    (s) => s.credentials.jit === undefined || (s.protocol === 'postgres' && has(s.credentials.jit.postgres)) || (s.protocol === 'ssh' && has(s.credentials.jit.ssh)),
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol != 'http' || !has(self.credentials.secretRef) || has(self.credentials.secretRef.tokenKey)",
    'http connections need credentials.secretRef.tokenKey (the Secret key holding the token to inject)',
    (s) => s.protocol !== 'http' || s.credentials.secretRef === undefined || has(s.credentials.secretRef.tokenKey),
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol == 'http' || !has(self.credentials.secretRef) || !has(self.credentials.secretRef.tokenKey)",
    'credentials.secretRef.tokenKey is only allowed with protocol http',
    (s) => s.protocol === 'http' || s.credentials.secretRef === undefined || !has(s.credentials.secretRef.tokenKey),
  ),
  on<ConnectionSpec>(
    'Connection',
    'spec',
    "self.protocol == 'ssh' || !has(self.credentials.secretRef) || !has(self.credentials.secretRef.privateKeyKey)",
    'credentials.secretRef.privateKeyKey is only allowed with protocol ssh',
    (s) => s.protocol === 'ssh' || s.credentials.secretRef === undefined || !has(s.credentials.secretRef.privateKeyKey),
  ),
  on<ConnectionTLS>(
    'Connection',
    'spec.tls',
    "!has(self.caSecretRef) || self.mode == 'verify-ca' || self.mode == 'verify-full'",
    'tls.caSecretRef needs mode verify-ca or verify-full',
    (s) => !has(s.caSecretRef) || s.mode === 'verify-ca' || s.mode === 'verify-full',
  ),
  on<ConnectionCredentials>(
    'Connection',
    'spec.credentials',
    'has(self.secretRef) != has(self.jit)',
    'exactly one credential source is required: secretRef or jit',
    (s) => has(s.secretRef) !== has(s.jit),
  ),
  on<JITCredentials>('Connection', 'spec.credentials.jit', 'has(self.postgres) != has(self.ssh)', 'jit needs exactly one of postgres or ssh', (s) => has(s.postgres) !== has(s.ssh)),
  validFor('spec.credentials.jit.postgres.validFor'),
  validFor('spec.credentials.jit.ssh.validFor'),

  // AccessPolicy
  on<AccessPolicySpec>(
    'AccessPolicy',
    'spec',
    "!has(self.rules) || !self.rules.exists(r, r.action == 'review') || has(self.approval)",
    'rules with action review need spec.approval',
    (s) => s.rules === undefined || !s.rules.some((r) => r.action === 'review') || has(s.approval),
  ),
  on<LabelSelectorRequirement>(
    'AccessPolicy',
    'spec.podSelector.matchExpressions[]',
    "(self.operator == 'In' || self.operator == 'NotIn') ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
    'In and NotIn need values; Exists and DoesNotExist take none',
    (s) => (s.operator === 'In' || s.operator === 'NotIn' ? s.values !== undefined && s.values.length > 0 : s.values === undefined || s.values.length === 0),
  ),
  on<Subject>(
    'AccessPolicy',
    'spec.subjects[]',
    'has(self.serviceAccount) != has(self.oidc)',
    'each subject is exactly one of serviceAccount or oidc',
    (s) => has(s.serviceAccount) !== has(s.oidc),
  ),
  on<PolicyRule[]>(
    'AccessPolicy',
    'spec.rules',
    'self.all(r, self.exists_one(o, o.name == r.name))',
    'rule names must be unique',
    (s) => new Set(s.map((r) => r.name)).size === s.length,
  ),
  on<string>('AccessPolicy', 'spec.rules[].when', "self.trim() != ''", 'when must be a non-empty CEL expression', (s) => s.trim() !== ''),
  on<Masking>(
    'AccessPolicy',
    'spec.masking',
    "((!has(self.columns) || !self.columns.exists(c, c.strategy == 'hash')) && (!has(self.jsonFields) || !self.jsonFields.exists(f, f.strategy == 'hash')) && (!has(self.detectors) || !self.detectors.exists(d, d.strategy == 'hash'))) || has(self.hashKeySecretRef)",
    'strategy hash needs masking.hashKeySecretRef (the key for keyed hashing)',
    (s) => ![...(s.columns ?? []), ...(s.jsonFields ?? []), ...(s.detectors ?? [])].some((m) => m.strategy === 'hash') || has(s.hashKeySecretRef),
  ),
  ...partialRules('spec.masking.columns[]'),
  ...partialRules('spec.masking.jsonFields[]'),
  on<Detector>('AccessPolicy', 'spec.masking.detectors[]', "self.type != 'custom' || has(self.pattern)", 'detector type custom needs a pattern', (s) => s.type !== 'custom' || has(s.pattern)),
  on<Detector>(
    'AccessPolicy',
    'spec.masking.detectors[]',
    "self.type == 'custom' || !has(self.pattern)",
    'pattern is only allowed with detector type custom',
    (s) => s.type === 'custom' || !has(s.pattern),
  ),
  ...partialRules('spec.masking.detectors[]'),
  on<Approval>('AccessPolicy', 'spec.approval', "self.scope == 'grant' || !has(self.grantDuration)", 'grantDuration is only allowed with scope grant', (s) => s.scope === 'grant' || !has(s.grantDuration)),
  on<Approval>('AccessPolicy', 'spec.approval', "self.scope != 'grant' || has(self.grantDuration)", 'scope grant needs grantDuration', (s) => s.scope !== 'grant' || has(s.grantDuration)),
  on<Approvers>(
    'AccessPolicy',
    'spec.approval.approvers',
    '(has(self.groups) && size(self.groups) > 0) || (has(self.users) && size(self.users) > 0)',
    'approvers need at least one group or user',
    (s) => (s.groups ?? []).length > 0 || (s.users ?? []).length > 0,
  ),
  on<string>(
    'AccessPolicy',
    'spec.approval.timeout',
    "duration(self) > duration('0s') && duration(self) <= duration('24h')",
    'timeout must be more than 0s and at most 24h',
    (s) => within(s, 0, DAY, true),
  ),
  on<string>(
    'AccessPolicy',
    'spec.approval.grantDuration',
    "duration(self) > duration('0s') && duration(self) <= duration('24h')",
    'grantDuration must be more than 0s and at most 24h',
    (s) => within(s, 0, DAY, true),
  ),
  on<SessionSettings>(
    'AccessPolicy',
    'spec.session',
    '!has(self.strictRecording) || !self.strictRecording || !has(self.recording) || self.recording',
    'strictRecording needs recording',
    (s) => s.strictRecording !== true || s.recording !== false,
  ),

  // AccessRequest
  onUpdate<AccessRequestSpec>('AccessRequest', 'spec', 'self == oldSelf', 'spec is immutable', (s, old) => same(s, old)),
  onUpdate<AccessRequestStatus>(
    'AccessRequest',
    'status',
    "!has(oldSelf.phase) || oldSelf.phase == 'Pending' || (has(self.phase) && (self.phase == oldSelf.phase || (oldSelf.phase == 'Approved' && self.phase == 'Expired')))",
    'phase moves only from Pending to a decision (or from Approved to Expired); Denied and Expired are final',
    (s, old) => old.phase === undefined || old.phase === 'Pending' || (s.phase !== undefined && (s.phase === old.phase || (old.phase === 'Approved' && s.phase === 'Expired'))),
  ),

  // SessionRecord
  onUpdate<SessionRecordSpec>(
    'SessionRecord',
    'spec',
    'self.sessionId == oldSelf.sessionId && self.identity == oldSelf.identity && self.pod == oldSelf.pod && self.connection == oldSelf.connection && self.protocol == oldSelf.protocol && self.startedAt == oldSelf.startedAt',
    'sessionId, identity, pod, connection, protocol and startedAt are immutable',
    (s, old) =>
      s.sessionId === old.sessionId &&
      same(s.identity, old.identity) &&
      same(s.pod, old.pod) &&
      s.connection === old.connection &&
      s.protocol === old.protocol &&
      Date.parse(s.startedAt) === Date.parse(old.startedAt),
  ),
  on<SessionRecordSpec>('SessionRecord', 'spec', 'has(self.endedAt) == has(self.outcome)', 'endedAt and outcome are set together, when the session ends', (s) => has(s.endedAt) === has(s.outcome)),
];
