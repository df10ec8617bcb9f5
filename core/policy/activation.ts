// The facts a policy sees (the CEL activation), the same shape for every
// protocol, and their conversion to CEL values. The conversion is also where
// request size is bounded: a list, map or string over the limits refuses the
// whole request (never truncates it, which would let a long request hide its
// tail from the policy).
import { celList, celMap, type CelInput } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ActivationInvalidError, ActivationLimitError } from './errors.js';

/** A JSON value (JWT claims, HTTP bodies). Numbers become CEL doubles, as in CEL's JSON mapping. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * A fact value. Whole numbers become CEL int, other numbers CEL double, bigint
 * CEL int, Date a CEL timestamp, arrays lists, plain objects maps. `undefined`
 * object properties are left out of the map (so `has()` is false for them).
 */
export type FactValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Date
  | readonly FactValue[]
  | { readonly [key: string]: FactValue | undefined };

export interface PodFacts {
  namespace: string;
  name: string;
  serviceAccount: string;
  labels: Readonly<Record<string, string>>;
}

/** Who is asking. An OIDC identity still runs in a pod, so `pod` is always present. */
export interface Identity {
  kind: 'serviceAccount' | 'oidc';
  /** subject: "system:serviceaccount:<ns>:<name>" for service accounts, the token's `sub` for OIDC */
  sub: string;
  iss: string;
  groups: readonly string[];
  /** verified token claims (JSON) */
  claims: Readonly<Record<string, JsonValue>>;
  pod: PodFacts;
}

export interface ConnectionFacts {
  name: string;
  protocol: 'postgres' | 'ssh' | 'http';
  host: string;
  port: number;
  labels: Readonly<Record<string, string>>;
}

export interface SessionFacts {
  id: string;
  startedAt: Date;
  /** operations seen so far in this session */
  statements: number;
  /** operations denied so far in this session */
  denied: number;
}

/** One parsed SQL statement. The SQL classifier may add more fields; they reach the policy as-is. */
export interface SqlStatementFacts {
  /** SELECT, INSERT, UPDATE, DELETE, DROP, TRUNCATE, ALTER, GRANT, COPY, ... */
  readonly kind: string;
  readonly tables: readonly string[];
  readonly functions: readonly string[];
  readonly hasWhere: boolean;
  readonly [key: string]: FactValue | undefined;
}

export interface SqlFacts {
  text: string;
  statements: readonly SqlStatementFacts[];
}

export interface SshFacts {
  user: string;
  /** the exec command, or the shell line being checked; "" for a bare shell */
  command: string;
  argv: readonly string[];
  pty: boolean;
  /** e.g. "sftp"; "" when none */
  subsystem: string;
  /** present only for port-forwarding requests */
  forward?: { readonly host: string; readonly port: number } | undefined;
}

export interface HttpFacts {
  method: string;
  host: string;
  path: string;
  /** every value of every query parameter, in order (a list, so repeated parameters cannot hide) */
  query: Readonly<Record<string, readonly string[]>>;
  /** lower-cased header names; repeated headers joined with ", " */
  headers: Readonly<Record<string, string>>;
  /** the parsed JSON body when it is JSON and small; absent otherwise (`has(http.json)`) */
  json?: JsonValue | undefined;
}

/** Everything a rule's `when` can see. Exactly one of sql/ssh/http describes the operation. */
export interface Activation {
  identity: Identity;
  connection: ConnectionFacts;
  session: SessionFacts;
  now: Date;
  sql?: SqlFacts | undefined;
  ssh?: SshFacts | undefined;
  http?: HttpFacts | undefined;
}

/** The names a `when` may use at top level. */
export const ACTIVATION_VARIABLES = ['identity', 'connection', 'session', 'now', 'sql', 'ssh', 'http'] as const;
export type ActivationVariable = (typeof ACTIVATION_VARIABLES)[number];
export const PROTOCOL_VARIABLES = ['sql', 'ssh', 'http'] as const;
export type ProtocolVariable = (typeof PROTOCOL_VARIABLES)[number];

export interface ActivationLimits {
  /** longest string, in UTF-16 code units (sql.text included) */
  maxStringLength: number;
  /** longest list (sql.statements, tables, argv, groups, JSON arrays, ...) */
  maxListItems: number;
  /** most entries in one map (labels, claims, headers, query, JSON objects) */
  maxMapEntries: number;
  /** deepest nesting of lists/maps below a top-level variable */
  maxDepth: number;
  /** most values in the whole activation */
  maxTotalValues: number;
}

export const DEFAULT_ACTIVATION_LIMITS: Readonly<ActivationLimits> = Object.freeze({
  maxStringLength: 1 << 20,
  maxListItems: 10_000,
  maxMapEntries: 1_000,
  maxDepth: 32,
  maxTotalValues: 200_000,
});

/** CEL-ready bindings, one entry per present top-level variable. */
export type CelBindings = Readonly<Record<string, CelInput>>;

// 'converted': already a CEL value (converted and counted once, cached); counted as one value here
type Mode = 'fact' | 'json' | 'converted';

// Where a value sits, built only when an error needs to name it (building path
// strings for every value would dominate the conversion).
type Path = { readonly parent: Path | undefined; readonly key: string | number };

function pathText(p: Path): string {
  const parts: string[] = [];
  for (let at: Path | undefined = p; at !== undefined; at = at.parent) {
    if (typeof at.key === 'number') parts.push(`[${at.key}]`);
    else if (at.parent === undefined) parts.push(at.key); // a top-level variable: our own name
    else parts.push(`.${safeKey(at.key)}`);
  }
  return parts.reverse().join('');
}

// Paths appear in error messages; keep activation-supplied keys out of them.
function safeKey(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k) ? k : '[key]';
}

class Converter {
  private total: number;
  constructor(
    private readonly limits: ActivationLimits,
    /** values already in the activation (cached parts) */
    already = 0,
  ) {
    this.total = already;
    if (already > limits.maxTotalValues) {
      throw new ActivationLimitError('activation', `has more than ${limits.maxTotalValues} values`);
    }
  }

  /** values counted so far */
  get values(): number {
    return this.total;
  }

  /** A top-level map with a conversion mode per field; undefined fields are left out. */
  record(name: string, fields: ReadonlyArray<readonly [string, unknown, Mode]>): CelInput {
    const root: Path = { parent: undefined, key: name };
    const map = new Map<string, CelInput>();
    for (const [k, v, mode] of fields) {
      if (v !== undefined) map.set(k, this.convert(v, { parent: root, key: k }, mode, 1));
    }
    return celMap(map);
  }

  convert(value: unknown, path: Path, mode: Mode, depth: number): CelInput {
    if (++this.total > this.limits.maxTotalValues) {
      throw new ActivationLimitError('activation', `has more than ${this.limits.maxTotalValues} values`);
    }
    if (mode === 'converted') {
      if (depth >= this.limits.maxDepth) {
        throw new ActivationLimitError(pathText(path), `is nested deeper than ${this.limits.maxDepth} levels`);
      }
      return value as CelInput;
    }
    switch (typeof value) {
      case 'string':
        if (value.length > this.limits.maxStringLength) {
          throw new ActivationLimitError(pathText(path), `is longer than ${this.limits.maxStringLength} characters`);
        }
        return value;
      case 'boolean':
        return value;
      case 'bigint':
        return value;
      case 'number':
        // JSON numbers are doubles in CEL; a whole-number fact (port, counter) is an int.
        if (mode === 'fact' && Number.isSafeInteger(value)) return BigInt(value);
        return value;
      case 'object':
        break;
      default:
        throw new ActivationInvalidError(pathText(path), `has an unsupported value of type ${typeof value}`);
    }
    if (value === null) return null;
    if (depth >= this.limits.maxDepth) {
      throw new ActivationLimitError(pathText(path), `is nested deeper than ${this.limits.maxDepth} levels`);
    }
    if (value instanceof Date) {
      if (Number.isNaN(value.getTime())) throw new ActivationInvalidError(pathText(path), 'is an invalid date');
      return timestampFromDate(value);
    }
    if (Array.isArray(value)) {
      const items: readonly unknown[] = value;
      if (items.length > this.limits.maxListItems) {
        throw new ActivationLimitError(pathText(path), `has more than ${this.limits.maxListItems} items`);
      }
      const out: CelInput[] = new Array<CelInput>(items.length);
      for (let i = 0; i < items.length; i++) out[i] = this.convert(items[i], { parent: path, key: i }, mode, depth + 1);
      return celList(out);
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new ActivationInvalidError(pathText(path), 'is not a plain object');
    }
    const map = new Map<string, CelInput>();
    let entries = 0;
    for (const k in value) {
      if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
      if (++entries > this.limits.maxMapEntries) {
        throw new ActivationLimitError(pathText(path), `has more than ${this.limits.maxMapEntries} entries`);
      }
      const v: unknown = (value as Record<string, unknown>)[k];
      if (v === undefined) continue;
      if (k.length > this.limits.maxStringLength) {
        throw new ActivationLimitError(pathText(path), `has a key longer than ${this.limits.maxStringLength} characters`);
      }
      map.set(k, this.convert(v, { parent: path, key: k }, mode, depth + 1));
    }
    return celMap(map);
  }
}

/**
 * Converts the activation to CEL bindings. Throws ActivationLimitError when a
 * list/map/string/depth/total bound is exceeded and ActivationInvalidError for
 * values CEL cannot represent; the engine turns both into a deny.
 */
export function toCelBindings(activation: Activation, limits: ActivationLimits = DEFAULT_ACTIVATION_LIMITS): CelBindings {
  const c = new Converter(limits);
  const out: Record<string, CelInput> = Object.create(null) as Record<string, CelInput>;
  out['identity'] = convertIdentity(c, activation.identity);
  out['connection'] = convertConnection(c, activation.connection);
  convertPerCall(c, activation, out, undefined);
  return out;
}

function convertIdentity(c: Converter, identity: Identity): CelInput {
  return c.record('identity', [
    ['kind', identity.kind, 'fact'],
    ['sub', identity.sub, 'fact'],
    ['iss', identity.iss, 'fact'],
    ['groups', identity.groups, 'fact'],
    ['claims', identity.claims, 'json'],
    [
      'pod',
      {
        namespace: identity.pod.namespace,
        name: identity.pod.name,
        serviceAccount: identity.pod.serviceAccount,
        labels: identity.pod.labels,
      },
      'fact',
    ],
  ]);
}

function convertConnection(c: Converter, connection: ConnectionFacts): CelInput {
  return c.record('connection', [
    ['name', connection.name, 'fact'],
    ['protocol', connection.protocol, 'fact'],
    ['host', connection.host, 'fact'],
    ['port', connection.port, 'fact'],
    ['labels', connection.labels, 'fact'],
  ]);
}

// session, now and the operation: new on every call.
function convertPerCall(c: Converter, activation: Activation, out: Record<string, CelInput>, startedAt: CelInput | undefined): void {
  const session = activation.session;
  out['session'] = c.record('session', [
    ['id', session.id, 'fact'],
    ['startedAt', startedAt ?? session.startedAt, startedAt === undefined ? 'fact' : 'converted'],
    ['statements', session.statements, 'fact'],
    ['denied', session.denied, 'fact'],
  ]);
  out['now'] = c.convert(activation.now, { parent: undefined, key: 'now' }, 'fact', 0);
  if (activation.sql !== undefined) {
    const q = activation.sql;
    out['sql'] = c.record('sql', [
      ['text', q.text, 'fact'],
      ['statements', q.statements, 'fact'],
    ]);
  }
  if (activation.ssh !== undefined) {
    const s = activation.ssh;
    out['ssh'] = c.record('ssh', [
      ['user', s.user, 'fact'],
      ['command', s.command, 'fact'],
      ['argv', s.argv, 'fact'],
      ['pty', s.pty, 'fact'],
      ['subsystem', s.subsystem, 'fact'],
      ['forward', s.forward, 'fact'],
    ]);
  }
  if (activation.http !== undefined) {
    const h = activation.http;
    out['http'] = c.record('http', [
      ['method', h.method, 'fact'],
      ['host', h.host, 'fact'],
      ['path', h.path, 'fact'],
      ['query', h.query, 'fact'],
      ['headers', h.headers, 'fact'],
      ['json', h.json, 'json'],
    ]);
  }
}

/** A converted identity or connection, or why it could not be converted. */
type Converted = { ok: true; value: CelInput; values: number } | { ok: false; error: Error };

/** The fields of an Identity that policies and applicability read, as they were when a cache entry was made. */
export interface IdentityFields {
  readonly kind: string;
  readonly sub: string;
  readonly iss: string;
  readonly groups: readonly string[];
  readonly claims: Identity['claims'];
  readonly pod: PodFacts;
  readonly podNamespace: string;
  readonly podName: string;
  readonly podServiceAccount: string;
  readonly podLabels: PodFacts['labels'];
}

// a reassigned field is seen (and the identity converted again)
interface CachedIdentity extends IdentityFields {
  readonly converted: Converted;
}

interface CachedConnection {
  readonly converted: Converted;
  readonly name: string;
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly labels: ConnectionFacts['labels'];
}

/** Whether the identity's fields are still the ones `c` was made from (reference equality, no deep walk). */
export function sameIdentityFields(c: IdentityFields, i: Identity): boolean {
  const pod = i.pod;
  return (
    c.kind === i.kind &&
    c.sub === i.sub &&
    c.iss === i.iss &&
    c.groups === i.groups &&
    c.claims === i.claims &&
    c.pod === pod &&
    c.podNamespace === pod.namespace &&
    c.podName === pod.name &&
    c.podServiceAccount === pod.serviceAccount &&
    c.podLabels === pod.labels
  );
}

/** The fields sameIdentityFields() compares, as they are now. */
export function identityFields(i: Identity): IdentityFields {
  const pod = i.pod;
  return {
    kind: i.kind,
    sub: i.sub,
    iss: i.iss,
    groups: i.groups,
    claims: i.claims,
    pod,
    podNamespace: pod.namespace,
    podName: pod.name,
    podServiceAccount: pod.serviceAccount,
    podLabels: pod.labels,
  };
}

function sameConnectionFields(c: CachedConnection, x: ConnectionFacts): boolean {
  return c.name === x.name && c.protocol === x.protocol && c.host === x.host && c.port === x.port && c.labels === x.labels;
}

function convertOnce<T>(limits: ActivationLimits, convert: (c: Converter, facts: T) => CelInput, facts: T): Converted {
  const c = new Converter(limits);
  try {
    return { ok: true, value: convert(c, facts), values: c.values };
  } catch (err) {
    if (err instanceof ActivationLimitError || err instanceof ActivationInvalidError) return { ok: false, error: err };
    throw err;
  }
}

/**
 * toCelBindings() for a caller that passes the same identity and connection
 * objects again and again (a session does): their CEL values are converted
 * once per object and reused; session, now and the operation are converted on
 * every call. The total-values bound still covers the whole activation (the
 * cached parts count with the values they had when converted).
 *
 * Contract: an Identity or ConnectionFacts object, and everything it holds
 * (groups, claims, pod, labels), must not be mutated in place once passed in;
 * build a new object instead. A reassigned top-level or pod field is noticed
 * (and converted again); a change inside a list or map is not.
 */
export class CachingConverter {
  readonly #identities = new WeakMap<Identity, CachedIdentity>();
  readonly #connections = new WeakMap<ConnectionFacts, CachedConnection>();
  // session.startedAt is the same Date for the whole session; the time is compared too (Dates are mutable)
  readonly #startedAt = new WeakMap<Date, { time: number; value: CelInput }>();

  constructor(readonly limits: ActivationLimits = DEFAULT_ACTIVATION_LIMITS) {}

  bindings(activation: Activation): CelBindings {
    const identity = this.#identity(activation.identity);
    if (!identity.ok) throw identity.error;
    const connection = this.#connection(activation.connection);
    if (!connection.ok) throw connection.error;
    const c = new Converter(this.limits, identity.values + connection.values);
    const out: Record<string, CelInput> = Object.create(null) as Record<string, CelInput>;
    out['identity'] = identity.value;
    out['connection'] = connection.value;
    convertPerCall(c, activation, out, this.#startedAtValue(activation.session.startedAt));
    return out;
  }

  #identity(identity: Identity): Converted {
    const hit = this.#identities.get(identity);
    if (hit !== undefined && sameIdentityFields(hit, identity)) return hit.converted;
    const fields = identityFields(identity);
    const converted = convertOnce(this.limits, convertIdentity, identity);
    this.#identities.set(identity, { ...fields, converted });
    return converted;
  }

  #connection(connection: ConnectionFacts): Converted {
    const hit = this.#connections.get(connection);
    if (hit !== undefined && sameConnectionFields(hit, connection)) return hit.converted;
    const converted = convertOnce(this.limits, convertConnection, connection);
    this.#connections.set(connection, {
      converted,
      name: connection.name,
      protocol: connection.protocol,
      host: connection.host,
      port: connection.port,
      labels: connection.labels,
    });
    return converted;
  }

  // undefined: not a valid Date, convert it per call (and fail there, with the usual error)
  #startedAtValue(d: unknown): CelInput | undefined {
    if (!(d instanceof Date)) return undefined;
    const time = d.getTime();
    if (Number.isNaN(time)) return undefined;
    const hit = this.#startedAt.get(d);
    if (hit !== undefined && hit.time === time) return hit.value;
    const value = timestampFromDate(d);
    this.#startedAt.set(d, { time, value });
    return value;
  }
}

/** Which protocol variables the activation carries. */
export function presentProtocols(activation: Activation): Set<ProtocolVariable> {
  const out = new Set<ProtocolVariable>();
  if (activation.sql !== undefined) out.add('sql');
  if (activation.ssh !== undefined) out.add('ssh');
  if (activation.http !== undefined) out.add('http');
  return out;
}
