// Protocol → listener. Each Connection gets a listener on 127.0.0.1 at its
// listen.port. Protocols without a listener yet are refused up front, before
// anything binds, with a clear message (exit status 2).

import type { ConnectionFacts } from '../../core/policy/activation.js';
import type { Protocol } from '../../core/resources/generated.js';
import type { ResolvedConnection } from '../config/standalone-config.js';
import type { Gate } from '../gate/gate.js';
import type { Logger } from './logger.js';

export interface ListenerHandle {
  port: number;
  /** Stop accepting new clients; live sessions go on (graceful shutdown). Optional. */
  stopAccepting?(): Promise<void>;
  /** Stop accepting and end every live session. */
  close(): Promise<void>;
}

export interface ListenerContext {
  logger: Logger;
  /** 'password': the client sends a token as its password; 'pod': no credential, the pod's identity. */
  clientAuth: 'password' | 'pod';
}

export type ListenerStarter = (c: ResolvedConnection, facts: ConnectionFacts, gate: Gate, ctx: ListenerContext) => Promise<ListenerHandle>;

export type ListenerStarters = Partial<Record<Protocol, ListenerStarter>>;

export class UnsupportedProtocolError extends Error {
  readonly code = 'PROTOCOL_NOT_SUPPORTED';
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedProtocolError';
  }
}

/** Throws UnsupportedProtocolError naming every Connection that cannot be served. */
export function checkSupported(connections: readonly ResolvedConnection[], starters: ListenerStarters): void {
  const problems: string[] = [];
  for (const c of connections) {
    if (starters[c.spec.protocol] === undefined) {
      problems.push(`Connection ${c.namespace}/${c.name}: protocol ${c.spec.protocol} not supported yet`);
    } else if (c.credential === null) {
      problems.push(`Connection ${c.namespace}/${c.name}: credentials.jit not supported in standalone mode yet (use credentials.secretRef)`);
    }
  }
  if (problems.length > 0) throw new UnsupportedProtocolError(problems.join('\n'));
}

export function connectionFacts(c: ResolvedConnection): ConnectionFacts {
  let host = c.spec.target.host ?? '';
  let port = c.spec.target.port ?? 0;
  if (c.spec.protocol === 'http' && c.spec.target.url) {
    const u = new URL(c.spec.target.url);
    host = u.hostname;
    port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  }
  return { name: c.name, protocol: c.spec.protocol, host, port, labels: c.labels };
}

/** Start every listener; if one fails, close those already started and rethrow. */
export async function startListeners(
  connections: readonly ResolvedConnection[],
  gate: Gate,
  starters: ListenerStarters,
  ctx: ListenerContext,
): Promise<Map<string, ListenerHandle>> {
  checkSupported(connections, starters);
  const started = new Map<string, ListenerHandle>();
  try {
    for (const c of connections) {
      const start = starters[c.spec.protocol];
      if (!start) throw new UnsupportedProtocolError(`protocol ${c.spec.protocol} not supported yet`);
      try {
        started.set(c.name, await start(c, connectionFacts(c), gate, ctx));
      } catch (err) {
        throw new Error(`Connection ${c.namespace}/${c.name}: cannot listen on 127.0.0.1:${c.listenPort}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  } catch (err) {
    await Promise.allSettled([...started.values()].map((l) => l.close()));
    throw err;
  }
  return started;
}
