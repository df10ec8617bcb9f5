// Framing of typed PostgreSQL v3 messages (1 type byte + int32 length that
// counts itself + body), as a pure, incremental state machine over bytes.
// It never fails on an incomplete buffer, only on a malformed one (length < 4,
// length over the per-type limit, a type the side may not send).
//
// Messages a caller needs to read are delivered whole (`message`); the rest are
// streamed as slices of the input (`bytes`) without waiting for their end, so a
// 1 GiB DataRow or CopyData never sits in memory unless it has to be rewritten.
// Consecutive streamed messages of one type in one chunk come out as a single
// slice, and `next()` yields one item at a time so the caller may change what
// it collects (e.g. start masking DataRows after a RowDescription) in between.
// Held bytes (a header or message split across chunks) are copied.

export interface FrameScannerOptions {
  /** Largest allowed value of the length field (which counts its own 4 bytes). */
  maxLength(type: number): number;
  /** true: deliver the message whole; false: stream its bytes as they come. */
  collect(type: number): boolean;
  /** Whether this side may send the type at all. */
  knownType(type: number): boolean;
  /** Builds the error thrown on malformed input. */
  malformed(message: string): Error;
}

export type ScanItem =
  | { kind: 'message'; type: number; frame: Buffer; body: Buffer }
  | {
      kind: 'bytes';
      /** Type of the streamed message(s) these bytes belong to. */
      type: number;
      bytes: Buffer;
      /** How many streamed messages end inside `bytes`. */
      completed: number;
    };

interface Current {
  type: number;
  /** Body bytes still to come. */
  remaining: number;
  /** Collected parts (header first) when delivering whole; undefined when streaming. */
  parts: Buffer[] | undefined;
}

const HEADER = 5;

export function typeName(type: number): string {
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16).padStart(2, '0')}`;
}

export class FrameScanner {
  private readonly chunks: Buffer[] = [];
  private offset = 0;
  private readonly header = Buffer.alloc(HEADER);
  private headerLen = 0;
  private cur: Current | undefined;
  private bufferedBytes = 0;

  constructor(private readonly opts: FrameScannerOptions) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** True between messages: nothing of a message has been consumed without being finished. */
  atBoundary(): boolean {
    return this.cur === undefined && this.headerLen === 0;
  }

  /** Bytes pushed but not yet returned. */
  pending(): number {
    return this.bufferedBytes - this.offset;
  }

  /**
   * Removes and returns every byte not yet returned (copied), e.g. to hand a
   * handshake's leftover to the relay. Only at a message boundary.
   */
  takePending(): Buffer {
    if (!this.atBoundary()) throw new Error('takePending inside a message');
    const first = this.chunks[0];
    const parts = first === undefined ? [] : [first.subarray(this.offset), ...this.chunks.slice(1)];
    this.chunks.length = 0;
    this.offset = 0;
    this.bufferedBytes = 0;
    return Buffer.concat(parts);
  }

  /** The next item, or null when more input is needed. Throws `malformed(...)` on bad framing. */
  next(): ScanItem | null {
    for (;;) {
      const chunk = this.chunks[0];
      if (chunk === undefined) return null;
      if (this.offset >= chunk.length) {
        this.chunks.shift();
        this.bufferedBytes -= chunk.length;
        this.offset = 0;
        continue;
      }
      const cur = this.cur;
      if (cur !== undefined) {
        const take = Math.min(cur.remaining, chunk.length - this.offset);
        const slice = chunk.subarray(this.offset, this.offset + take);
        this.offset += take;
        cur.remaining -= take;
        if (cur.parts !== undefined) {
          // Parts held until a later chunk completes the message are copied.
          cur.parts.push(cur.remaining > 0 ? Buffer.from(slice) : slice);
          if (cur.remaining > 0) continue;
          this.cur = undefined;
          const frame = Buffer.concat(cur.parts);
          return { kind: 'message', type: cur.type, frame, body: frame.subarray(HEADER) };
        }
        if (cur.remaining > 0) return { kind: 'bytes', type: cur.type, bytes: slice, completed: 0 };
        this.cur = undefined;
        // The streamed message ended here; later streamed messages of the same
        // type in this chunk join the same slice.
        const start = this.offset - take;
        const completed = 1 + this.walkStreamed(chunk, cur.type);
        return { kind: 'bytes', type: cur.type, bytes: chunk.subarray(start, this.offset), completed };
      }
      if (this.headerLen === 0 && chunk.length - this.offset >= HEADER) {
        const type = chunk[this.offset] as number;
        const length = this.checkHeader(type, chunk.readInt32BE(this.offset + 1));
        if (this.opts.collect(type)) {
          const end = this.offset + 1 + length;
          if (end <= chunk.length) {
            const frame = chunk.subarray(this.offset, end);
            this.offset = end;
            return { kind: 'message', type, frame, body: frame.subarray(HEADER) };
          }
          this.cur = { type, remaining: length - 4, parts: [Buffer.from(chunk.subarray(this.offset, this.offset + HEADER))] };
          this.offset += HEADER;
          continue;
        }
        const start = this.offset;
        const completed = this.walkStreamed(chunk, type);
        return { kind: 'bytes', type, bytes: chunk.subarray(start, this.offset), completed };
      }
      // A header split across chunks: gather its 5 bytes (copied).
      const take = Math.min(HEADER - this.headerLen, chunk.length - this.offset);
      chunk.copy(this.header, this.headerLen, this.offset, this.offset + take);
      this.headerLen += take;
      this.offset += take;
      if (this.headerLen < HEADER) continue;
      this.headerLen = 0;
      const type = this.header[0] as number;
      const length = this.checkHeader(type, this.header.readInt32BE(1));
      const held = Buffer.from(this.header);
      if (this.opts.collect(type)) {
        if (length === 4) return { kind: 'message', type, frame: held, body: held.subarray(HEADER) };
        this.cur = { type, remaining: length - 4, parts: [held] };
        continue;
      }
      if (length === 4) return { kind: 'bytes', type, bytes: held, completed: 1 };
      this.cur = { type, remaining: length - 4, parts: undefined };
      return { kind: 'bytes', type, bytes: held, completed: 0 };
    }
  }

  /**
   * Advances over streamed messages of `type` that start at `this.offset` in
   * `chunk`: whole ones are counted; a partial last one becomes `cur`; stops
   * at a different or collected type, or at a header split by the chunk end.
   */
  private walkStreamed(chunk: Buffer, type: number): number {
    let completed = 0;
    while (chunk.length - this.offset >= HEADER) {
      const t = chunk[this.offset] as number;
      if (t !== type || this.opts.collect(t)) break;
      const length = this.checkHeader(t, chunk.readInt32BE(this.offset + 1));
      const end = this.offset + 1 + length;
      if (end > chunk.length) {
        this.cur = { type: t, remaining: end - chunk.length, parts: undefined };
        this.offset = chunk.length;
        return completed;
      }
      this.offset = end;
      completed++;
    }
    return completed;
  }

  private checkHeader(type: number, length: number): number {
    if (!this.opts.knownType(type)) throw this.opts.malformed(`unexpected message type ${typeName(type)}`);
    if (length < 4) throw this.opts.malformed(`invalid message length ${length} for message type ${typeName(type)}`);
    if (length > this.opts.maxLength(type)) {
      throw this.opts.malformed(`message type ${typeName(type)} of length ${length} exceeds the limit of ${this.opts.maxLength(type)}`);
    }
    return length;
  }
}
