// The request file of `agentgate policy test`: who asks (identity and pod),
// on which connection, and one operation (sql, ssh or http). Parsed strictly:
// an unknown or mistyped field is an error naming its path, since a typo that
// silently became "absent" would test a different request than intended.
import type { ConnectionFacts, HttpFacts, Identity, JsonValue, SshFacts } from '../core/policy/index.js';
import type { Connection } from '../core/resources/generated.js';

export class RequestError extends Error {
  readonly code = 'POLICY_TEST_BAD_REQUEST';
}

export interface PolicyTestRequest {
  identity: Identity;
  connection: ConnectionFacts;
  now?: Date;
  sql?: string;
  ssh?: SshFacts;
  http?: HttpFacts;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new RequestError(`${path}: must be an object`);
  return v;
}

function onlyKeys(o: Obj, allowed: string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new RequestError(`${path}.${k}: unknown field (expected one of: ${allowed.join(', ')})`);
  }
}

function str(v: unknown, path: string, fallback?: string): string {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string') throw new RequestError(`${path}: must be a string`);
  return v;
}

function strList(v: unknown, path: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new RequestError(`${path}: must be a list of strings`);
  return v as string[];
}

function strMap(v: unknown, path: string): Record<string, string> {
  if (v === undefined) return {};
  const o = obj(v, path);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') throw new RequestError(`${path}.${k}: must be a string`);
  return o as Record<string, string>;
}

const SA_PREFIX = 'system:serviceaccount:';

function parseIdentity(v: unknown): Identity {
  const o = obj(v, 'identity');
  onlyKeys(o, ['sub', 'iss', 'groups', 'claims', 'pod', 'kind'], 'identity');
  const pod = obj(o.pod ?? {}, 'identity.pod');
  onlyKeys(pod, ['namespace', 'name', 'serviceAccount', 'labels'], 'identity.pod');
  const namespace = str(pod.namespace, 'identity.pod.namespace', 'default');
  const serviceAccount = str(pod.serviceAccount, 'identity.pod.serviceAccount', 'default');
  const iss = str(o.iss, 'identity.iss', '');
  // A token from an issuer is an OIDC identity; otherwise the pod's service account speaks.
  const kind = o.kind === undefined ? (iss !== '' ? 'oidc' : 'serviceAccount') : str(o.kind, 'identity.kind');
  if (kind !== 'oidc' && kind !== 'serviceAccount') throw new RequestError('identity.kind: must be "oidc" or "serviceAccount"');
  if (kind === 'oidc' && iss === '') throw new RequestError('identity.iss: an OIDC identity needs its issuer');
  const sub = str(o.sub, 'identity.sub', kind === 'serviceAccount' ? `${SA_PREFIX}${namespace}:${serviceAccount}` : undefined);
  const claims = o.claims === undefined ? {} : (obj(o.claims, 'identity.claims') as Record<string, JsonValue>);
  return {
    kind,
    sub,
    iss,
    groups: strList(o.groups, 'identity.groups'),
    claims,
    pod: {
      namespace,
      name: str(pod.name, 'identity.pod.name', 'agent'),
      serviceAccount,
      labels: strMap(pod.labels, 'identity.pod.labels'),
    },
  };
}

function connectionFacts(c: Connection): ConnectionFacts {
  const spec = c.spec;
  let host = spec.target.host ?? '';
  let port = spec.target.port ?? 0;
  if (spec.target.url !== undefined) {
    const u = new URL(spec.target.url);
    host = u.hostname;
    port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  }
  return { name: c.metadata.name ?? '', protocol: spec.protocol, host, port, labels: c.metadata.labels ?? {} };
}

function parseConnection(v: unknown, known: Connection[], protocol: ConnectionFacts['protocol']): ConnectionFacts {
  if (typeof v === 'string') {
    const found = known.find((c) => c.metadata.name === v);
    if (found !== undefined) {
      if (found.spec.protocol !== protocol) {
        throw new RequestError(`connection: "${v}" is a ${found.spec.protocol} connection, but the request is ${protocol}`);
      }
      return connectionFacts(found);
    }
    // A bare name still lets rules on connection.name be tested.
    return { name: v, protocol, host: '', port: 0, labels: {} };
  }
  const o = obj(v, 'connection');
  if (o.kind === 'Connection') return connectionFacts(o as unknown as Connection);
  onlyKeys(o, ['name', 'protocol', 'host', 'port', 'labels'], 'connection');
  const port = o.port === undefined ? 0 : o.port;
  if (typeof port !== 'number' || !Number.isInteger(port)) throw new RequestError('connection.port: must be a whole number');
  return {
    name: str(o.name, 'connection.name'),
    protocol,
    host: str(o.host, 'connection.host', ''),
    port,
    labels: strMap(o.labels, 'connection.labels'),
  };
}

/** Splits a command line the way a POSIX shell would for simple words and quotes. */
export function splitCommand(command: string): string[] {
  const argv: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i] as string;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < command.length) cur += command[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < command.length) {
      cur += command[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) argv.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new RequestError('ssh.command: unterminated quote');
  if (inWord) argv.push(cur);
  return argv;
}

function parseSsh(v: unknown): SshFacts {
  const o = obj(v, 'ssh');
  onlyKeys(o, ['command', 'user', 'pty', 'subsystem'], 'ssh');
  const command = str(o.command, 'ssh.command', '');
  if (o.pty !== undefined && typeof o.pty !== 'boolean') throw new RequestError('ssh.pty: must be true or false');
  return {
    user: str(o.user, 'ssh.user', ''),
    command,
    argv: splitCommand(command),
    pty: o.pty === true,
    subsystem: str(o.subsystem, 'ssh.subsystem', ''),
  };
}

function parseHttp(v: unknown): HttpFacts {
  const o = obj(v, 'http');
  onlyKeys(o, ['method', 'path', 'host', 'headers', 'json'], 'http');
  const rawPath = str(o.path, 'http.path', '/');
  if (!rawPath.startsWith('/')) throw new RequestError('http.path: must start with "/"');
  const url = new URL(rawPath, 'http://request.invalid');
  const query: Record<string, string[]> = {};
  for (const [k, val] of url.searchParams) (query[k] ??= []).push(val);
  const headers: Record<string, string> = {};
  for (const [k, val] of Object.entries(strMap(o.headers, 'http.headers'))) headers[k.toLowerCase()] = val;
  return {
    method: str(o.method, 'http.method', 'GET').toUpperCase(),
    host: str(o.host, 'http.host', ''),
    path: url.pathname,
    query,
    headers,
    json: o.json as JsonValue | undefined,
  };
}

export function parseRequest(raw: unknown, connections: Connection[]): PolicyTestRequest {
  const o = obj(raw, 'request');
  onlyKeys(o, ['identity', 'connection', 'now', 'sql', 'ssh', 'http'], 'request');
  const ops = (['sql', 'ssh', 'http'] as const).filter((k) => o[k] !== undefined);
  if (ops.length !== 1) {
    throw new RequestError(`request: needs exactly one of sql, ssh, http (found ${ops.length === 0 ? 'none' : ops.join(', ')})`);
  }
  const op = ops[0] as 'sql' | 'ssh' | 'http';
  const protocol = op === 'sql' ? 'postgres' : op;
  if (o.connection === undefined) throw new RequestError('connection: required (a Connection name or document)');
  const request: PolicyTestRequest = {
    identity: parseIdentity(o.identity ?? {}),
    connection: parseConnection(o.connection, connections, protocol),
  };
  if (o.now !== undefined) {
    const now = new Date(str(o.now, 'now'));
    if (Number.isNaN(now.getTime())) throw new RequestError('now: must be an RFC 3339 timestamp');
    request.now = now;
  }
  if (op === 'sql') {
    const sql = o.sql;
    request.sql = isObj(sql) ? str(sql.text, 'sql.text') : str(sql, 'sql');
  } else if (op === 'ssh') request.ssh = parseSsh(o.ssh);
  else request.http = parseHttp(o.http);
  return request;
}

export function describeRequest(r: PolicyTestRequest): string {
  const who = `${r.identity.sub}${r.identity.groups.length > 0 ? ` [${r.identity.groups.join(', ')}]` : ''}`;
  const what =
    r.sql !== undefined
      ? `sql ${JSON.stringify(r.sql.length > 120 ? `${r.sql.slice(0, 117)}...` : r.sql)}`
      : r.ssh !== undefined
        ? `ssh ${r.ssh.user !== '' ? `${r.ssh.user}@` : ''}${JSON.stringify(r.ssh.command)}`
        : `http ${r.http?.method ?? ''} ${r.http?.path ?? ''}`;
  return `${who} on ${r.connection.name} (${r.connection.protocol}): ${what}`;
}
