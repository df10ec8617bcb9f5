// The spool: one append-only JSONL file per session in a directory the sidecar
// owns, each held open by one descriptor. `enqueue` writes the event's line to
// the file synchronously (it is in the kernel's page cache when enqueue
// returns, so a crash of this process loses nothing), and its promise settles
// after fdatasync. Syncs are group-committed: at most one runs at a time, each
// starts `syncDelayMs` after the first append it covers and covers every
// append made before it starts. The
// ack position of each session lives beside it in `<id>.ack`, replaced
// atomically. A crash can only tear the tail of a file; reopening truncates a
// torn tail and reports sessions that never ended as orphans.

import { EventEmitter } from 'node:events';
import { closeSync, constants as fsc, fdatasync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordingError, SpoolFullError, SpoolLockedError, SpoolWriteError } from './errors.js';
import type { RecordEvent } from './events.js';
import { isRecordEvent } from './events.js';
import { computeEventHash, genesisHash } from './hash-chain.js';
import { readLines } from './line-reader.js';

export interface SpoolOptions {
  dir: string;
  /** Upper bound for all spooled bytes; an append past it fails with RECORD_SPOOL_FULL. Default 256 MiB. */
  maxBytes?: number;
  /** Upper bound for one event line. Default 1 MiB. */
  maxEventBytes?: number;
  /** How long a sync waits after the first append it will cover, so bursts share one fdatasync. Default 5 ms. */
  syncDelayMs?: number;
}

export interface SpoolSessionInfo {
  sessionId: string;
  /** Highest seq that is on disk and fsynced. */
  durableSeq: number;
  /** Highest seq the sink has acknowledged (durably remembered). */
  ackedSeq: number;
  /** session.end is durable. */
  ended: boolean;
  bytes: number;
  /** The spool could not write this session; it takes no more events. */
  broken: boolean;
}

/** A session found on disk at open that never recorded session.end. */
export interface OrphanSession {
  sessionId: string;
  lastSeq: number;
  lastHash: string;
  startedAt: string | null;
}

interface SessionState {
  sessionId: string;
  path: string;
  /** Open from the first append to session.end's sync (or close). */
  fd: number | null;
  /** The file was created by this process and the directory entry is not synced yet. */
  dirDirty: boolean;
  bytes: number;
  queuedSeq: number;
  queuedEnd: boolean;
  durableSeq: number;
  lastHash: string;
  ackedSeq: number;
  ended: boolean;
  broken: Error | null;
  /** Byte offsets just after recently read events, so the next read can seek. */
  readHints: Map<number, number>;
}

interface Pending {
  state: SessionState;
  size: number;
  event: RecordEvent;
  resolve: () => void;
  reject: (err: Error) => void;
}

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LOCK_FILE = 'spool.lock';

export class Spool extends EventEmitter {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxEventBytes: number;
  /** Files written at open with bytes discarded from a damaged tail (kept for inspection). */
  readonly quarantined: string[] = [];
  /** Appends acknowledged and data fsyncs done (group commit makes fsyncs fewer than appends). */
  readonly stats = { appends: 0, fsyncs: 0 };
  private readonly sessionsById = new Map<string, SessionState>();
  private readonly orphanList: OrphanSession[] = [];
  readonly syncDelayMs: number;
  /** Written, waiting for the next sync. */
  private queue: Pending[] = [];
  private syncing: Promise<void> | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private totalBytes = 0;
  private queuedBytes = 0;
  private closed = false;

  private constructor(opts: SpoolOptions) {
    super();
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.maxEventBytes = opts.maxEventBytes ?? 1024 * 1024;
    this.syncDelayMs = opts.syncDelayMs ?? 5;
  }

  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    try {
      await mkdir(spool.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new SpoolWriteError(`cannot create spool directory ${spool.dir}: ${errMessage(err)}`, err);
    }
    await spool.lock();
    await spool.recover();
    return spool;
  }

  /** Bytes synced plus bytes written and waiting for the next fsync. */
  get bytes(): number {
    return this.totalBytes + this.queuedBytes;
  }

  orphans(): readonly OrphanSession[] {
    return this.orphanList;
  }

  sessions(): SpoolSessionInfo[] {
    return [...this.sessionsById.values()].map((s) => ({
      sessionId: s.sessionId,
      durableSeq: s.durableSeq,
      ackedSeq: s.ackedSeq,
      ended: s.ended,
      bytes: s.bytes,
      broken: s.broken !== null,
    }));
  }

  session(sessionId: string): SpoolSessionInfo | undefined {
    return this.sessions().find((s) => s.sessionId === sessionId);
  }

  /**
   * Write an event to its session's file (synchronously: when this returns the
   * line is in the page cache and survives a crash of this process). Throws
   * synchronously (nothing taken) when the event is invalid, out of order, too
   * large, the spool is full, or the file cannot be written (the session is
   * then broken and takes no more events); otherwise returns a promise that
   * settles after the line is fdatasynced (within about `syncDelayMs` plus one sync).
   */
  enqueue(event: RecordEvent): Promise<void> {
    if (this.closed) throw new RecordingError('RECORD_SPOOL_CLOSED', 'spool is closed');
    if (!SESSION_ID.test(event.sessionId)) {
      throw new RecordingError('RECORD_BAD_SESSION_ID', `session id ${JSON.stringify(event.sessionId)} is not a safe file name`);
    }
    let state = this.sessionsById.get(event.sessionId);
    if (state?.broken) {
      throw new SpoolWriteError(`spool cannot write session ${event.sessionId}: ${state.broken.message}`, state.broken);
    }
    const expected = (state?.queuedSeq ?? 0) + 1;
    if (event.seq !== expected) {
      throw new RecordingError('RECORD_OUT_OF_ORDER', `session ${event.sessionId}: expected seq ${expected}, got ${event.seq}`);
    }
    if (state?.queuedEnd) {
      throw new RecordingError('RECORD_CLOSED', `session ${event.sessionId} already ended`);
    }
    const line = Buffer.from(JSON.stringify(event) + '\n', 'utf8');
    if (line.length > this.maxEventBytes) {
      throw new RecordingError(
        'RECORD_EVENT_TOO_LARGE',
        `event of ${line.length} bytes exceeds the ${this.maxEventBytes}-byte limit (session ${event.sessionId}, seq ${event.seq})`,
      );
    }
    if (this.bytes + line.length > this.maxBytes) {
      throw new SpoolFullError(
        `spool ${this.dir} is full: ${this.bytes} of ${this.maxBytes} bytes used; events cannot be recorded until shipped`,
      );
    }
    if (!state) {
      state = newState(event.sessionId, join(this.dir, `${event.sessionId}.jsonl`));
      this.sessionsById.set(event.sessionId, state);
    }
    this.writeLine(state, line);
    state.queuedSeq = event.seq;
    if (event.type === 'session.end') state.queuedEnd = true;
    this.queuedBytes += line.length;
    const s = state;
    const done = new Promise<void>((resolve, reject) => {
      this.queue.push({ state: s, size: line.length, event, resolve, reject });
    });
    this.scheduleSync();
    return done;
  }

  /** Same as enqueue, but reports synchronous refusals as a rejected promise. */
  async append(event: RecordEvent): Promise<void> {
    await this.enqueue(event);
  }

  /** Read up to `maxEvents` durable events after `afterSeq` (bounded by `maxBytes`, at least one event). */
  async readBatch(sessionId: string, afterSeq: number, maxEvents = 500, maxBytes = 1024 * 1024): Promise<RecordEvent[]> {
    const state = this.sessionsById.get(sessionId);
    if (!state || afterSeq >= state.durableSeq) return [];
    const start = afterSeq === 0 ? 0 : (state.readHints.get(afterSeq) ?? 0);
    const out: RecordEvent[] = [];
    const hints = new Map<number, number>();
    let bytes = 0;
    for await (const { line, end } of readLines(state.path, start, this.maxEventBytes + 1)) {
      const event = parseLine(line);
      if (!event || event.sessionId !== sessionId) {
        throw new RecordingError('RECORD_SPOOL_CORRUPT', `spool file ${state.path} has an unreadable line ending at byte ${end}`);
      }
      if (event.seq <= afterSeq) continue;
      if (event.seq > state.durableSeq) break;
      out.push(event);
      hints.set(event.seq, end);
      bytes += line.length + 1;
      if (out.length >= maxEvents || bytes >= maxBytes) break;
    }
    state.readHints = hints;
    return out;
  }

  /** Durably remember that the sink holds everything through `seq`. */
  async ack(sessionId: string, seq: number): Promise<void> {
    const state = this.sessionsById.get(sessionId);
    if (!state) throw new RecordingError('RECORD_UNKNOWN_SESSION', `no spooled session ${sessionId}`);
    if (seq > state.durableSeq || seq < 0) {
      throw new RecordingError('RECORD_BAD_ACK', `ack ${seq} for session ${sessionId} outside 0..${state.durableSeq}`);
    }
    const path = join(this.dir, `${sessionId}.ack`);
    const tmp = `${path}.tmp`;
    await writeDurable(tmp, `${seq}\n`);
    await rename(tmp, path);
    await this.syncDir();
    state.ackedSeq = seq;
  }

  /** Remove a session whose every event is acknowledged and that has ended. */
  async deleteSession(sessionId: string): Promise<void> {
    const state = this.sessionsById.get(sessionId);
    if (!state) return;
    if (!(state.ended && state.ackedSeq >= state.durableSeq)) {
      throw new RecordingError('RECORD_NOT_ACKED', `session ${sessionId} is not ended and fully acknowledged`);
    }
    closeFd(state);
    // jsonl first: a crash in between leaves a stray .ack, which recovery removes.
    await unlink(state.path).catch(ignoreMissing);
    await unlink(join(this.dir, `${sessionId}.ack`)).catch(ignoreMissing);
    await this.syncDir();
    this.totalBytes -= state.bytes;
    this.sessionsById.delete(sessionId);
    this.emit('deleted', sessionId);
  }

  /** Wait until every written event is fsynced (or failed); starts a pending sync at once. */
  async drain(): Promise<void> {
    while (this.syncTimer !== null || this.syncing !== null || this.queue.length > 0) {
      if (this.syncing === null) this.startSync();
      await this.syncing;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    for (const s of this.sessionsById.values()) closeFd(s);
    await unlink(join(this.dir, LOCK_FILE)).catch(ignoreMissing);
  }

  private writeLine(state: SessionState, line: Buffer): void {
    try {
      if (state.fd === null) {
        const created = state.bytes === 0 && state.durableSeq === 0 && state.queuedSeq === 0;
        state.fd = openSync(state.path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
        if (created) state.dirDirty = true;
      }
      let written = 0;
      while (written < line.length) written += writeSync(state.fd, line, written, line.length - written);
    } catch (err) {
      // A partial line is a torn tail that recovery truncates; the session takes nothing more.
      const e = new SpoolWriteError(`cannot write spool file ${state.path}: ${errMessage(err)}`, err);
      state.broken = e;
      this.emit('error-write', e);
      throw e;
    }
  }

  private scheduleSync(): void {
    if (this.syncTimer !== null || this.syncing !== null) return;
    this.syncTimer = setTimeout(() => this.startSync(), this.syncDelayMs);
  }

  private startSync(): void {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.syncing !== null) return;
    const batch = this.queue;
    this.queue = [];
    this.syncing = this.syncBatch(batch).finally(() => {
      this.syncing = null;
      // Appends written while this sync ran get the next one.
      if (this.queue.length > 0) this.scheduleSync();
    });
  }

  private async syncBatch(batch: Pending[]): Promise<void> {
    const bySession = new Map<SessionState, Pending[]>();
    for (const p of batch) {
      const list = bySession.get(p.state);
      if (list) list.push(p);
      else bySession.set(p.state, [p]);
    }
    let dirSync: Promise<Error | null> | null = null;
    if ([...bySession.keys()].some((s) => s.dirDirty)) {
      dirSync = this.syncDir().then(
        () => null,
        (err: unknown) => new Error(errMessage(err)),
      );
    }
    await Promise.all([...bySession].map(([state, items]) => this.syncSession(state, items, dirSync)));
  }

  private async syncSession(state: SessionState, items: Pending[], dirSync: Promise<Error | null> | null): Promise<void> {
    const size = items.reduce((n, p) => n + p.size, 0);
    try {
      if (state.broken) throw state.broken;
      const fd = state.fd;
      if (fd === null) throw new Error('file is not open');
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      this.stats.fsyncs++;
      if (state.dirDirty && dirSync !== null) {
        const dirErr = await dirSync;
        if (dirErr) throw dirErr;
        state.dirDirty = false;
      }
    } catch (err) {
      const e =
        err instanceof SpoolWriteError ? err : new SpoolWriteError(`cannot sync spool file ${state.path}: ${errMessage(err)}`, err);
      state.broken = e;
      this.queuedBytes -= size;
      for (const p of items) p.reject(e);
      this.emit('error-write', e);
      return;
    }
    this.queuedBytes -= size;
    this.totalBytes += size;
    state.bytes += size;
    const last = items[items.length - 1];
    if (last) {
      state.durableSeq = last.event.seq;
      state.lastHash = last.event.hash;
      if (last.event.type === 'session.end') {
        state.ended = true;
        closeFd(state);
      }
    }
    this.stats.appends += items.length;
    for (const p of items) p.resolve();
    this.emit('durable', state.sessionId);
  }

  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  private async lock(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw new SpoolWriteError(`cannot lock spool ${this.dir}: ${errMessage(err)}`, err);
    }
    const pid = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).trim(), 10);
    // Our own pid means an earlier Spool object in this process (dropped without close).
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new SpoolLockedError(`spool ${this.dir} is in use by process ${pid}`);
    }
    await writeFile(path, `${process.pid}\n`, { mode: 0o600 });
  }

  private async recover(): Promise<void> {
    const names = await readdir(this.dir);
    const jsonl = new Set(names.filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -'.jsonl'.length)));
    for (const n of names) {
      if (n.endsWith('.ack.tmp')) await unlink(join(this.dir, n)).catch(ignoreMissing);
      if (n.endsWith('.ack') && !jsonl.has(n.slice(0, -'.ack'.length))) await unlink(join(this.dir, n)).catch(ignoreMissing);
    }
    for (const sessionId of [...jsonl].sort()) {
      if (!SESSION_ID.test(sessionId)) continue;
      await this.recoverSession(sessionId);
    }
  }

  private async recoverSession(sessionId: string): Promise<void> {
    const path = join(this.dir, `${sessionId}.jsonl`);
    let goodEnd = 0;
    let seq = 0;
    let prev = genesisHash(sessionId);
    let ended = false;
    let startedAt: string | null = null;
    try {
      for await (const { line, end } of readLines(path, 0, this.maxEventBytes + 1)) {
        const event = parseLine(line);
        const valid =
          event !== null &&
          event.sessionId === sessionId &&
          event.seq === seq + 1 &&
          event.prevHash === prev &&
          computeEventHash(event) === event.hash &&
          !ended;
        if (!valid) break;
        seq = event.seq;
        prev = event.hash;
        if (event.type === 'session.start') startedAt = event.ts;
        if (event.type === 'session.end') ended = true;
        goodEnd = end;
      }
    } catch (err) {
      if (!(err instanceof RecordingError)) throw err; // an over-long line ends the good part
    }
    const size = (await stat(path)).size;
    if (goodEnd < size) {
      const fh = await open(path, 'r+');
      try {
        const tail = Buffer.alloc(Math.min(size - goodEnd, this.maxEventBytes * 4));
        await fh.read(tail, 0, tail.length, goodEnd);
        if (tail.includes(0x0a)) {
          // A complete line failed to parse or chain (not only a torn final
          // write): keep the discarded bytes for inspection before truncating.
          const aside = `${path}.discarded-${goodEnd}`;
          await writeDurable(aside, tail.toString('latin1'), 'latin1');
          this.quarantined.push(aside);
        }
        await fh.truncate(goodEnd);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    if (seq === 0) {
      await unlink(path).catch(ignoreMissing);
      await unlink(join(this.dir, `${sessionId}.ack`)).catch(ignoreMissing);
      return;
    }
    let acked = 0;
    const ackText = await readFile(join(this.dir, `${sessionId}.ack`), 'utf8').catch(() => '0');
    const parsedAck = Number.parseInt(ackText.trim(), 10);
    if (Number.isSafeInteger(parsedAck) && parsedAck >= 0) acked = Math.min(parsedAck, seq);
    const state = newState(sessionId, path);
    state.bytes = goodEnd;
    state.queuedSeq = seq;
    state.durableSeq = seq;
    state.lastHash = prev;
    state.ackedSeq = acked;
    state.ended = ended;
    state.queuedEnd = ended;
    this.sessionsById.set(sessionId, state);
    this.totalBytes += goodEnd;
    if (!ended) this.orphanList.push({ sessionId, lastSeq: seq, lastHash: prev, startedAt });
  }
}

function newState(sessionId: string, path: string): SessionState {
  return {
    sessionId,
    path,
    fd: null,
    dirDirty: false,
    bytes: 0,
    queuedSeq: 0,
    queuedEnd: false,
    durableSeq: 0,
    lastHash: genesisHash(sessionId),
    ackedSeq: 0,
    ended: false,
    broken: null,
    readHints: new Map(),
  };
}

function closeFd(state: SessionState): void {
  if (state.fd === null) return;
  try {
    closeSync(state.fd);
  } catch {
    // Nothing to do: the data was synced or the session is broken.
  }
  state.fd = null;
}

function parseLine(buf: Buffer): RecordEvent | null {
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    return isRecordEvent(v) ? v : null;
  } catch {
    return null;
  }
}

async function writeDurable(path: string, text: string, encoding: BufferEncoding = 'utf8'): Promise<void> {
  const fh = await open(path, 'w', 0o600);
  try {
    await fh.writeFile(text, encoding);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

function ignoreMissing(err: unknown): void {
  if (!isErrno(err, 'ENOENT')) throw err;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
