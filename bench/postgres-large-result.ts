// A large result set read as fast as the wire allows: one simple Query, the
// response counted frame by frame and thrown away (only the first DataRow is
// kept, to show what arrived). The client is the sidecar's own backend
// connector (SCRAM to the server or the relay, nothing asked by the sidecar in
// pod-identity mode); it runs in the benchmark's process, apart from the proxy.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connectBackend } from '../sidecar/protocols/postgres/backend-connector.js';
import { encodeQuery, encodeTerminate } from '../sidecar/protocols/postgres/frontend-messages.js';

export interface StreamedResult {
  rows: number;
  /** Bytes received from the server or proxy between the Query and ReadyForQuery. */
  bytes: number;
  seconds: number;
  /** The first row's values as text (null for NULL). */
  firstRow: Array<string | null>;
  /** The CommandComplete tag ("SELECT 1000000"). */
  tag: string;
}

const D = 0x44; // DataRow
const E = 0x45; // ErrorResponse
const C = 0x43; // CommandComplete
const Z = 0x5a; // ReadyForQuery

function decodeRow(body: Buffer): Array<string | null> {
  const out: Array<string | null> = [];
  const n = body.readInt16BE(0);
  let pos = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(pos);
    pos += 4;
    if (len < 0) {
      out.push(null);
      continue;
    }
    out.push(body.toString('utf8', pos, pos + len));
    pos += len;
  }
  return out;
}

function errorText(body: Buffer): string {
  return body.toString('utf8').split('\0').filter((f) => f.startsWith('M') || f.startsWith('C')).map((f) => f.slice(1)).join(': ');
}

export async function streamQuery(
  target: { port: number; user: string; password: string; database: string },
  sql: string,
): Promise<StreamedResult> {
  const conn = await connectBackend({
    host: '127.0.0.1',
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    tls: { mode: 'disable' },
  });
  const socket = conn.socket;
  try {
    return await new Promise<StreamedResult>((resolve, reject) => {
      const header = Buffer.alloc(5);
      let headerLen = 0;
      let type = 0;
      let remaining = 0;
      let collect: Buffer[] | null = null;
      let rows = 0;
      let bytes = 0;
      let firstRow: Array<string | null> = [];
      let tag = '';
      let error: string | undefined;
      const t0 = performance.now();
      const finish = (): void => {
        headerLen = 0;
        const body = collect === null ? undefined : Buffer.concat(collect);
        collect = null;
        if (body === undefined) return;
        if (type === D) firstRow = decodeRow(body);
        else if (type === E) error = errorText(body);
        else if (type === C) tag = body.toString('utf8', 0, Math.max(0, body.length - 1));
        else if (type === Z) {
          socket.off('data', onData);
          if (error !== undefined) reject(new Error(`query failed: ${error}`));
          else resolve({ rows, bytes, seconds: (performance.now() - t0) / 1000, firstRow, tag });
        }
      };
      const onData = (chunk: Buffer): void => {
        bytes += chunk.length;
        let pos = 0;
        while (pos < chunk.length) {
          if (remaining === 0 && headerLen < 5) {
            const n = Math.min(5 - headerLen, chunk.length - pos);
            chunk.copy(header, headerLen, pos, pos + n);
            headerLen += n;
            pos += n;
            if (headerLen < 5) break;
            type = header[0] as number;
            remaining = header.readInt32BE(1) - 4;
            if (type === D) rows++;
            // Keep every frame but DataRows (and the first of those).
            collect = type !== D || rows === 1 ? [] : null;
            if (remaining === 0) finish();
            continue;
          }
          const n = Math.min(remaining, chunk.length - pos);
          if (collect !== null) collect.push(chunk.subarray(pos, pos + n));
          remaining -= n;
          pos += n;
          if (remaining === 0) finish();
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('connection closed during the query')));
      if (conn.leftover.length > 0) onData(conn.leftover);
      socket.write(encodeQuery(sql));
      socket.resume();
    });
  } finally {
    socket.end(encodeTerminate());
    socket.destroy();
  }
}

/** Resets the kernel's peak-RSS mark of `pid` (Linux: clear_refs 5). False when not possible. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Peak RSS of `pid` in MiB since the last reset (VmHWM), or undefined. */
export function peakRssMiB(pid: number): number | undefined {
  const kb = statusKb(pid, 'VmHWM');
  return kb === undefined ? undefined : kb / 1024;
}

/** Current RSS of `pid` in MiB, or undefined. */
export function rssMiB(pid: number): number | undefined {
  const kb = statusKb(pid, 'VmRSS');
  return kb === undefined ? undefined : kb / 1024;
}
