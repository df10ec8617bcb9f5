// A tiny line protocol that drives the real Gate the way a protocol session
// does (authenticate → settings → record session.start → per line: decide →
// review → record → answer → session.end). Used to test standalone wiring
// without depending on a particular protocol implementation.
//
// Client sends "TOKEN <jwt>" or "POD" first, then one statement a line.
// Server answers "ready <sessionId>", then per statement "ok", "denied <msg>"
// or "pending <approval id>" followed later by "ok" / "denied <msg>".

import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { awaitApproval, buildActivation, denyMessage } from '../gate/decisions.js';
import type { ListenerStarter } from './listeners.js';

export const startLineListener: ListenerStarter = async (c, facts, gate) => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    void serve(socket).catch(() => socket.destroy());
  });

  async function serve(socket: Socket): Promise<void> {
    const lines = createInterface({ input: socket })[Symbol.asyncIterator]();
    const hello = await lines.next();
    if (hello.done) return;
    const credential = hello.value.startsWith('TOKEN ') ? hello.value.slice(6) : undefined;
    let identity;
    try {
      identity = await gate.authenticator.authenticate({ protocol: facts.protocol, connection: c.name, credential });
    } catch (err) {
      socket.end(`auth-failed ${(err as { code?: string }).code ?? 'error'}\n`);
      return;
    }
    const settings = gate.settings.sessionSettings(identity, facts);
    const events = await gate.events.startSession(
      {
        identity: { sub: identity.sub, iss: identity.iss, groups: [...identity.groups] },
        pod: { namespace: identity.pod.namespace, name: identity.pod.name, serviceAccount: identity.pod.serviceAccount },
        connection: c.name,
        protocol: facts.protocol,
        policies: settings.policies,
      },
      { strict: settings.strictRecording },
    );
    socket.write(`ready ${events.sessionId}\n`);
    const abort = new AbortController();
    socket.on('close', () => abort.abort());
    const session = { id: events.sessionId, startedAt: new Date(), statements: 0, denied: 0 };
    for (;;) {
      const next = await lines.next();
      if (next.done) break;
      const text = next.value;
      const kind = (text.split(/\s+/)[0] ?? '').toUpperCase();
      const decision = gate.policy.decide(
        buildActivation(
          { identity, connection: facts, session },
          { sql: { text, statements: [{ kind, tables: [], functions: [], hasWhere: false }] } },
        ),
      );
      session.statements++;
      let action = decision.action;
      let approvalId: string | undefined;
      let message = denyMessage(decision);
      if (action === 'review') {
        const r = await awaitApproval(
          gate.approvals,
          { sessionId: events.sessionId, identity, connection: c.name, protocol: facts.protocol, operation: text, decision },
          { signal: abort.signal, onPending: (id) => socket.write(`pending ${id}\n`) },
        );
        approvalId = r.approvalId;
        action = r.outcome === 'approved' ? 'allow' : 'deny';
        message = r.message;
      }
      if (action === 'deny') session.denied++;
      await events.record('statement', {
        text,
        kinds: [kind],
        decision: { action, policy: decision.policy ?? null, rule: decision.rule ?? null, message: decision.message },
        approvalId,
        rows: action === 'allow' ? 1 : 0,
      });
      if (!socket.writable) break;
      socket.write(action === 'allow' ? 'ok\n' : `denied ${message}\n`);
    }
    await events.end('ok');
    socket.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(c.listenPort, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : c.listenPort,
    close: () =>
      new Promise<void>((resolve) => {
        // Stop accepting; open sessions end on their own (the client closes).
        server.close(() => resolve());
      }),
  };
};
