// Shared parts of the PostgreSQL proxy's integration tests: a local OIDC-style
// issuer (jose keys, JWKS served over node:http), a controllable approval
// service, an in-memory event sink, and a gate over the real policy engine.
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import pg from 'pg';
import type { PodFacts } from '../../../core/policy/activation.js';
import { compilePolicies, type PolicyEngine } from '../../../core/policy/engine.js';
import type { AccessPolicyLike } from '../../../core/policy/policy-input.js';
import type { ApprovalOutcome, EventDataMap, SessionStartData } from '../../../core/recording/events.js';
import type { RunResult } from '../../../testkit/processes.js';
import { runCommand } from '../../../testkit/processes.js';
import type { ApprovalRequest, ApprovalService, EventSink, Gate, SessionEvents, SessionEventType } from '../../gate/gate.js';
import { createTokenAuthenticator } from '../../gate/token-authenticator.js';

export const TEST_POD: PodFacts = {
  namespace: 'team-a',
  name: 'agent-7f9c',
  serviceAccount: 'agent',
  labels: { app: 'agent' },
};

export interface TestIssuer {
  issuer: string;
  audience: string;
  jwksUrl: string;
  token(claims?: Record<string, unknown>, opts?: { expiresIn?: string; key?: 'good' | 'other' }): Promise<string>;
  close(): Promise<void>;
}

/** An issuer whose JWKS is served on a loopback port; `key: 'other'` signs with a key not in the JWKS. */
export async function startTestIssuer(audience = 'agentgate'): Promise<TestIssuer> {
  const good = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  const issuer = `http://127.0.0.1:${addr.port}`;
  return {
    issuer,
    audience,
    jwksUrl: `${issuer}/jwks`,
    async token(claims = {}, opts = {}) {
      const key: CryptoKey = opts.key === 'other' ? other.privateKey : good.privateKey;
      return await new SignJWT({ groups: ['agents'], ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(typeof claims.sub === 'string' ? claims.sub : 'agent-7')
        .setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '10m')
        .sign(key);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface PendingApproval {
  id: string;
  req: ApprovalRequest;
  resolve: (o: ApprovalOutcome) => void;
}

/** Approvals decided by the test: `next()` waits for the next request. */
export class TestApprovals implements ApprovalService {
  private seq = 0;
  private readonly pending: PendingApproval[] = [];
  private waiters: Array<(p: PendingApproval) => void> = [];
  readonly requests: ApprovalRequest[] = [];

  async request(req: ApprovalRequest, opts: { signal: AbortSignal; onPending: (id: string) => void }): Promise<ApprovalOutcome> {
    const id = `ar-test-${++this.seq}`;
    this.requests.push(req);
    return await new Promise<ApprovalOutcome>((resolve) => {
      const p: PendingApproval = { id, req, resolve };
      opts.signal.addEventListener('abort', () => resolve('denied'), { once: true });
      opts.onPending(id);
      const w = this.waiters.shift();
      if (w !== undefined) w(p);
      else this.pending.push(p);
    });
  }

  /** The next request (already made or still to come). */
  async next(): Promise<{ id: string; operation: string; decide: (o: ApprovalOutcome) => void }> {
    const p = this.pending.shift() ?? (await new Promise<PendingApproval>((resolve) => this.waiters.push(resolve)));
    return { id: p.id, operation: p.req.operation, decide: (o) => p.resolve(o) };
  }
}

export interface MemoryEvent {
  sessionId: string;
  /** 1-based within the session, as the recorder numbers events. */
  seq: number;
  type: string;
  data: unknown;
}

export class MemoryEvents implements EventSink {
  readonly events: MemoryEvent[] = [];
  readonly started: SessionStartData[] = [];
  async startSession(data: SessionStartData, opts: { sessionId?: string }): Promise<SessionEvents> {
    const sessionId = opts.sessionId ?? `s-${this.started.length + 1}`;
    this.started.push(data);
    let seq = 1;
    this.events.push({ sessionId, seq, type: 'session.start', data });
    return {
      sessionId,
      get lastSeq() {
        return seq;
      },
      // Like the recorder: the seq is taken synchronously, before the promise settles.
      record: <T extends SessionEventType>(type: T, d: EventDataMap[T]) => {
        this.events.push({ sessionId, seq: ++seq, type, data: d });
        return Promise.resolve();
      },
      end: async (outcome, reason) => {
        this.events.push({ sessionId, seq: ++seq, type: 'session.end', data: { outcome, reason } });
      },
    };
  }

  statements(): Array<EventDataMap['statement']> {
    return this.events.filter((e) => e.type === 'statement').map((e) => e.data as EventDataMap['statement']);
  }

  /** Outcome events of one session (all sessions when omitted). */
  results(sessionId?: string): Array<EventDataMap['statement.result']> {
    return this.events
      .filter((e) => e.type === 'statement.result' && (sessionId === undefined || e.sessionId === sessionId))
      .map((e) => e.data as EventDataMap['statement.result']);
  }

  /** The event a statement.result refers to. */
  byRef(sessionId: string, ref: number): MemoryEvent | undefined {
    return this.events.find((e) => e.sessionId === sessionId && e.seq === ref);
  }
}

export interface TestGate extends Gate {
  engine: PolicyEngine;
  approvalsCtl: TestApprovals;
  memory: MemoryEvents;
}

export function testGate(opts: { policies: AccessPolicyLike[]; issuer: TestIssuer; allowPodIdentity?: boolean; hashKey?: Buffer }): TestGate {
  const { engine, errors } = compilePolicies(opts.policies);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  const approvals = new TestApprovals();
  const memory = new MemoryEvents();
  return {
    engine,
    approvalsCtl: approvals,
    memory,
    authenticator: createTokenAuthenticator({
      issuers: [{ issuer: opts.issuer.issuer, audience: opts.issuer.audience, jwksUrl: opts.issuer.jwksUrl }],
      pod: TEST_POD,
      allowPodIdentity: opts.allowPodIdentity ?? false,
    }),
    policy: engine,
    approvals,
    events: memory,
    settings: {
      sessionSettings(identity, connection) {
        const s = engine.settings(identity, connection.name);
        const m = s.masking;
        const any = m.columns.length + m.jsonFields.length + m.detectors.length > 0;
        return {
          masking: any ? m : undefined,
          hashKey: opts.hashKey,
          maxDurationMs: s.session.maxDurationMs,
          idleTimeoutMs: s.session.idleTimeoutMs,
          recording: s.session.recording,
          strictRecording: s.session.strictRecording,
          policies: s.policies.map((p) => p.key),
        };
      },
    },
  };
}

/** An AccessPolicy for the test pod and issuer. */
export function policy(name: string, issuer: TestIssuer, spec: Record<string, unknown>): AccessPolicyLike {
  return {
    metadata: { name, namespace: TEST_POD.namespace },
    spec: {
      podSelector: { matchLabels: { app: 'agent' } },
      subjects: [{ oidc: { issuer: issuer.issuer, audience: issuer.audience } }, { serviceAccount: { name: TEST_POD.serviceAccount } }],
      connections: ['orders-db'],
      ...spec,
    },
  } as AccessPolicyLike;
}

export const CONNECTION = { name: 'orders-db', protocol: 'postgres' as const, host: '127.0.0.1', port: 0, labels: { env: 'test' } };

/** psql through the proxy. */
export async function psqlVia(port: number, password: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return await runCommand('/usr/bin/psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'agent', '-d', 'app', ...args], {
    env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', ...opts.env },
    input: opts.input,
    timeoutMs: 120_000,
  });
}

export async function pgClientVia(port: number, password: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'agent', database: 'app', password, ...extra });
  await c.connect();
  return c;
}

/** An error's SQLSTATE (pg's DatabaseError.code). */
export function sqlstate(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
}

/** A whole backend message as a test sees it. */
export interface WireMessage {
  type: string;
  body: Buffer;
}

/**
 * A byte-level client: sends exactly the frames a test builds (split however
 * it likes) and reads back whole messages. For pipelines and hostile input
 * that real drivers never produce.
 */
export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: import('node:net').Socket) {
    socket.on('data', (b: Buffer) => {
      this.buf = Buffer.concat([this.buf, b]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawClient> {
    const { connect } = await import('node:net');
    const s = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    return new RawClient(s);
  }

  /** Connects and authenticates with `password`; resolves after the first ReadyForQuery. */
  static async login(port: number, password: string): Promise<RawClient> {
    const { encodeStartupMessage } = await import('./startup-codec.js');
    const { encodePassword } = await import('./frontend-messages.js');
    const c = await RawClient.connect(port);
    c.send(encodeStartupMessage({ user: 'agent', database: 'app' }));
    const auth = await c.read();
    if (auth.type !== 'R') throw new Error(`expected an authentication request, got ${auth.type}`);
    c.send(encodePassword(password));
    await c.readUntil('Z');
    return c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** One raw byte (the answer to SSLRequest / GSSENCRequest). */
  async readByte(): Promise<number> {
    for (;;) {
      if (this.buf.length > 0) {
        const b = this.buf[0] as number;
        this.buf = this.buf.subarray(1);
        return b;
      }
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The next message; rejects if the connection closes first. */
  async read(): Promise<WireMessage> {
    for (let i = 0; ; i++) {
      if (this.buf.length >= 5) {
        const len = this.buf.readInt32BE(1);
        if (this.buf.length >= 1 + len) {
          const m = { type: String.fromCharCode(this.buf[0] as number), body: Buffer.from(this.buf.subarray(5, 1 + len)) };
          this.buf = this.buf.subarray(1 + len);
          return m;
        }
      }
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Messages up to and including the first of `type`. */
  async readUntil(type: string): Promise<WireMessage[]> {
    const out: WireMessage[] = [];
    for (;;) {
      const m = await this.read();
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /** Everything until the server closes the connection. */
  async readToClose(): Promise<WireMessage[]> {
    const out: WireMessage[] = [];
    for (;;) {
      try {
        out.push(await this.read());
      } catch {
        return out;
      }
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The SQLSTATE and message of an ErrorResponse/NoticeResponse body. */
export function errorOf(m: WireMessage): { code: string; message: string; severity: string } {
  const fields = new Map<string, string>();
  let pos = 0;
  while (pos < m.body.length && m.body[pos] !== 0) {
    const code = String.fromCharCode(m.body[pos] as number);
    const end = m.body.indexOf(0, pos + 1);
    fields.set(code, m.body.toString('utf8', pos + 1, end));
    pos = end + 1;
  }
  return { code: fields.get('C') ?? '', message: fields.get('M') ?? '', severity: fields.get('V') ?? fields.get('S') ?? '' };
}
