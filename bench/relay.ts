// A bare pass-through TCP relay: accept, connect to the target, pipe both
// ways, nothing else. The ceiling for any Node proxy on this machine, against
// which the sidecar's figures are compared. Also runnable as its own process
// (so its CPU is accounted apart from the client and the server):
//   node dist/bench/relay.js --target-port N [--target-host H] [--frames]
// prints `READY <port>` on stdout and runs until SIGTERM/SIGINT.
//
// `--frames`: the least a PostgreSQL-aware proxy does. After the startup
// message (passed on as it is), both directions are cut into protocol
// messages with the sidecar's own FrameScanner; a Query's or Parse's text is
// read to a string with the sidecar's parsers, a ReadyForQuery is read whole, every other message is
// streamed through; each read's messages go out in one corked write. No
// policy, masking or recording: the ceiling for a proxy that must read every
// statement. (Plain-text clients only: an SSLRequest switches the connection
// to plain piping. No backpressure: for request/response benchmarks, not for
// large results.)
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { B } from '../sidecar/protocols/postgres/backend-messages.js';
import { FrameScanner } from '../sidecar/protocols/postgres/frame-scanner.js';
import { F, parseParse, parseQuery } from '../sidecar/protocols/postgres/frontend-messages.js';
import { GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from '../sidecar/protocols/postgres/startup-codec.js';

export interface Relay {
  port: number;
  close(): Promise<void>;
}

export async function startRelay(target: { host: string; port: number }, listenPort = 0, opts: { frames?: boolean } = {}): Promise<Relay> {
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server: Server = createServer((client) => {
    const upstream = connect({ host: target.host, port: target.port });
    track(client);
    track(upstream);
    // The same as any proxy would: no Nagle delay on small request/response frames.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (opts.frames === true) relayFrames(client, upstream);
    else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    const both = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.once('error', both);
    upstream.once('error', both);
    client.once('close', both);
    upstream.once('close', both);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('relay has no TCP address');
  return {
    port: addr.port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Total characters of statement text read (kept so the decoding cannot be optimised away). */
export let framedTextChars = 0;

function scanner(collect: (type: number) => boolean): FrameScanner {
  return new FrameScanner({
    maxLength: () => 0x40000000,
    collect,
    knownType: () => true,
    malformed: (message) => new Error(`bad framing: ${message}`),
  });
}

/** One direction: every read's messages, one item at a time, out in one corked write. Returns the pass, for bytes pushed before. */
function pumpFrames(from: Socket, to: Socket, s: FrameScanner, onMessage: (type: number, body: Buffer) => void): () => void {
  const pass = (): void => {
    to.cork();
    try {
      for (let item = s.next(); item !== null; item = s.next()) {
        if (item.kind === 'bytes') {
          to.write(item.bytes);
        } else {
          onMessage(item.type, item.body);
          to.write(item.frame);
        }
      }
    } catch (err) {
      from.destroy(err instanceof Error ? err : new Error(String(err)));
    } finally {
      to.uncork();
    }
  };
  from.on('data', (chunk: Buffer) => {
    s.push(chunk);
    pass();
  });
  return pass;
}

function relayFrames(client: Socket, upstream: Socket): void {
  // The startup message has no type byte: collect it whole, pass it on, then frame.
  let held = Buffer.alloc(0);
  const onStartup = (chunk: Buffer): void => {
    held = Buffer.concat([held, chunk]);
    if (held.length < 8) return;
    const length = held.readInt32BE(0);
    if (held.length < length) return;
    client.off('data', onStartup);
    const code = held.readInt32BE(4);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      upstream.write(held);
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
    upstream.write(held.subarray(0, length));
    const fromClient = scanner((type) => type === F.Query || type === F.Parse);
    fromClient.push(held.subarray(length));
    const pass = pumpFrames(client, upstream, fromClient, (type, body) => {
      // The sidecar's own parsers: the statement text as a string.
      if (type === F.Query) framedTextChars += parseQuery(body).length;
      else if (type === F.Parse) framedTextChars += parseParse(body).query.length;
    });
    pass();
    // The server says nothing before the startup message: its side is framed from here on too.
    pumpFrames(upstream, client, scanner((type) => type === B.ReadyForQuery), (type, body) => {
      if (type === B.ReadyForQuery && body.length !== 1) upstream.destroy(new Error('bad ReadyForQuery'));
    });
  };
  client.on('data', onStartup);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'target-host': { type: 'string' }, 'target-port': { type: 'string' }, port: { type: 'string' }, frames: { type: 'boolean' } },
  });
  const port = Number(values['target-port']);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('usage: relay.js --target-port N [--target-host H] [--port N] [--frames]');
  const relay = await startRelay({ host: values['target-host'] ?? '127.0.0.1', port }, Number(values.port ?? 0), { frames: values.frames === true });
  const stop = (): void => {
    relay.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`READY ${relay.port}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`relay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
