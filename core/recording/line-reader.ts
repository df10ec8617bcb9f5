// Streaming reader of newline-terminated lines with their byte offsets, so
// large spool and transcript files are never read whole. A final line
// without a newline (a torn write) is not yielded.

import { open } from 'node:fs/promises';
import { RecordingError } from './errors.js';

export interface Line {
  /** The line without its newline (a copy, safe to keep). */
  line: Buffer;
  /** Byte offset just after the newline. */
  end: number;
}

const CHUNK = 64 * 1024;

export async function* readLines(path: string, start = 0, maxLineBytes = 16 * 1024 * 1024): AsyncGenerator<Line> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let pos = start;
    let lineStart = start;
    let carry: Buffer = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) return;
      pos += bytesRead;
      let data: Buffer = carry.length === 0 ? buf.subarray(0, bytesRead) : Buffer.concat([carry, buf.subarray(0, bytesRead)]);
      let nl: number;
      while ((nl = data.indexOf(0x0a)) !== -1) {
        const line = Buffer.from(data.subarray(0, nl));
        lineStart += nl + 1;
        data = data.subarray(nl + 1);
        yield { line, end: lineStart };
      }
      if (data.length > maxLineBytes) {
        throw new RecordingError('RECORD_LINE_TOO_LONG', `${path}: line at byte ${lineStart} exceeds ${maxLineBytes} bytes`);
      }
      carry = Buffer.from(data);
    }
  } finally {
    await fh.close();
  }
}
