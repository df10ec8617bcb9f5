// A bare pass-through TCP relay: accept, connect to the target, pipe both
// ways, nothing else. The ceiling for any Node proxy on this machine, against
// which the sidecar's figures are compared. Also runnable as its own process
// (so its CPU is accounted apart from the client and the server):
//   node dist/bench/relay.js --target-port N [--target-host H]
// prints `READY <port>` on stdout and runs until SIGTERM/SIGINT.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface Relay {
  port: number;
  close(): Promise<void>;
}

export async function startRelay(target: { host: string; port: number }, listenPort = 0): Promise<Relay> {
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
    client.pipe(upstream);
    upstream.pipe(client);
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

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'target-host': { type: 'string' }, 'target-port': { type: 'string' }, port: { type: 'string' } } });
  const port = Number(values['target-port']);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error('usage: relay.js --target-port N [--target-host H] [--port N]');
  const relay = await startRelay({ host: values['target-host'] ?? '127.0.0.1', port }, Number(values.port ?? 0));
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
