// Reads whole messages from a socket during a handshake (before the relay
// takes over): an async pull over a FrameScanner with a deadline. On `detach`
// the socket's unread bytes are handed back for the relay.
import type { Socket } from 'node:net';
import { FrameScanner, type FrameScannerOptions } from './frame-scanner.js';

export interface HandshakeMessage {
  type: number;
  body: Buffer;
  frame: Buffer;
}

export class SocketMessageReader {
  private readonly scanner: FrameScanner;
  private waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.scanner.push(chunk);
    // A handshake is a few small messages; do not read ahead without bound.
    if (this.scanner.pending() > 1024 * 1024) this.socket.pause();
    this.wake();
  };
  private readonly onEnd = (): void => this.fail(this.closedError());
  private readonly onError = (err: Error): void => this.fail(err);

  constructor(
    private readonly socket: Socket,
    opts: Omit<FrameScannerOptions, 'collect'>,
    private readonly closedError: () => Error,
  ) {
    this.scanner = new FrameScanner({ ...opts, collect: () => true });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** The next whole message; rejects on close, error, malformed input or the deadline. */
  async next(deadline: AbortSignal): Promise<HandshakeMessage> {
    for (;;) {
      const item = this.scanner.next();
      if (item !== null) {
        if (item.kind !== 'message') throw new Error('unreachable: handshake reader collects everything');
        return { type: item.type, body: item.body, frame: item.frame };
      }
      if (this.failure !== undefined) throw this.failure;
      if (deadline.aborted) throw deadline.reason instanceof Error ? deadline.reason : new Error('handshake timed out');
      this.socket.resume();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => this.fail(deadline.reason instanceof Error ? deadline.reason : new Error('handshake timed out'));
        deadline.addEventListener('abort', onAbort, { once: true });
        this.waiting = {
          resolve: () => {
            deadline.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (e) => {
            deadline.removeEventListener('abort', onAbort);
            reject(e);
          },
        };
      });
    }
  }

  /** Stops reading; returns the bytes received but not consumed as messages. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    return this.scanner.takePending();
  }

  private fail(err: Error): void {
    if (this.failure === undefined) this.failure = err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve();
  }
}
