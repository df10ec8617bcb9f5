// Bounds-checked reading of a message body. Every read past the end, or a
// string without its terminator, throws the error the caller chose (a client
// protocol violation or a backend protocol error).

export class BodyReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly malformed: (message: string) => Error,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.pos;
  }

  remaining(): number {
    return this.buf.length - this.pos;
  }

  byte(): number {
    if (this.pos + 1 > this.buf.length) throw this.malformed(`${this.what}: message too short`);
    return this.buf[this.pos++] as number;
  }

  int16(): number {
    if (this.pos + 2 > this.buf.length) throw this.malformed(`${this.what}: message too short`);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    if (this.pos + 4 > this.buf.length) throw this.malformed(`${this.what}: message too short`);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    if (this.pos + 4 > this.buf.length) throw this.malformed(`${this.what}: message too short`);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw this.malformed(`${this.what}: invalid string in message`);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }

  bytes(n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) throw this.malformed(`${this.what}: message too short`);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return b;
  }

  end(): void {
    if (this.pos !== this.buf.length) throw this.malformed(`${this.what}: invalid message format`);
  }
}

/** A typed message frame: type byte, int32 length, body. */
export function frame(type: number | string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = typeof type === 'string' ? type.charCodeAt(0) : type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function cstr(s: string): Buffer {
  if (s.includes('\0')) throw new Error('string contains NUL');
  const b = Buffer.from(s + '\0', 'utf8');
  return b;
}

export function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v, 0);
  return b;
}

export function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v, 0);
  return b;
}
