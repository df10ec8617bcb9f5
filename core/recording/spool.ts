// The spool: one append-only JSONL file per session in a directory the sidecar
// owns, each held open by one descriptor. `write` puts the event's line in the
// file synchronously (it is in the kernel's page cache when write returns, so
// a crash of this process loses nothing); `enqueue` also returns a promise
// that settles after fdatasync. Syncs are group-committed: at most one runs at
// a time, each starts `syncDelayMs` after the first write it covers and covers
// every write made before it starts. Written lines are also kept in memory
// (bounded) until acknowledged, so the shipper does not read back what this
// process wrote. The ack position of each session lives beside it in
// `<id>.ack`, replaced atomically but not fsynced: an ack lost to a machine
// crash only makes the shipper send events again, and sinks are idempotent.
// A crash can only tear the tail of a file; reopening truncates a torn tail and
// reports sessions that never ended as orphans.

import { EventEmitter } from 'node:events';
import { closeSync, constants as fsc, fdatasync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
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
  /**
   * How long a sync waits after the first write it will cover, so bursts share
   * one fdatasync. Default 20 ms: a machine crash can lose at most that window
   * (a crash of the process loses nothing written); each session's fdatasync
   * costs kernel CPU, so shorter windows cost throughput (docs/benchmarks.md).
   */
  syncDelayMs?: number;
  /** Upper bound for lines kept in memory for the shipper (beyond it, batches are read from the files). Default 16 MiB. */
  maxMemoryBytes?: number;
  /** Least time between two writes of a session's ack file (the latest ack is also written at close). Default 1000 ms. */
  ackIntervalMs?: number;
}

/** A batch for the shipper: durable events in seq order, with their stored lines when this process wrote them. */
export interface SpoolBatch {
  events: RecordEvent[];
  /** The exact stored line of each event (no newline), when the batch came from memory. */
  lines?: string[];
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

interface MemLine {
  event: RecordEvent;
  line: string;
  size: number;
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
  /** Hash of the last event written (durable or not). */
  queuedHash: string;
  /** Bytes written since the last sync started. */
  unsynced: number;
  /** Promises waiting for a seq to become durable (only for callers that asked). */
  waiters: Array<{ seq: number; resolve: () => void; reject: (err: Error) => void }>;
  /** Written, unacknowledged lines from `memHead` on; null when they must be read from the file. */
  mem: MemLine[] | null;
  memHead: number;
  /** Told once when the session's file cannot be written or synced. */
  onBroken: ((err: Error) => void) | undefined;
  /** Deferred lines (with their newlines), written with the next line or before the next sync. */
  deferred: string;
  /** When the ack file was last written, and the seq it holds. */
  ackWrittenAt: number;
  ackWrittenSeq: number;
}

/** What one sync covers of one session: everything written before it started. */
interface SyncPart {
  state: SessionState;
  seq: number;
  hash: string;
  bytes: number;
  end: boolean;
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
  private readonly maxMemoryBytes: number;
  private readonly ackIntervalMs: number;
  private memoryBytes = 0;
  /** Sessions written since the last sync started. */
  private dirty = new Set<SessionState>();
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
    this.syncDelayMs = opts.syncDelayMs ?? 20;
    this.maxMemoryBytes = opts.maxMemoryBytes ?? 16 * 1024 * 1024;
    this.ackIntervalMs = opts.ackIntervalMs ?? 1000;
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
    const s = this.sessionsById.get(sessionId);
    if (s === undefined) return undefined;
    return { sessionId, durableSeq: s.durableSeq, ackedSeq: s.ackedSeq, ended: s.ended, bytes: s.bytes, broken: s.broken !== null };
  }

  /**
   * Write an event to its session's file (synchronously: when this returns the
   * line is in the page cache and survives a crash of this process). Throws
   * (nothing taken) when the event is invalid, out of order, too large, the
   * spool is full, or the file cannot be written (the session is then broken
   * and takes no more events). `line` is the event's JSON as it should be
   * stored (session-recorder.ts builds it once); `onBroken` is told if a later
   * write or sync of this session fails. Durability follows within about
   * `syncDelayMs` plus one sync; `whenDurable` waits for it.
   *
   * `defer`: the line is only buffered, and written together with the
   * session's next line or just before the next sync starts (at most about
   * `syncDelayMs` later), saving a system call per event. For events that
   * nothing waits on before acting (a statement's outcome), never for a
   * write-ahead event: a crash of the process can lose a deferred line.
   */
  write(event: RecordEvent, line?: string, onBroken?: (err: Error) => void, defer = false): void {
    if (this.closed) throw new RecordingError('RECORD_SPOOL_CLOSED', 'spool is closed');
    let state = this.sessionsById.get(event.sessionId);
    if (state === undefined && !SESSION_ID.test(event.sessionId)) {
      throw new RecordingError('RECORD_BAD_SESSION_ID', `session id ${JSON.stringify(event.sessionId)} is not a safe file name`);
    }
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
    const text = line ?? JSON.stringify(event);
    const size = Buffer.byteLength(text, 'utf8') + 1;
    if (size > this.maxEventBytes) {
      throw new RecordingError(
        'RECORD_EVENT_TOO_LARGE',
        `event of ${size} bytes exceeds the ${this.maxEventBytes}-byte limit (session ${event.sessionId}, seq ${event.seq})`,
      );
    }
    if (this.bytes + size > this.maxBytes) {
      throw new SpoolFullError(
        `spool ${this.dir} is full: ${this.bytes} of ${this.maxBytes} bytes used; events cannot be recorded until shipped`,
      );
    }
    if (!state) {
      state = newState(event.sessionId, join(this.dir, `${event.sessionId}.jsonl`));
      this.sessionsById.set(event.sessionId, state);
    }
    if (onBroken !== undefined) state.onBroken = onBroken;
    if (defer) state.deferred += text + '\n';
    else if (state.deferred !== '') {
      const both = state.deferred + text + '\n';
      state.deferred = '';
      this.writeLine(state, both, Buffer.byteLength(both, 'utf8'));
    } else this.writeLine(state, text + '\n', size);
    state.queuedSeq = event.seq;
    state.queuedHash = event.hash;
    if (event.type === 'session.end') state.queuedEnd = true;
    state.unsynced += size;
    this.queuedBytes += size;
    if (state.mem !== null) {
      if (this.memoryBytes + size <= this.maxMemoryBytes) {
        state.mem.push({ event, line: text, size });
        this.memoryBytes += size;
      } else {
        // Over the memory bound: this session's batches come from the file until it catches up.
        this.dropMemory(state);
      }
    }
    this.dirty.add(state);
    this.scheduleSync();
  }

  /** Resolves once `seq` of the session is fsynced; rejects if the session's file cannot be written or synced. */
  whenDurable(sessionId: string, seq: number): Promise<void> {
    const state = this.sessionsById.get(sessionId);
    if (state === undefined) return Promise.reject(new RecordingError('RECORD_UNKNOWN_SESSION', `no spooled session ${sessionId}`));
    if (state.durableSeq >= seq) return Promise.resolve();
    if (state.broken) return Promise.reject(state.broken);
    return new Promise<void>((resolve, reject) => state.waiters.push({ seq, resolve, reject }));
  }

  /**
   * Write an event (see `write`) and return a promise that settles after its
   * line is fdatasynced. Throws synchronously when nothing was taken.
   */
  enqueue(event: RecordEvent, line?: string): Promise<void> {
    this.write(event, line);
    return this.whenDurable(event.sessionId, event.seq);
  }

  /** Same as enqueue, but reports synchronous refusals as a rejected promise. */
  async append(event: RecordEvent): Promise<void> {
    await this.enqueue(event);
  }

  /**
   * Up to `maxEvents` durable events after `afterSeq` (bounded by `maxBytes`,
   * at least one event): from memory with their stored lines when this process
   * wrote them and still holds them, otherwise read from the file.
   */
  async takeBatch(sessionId: string, afterSeq: number, maxEvents = 500, maxBytes = 1024 * 1024): Promise<SpoolBatch> {
    const state = this.sessionsById.get(sessionId);
    if (!state || afterSeq >= state.durableSeq) return { events: [] };
    const mem = state.mem;
    const first = mem?.[state.memHead];
    if (mem === null || first === undefined || first.event.seq > afterSeq + 1) {
      return { events: await this.readBatch(sessionId, afterSeq, maxEvents, maxBytes) };
    }
    const events: RecordEvent[] = [];
    const lines: string[] = [];
    let bytes = 0;
    for (let i = state.memHead + (afterSeq + 1 - first.event.seq); i < mem.length; i++) {
      const m = mem[i] as MemLine;
      if (m.event.seq > state.durableSeq) break;
      events.push(m.event);
      lines.push(m.line);
      bytes += m.size;
      if (events.length >= maxEvents || bytes >= maxBytes) break;
    }
    return { events, lines };
  }

  /** Read up to `maxEvents` durable events after `afterSeq` from the file (bounded by `maxBytes`, at least one event). */
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

  /**
   * Remember that the sink holds everything through `seq` (file replaced
   * atomically, not fsynced: losing it to a machine crash only re-ships).
   */
  async ack(sessionId: string, seq: number): Promise<void> {
    const state = this.sessionsById.get(sessionId);
    if (!state) throw new RecordingError('RECORD_UNKNOWN_SESSION', `no spooled session ${sessionId}`);
    if (seq > state.durableSeq || seq < 0) {
      throw new RecordingError('RECORD_BAD_ACK', `ack ${seq} for session ${sessionId} outside 0..${state.durableSeq}`);
    }
    state.ackedSeq = seq;
    const now = Date.now();
    if (now - state.ackWrittenAt >= this.ackIntervalMs) this.writeAck(state, now);
    this.forgetAcked(state);
  }

  private writeAck(state: SessionState, now: number): void {
    if (state.ackWrittenSeq === state.ackedSeq) return;
    const path = join(this.dir, `${state.sessionId}.ack`);
    const tmp = `${path}.tmp`;
    try {
      writeFileSync(tmp, `${state.ackedSeq}\n`, { mode: 0o600 });
      renameSync(tmp, path);
    } catch (err) {
      throw new SpoolWriteError(`cannot write ack file ${path}: ${errMessage(err)}`, err);
    }
    state.ackWrittenAt = now;
    state.ackWrittenSeq = state.ackedSeq;
  }

  /** Remove a session whose every event is acknowledged and that has ended. */
  async deleteSession(sessionId: string): Promise<void> {
    const state = this.sessionsById.get(sessionId);
    if (!state) return;
    if (!(state.ended && state.ackedSeq >= state.durableSeq)) {
      throw new RecordingError('RECORD_NOT_ACKED', `session ${sessionId} is not ended and fully acknowledged`);
    }
    closeFd(state);
    this.dropMemory(state);
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
    while (this.syncTimer !== null || this.syncing !== null || this.dirty.size > 0) {
      if (this.syncing === null) this.startSync();
      await this.syncing;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    for (const s of this.sessionsById.values()) {
      closeFd(s);
      try {
        this.writeAck(s, Date.now());
      } catch {
        // Only costs re-shipping after the restart.
      }
    }
    await unlink(join(this.dir, LOCK_FILE)).catch(ignoreMissing);
  }

  private writeLine(state: SessionState, text: string, size: number): void {
    try {
      if (state.fd === null) {
        const created = state.bytes === 0 && state.durableSeq === 0 && state.queuedSeq === 0;
        state.fd = openSync(state.path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
        if (created) state.dirDirty = true;
      }
      const written = writeSync(state.fd, text);
      if (written < size) {
        // A short write (rare): finish it from the bytes.
        const buf = Buffer.from(text, 'utf8');
        let done = written;
        while (done < buf.length) done += writeSync(state.fd, buf, done, buf.length - done);
      }
    } catch (err) {
      // A partial line is a torn tail that recovery truncates; the session takes nothing more.
      const e = new SpoolWriteError(`cannot write spool file ${state.path}: ${errMessage(err)}`, err);
      const first = state.broken === null;
      state.broken = e;
      state.deferred = '';
      this.dropMemory(state);
      if (first) state.onBroken?.(e);
      this.emit('error-write', e);
      throw e;
    }
  }

  /** Drop acknowledged lines from memory; a session that caught up while reading from the file keeps lines again. */
  private forgetAcked(state: SessionState): void {
    const mem = state.mem;
    if (mem === null) {
      if (state.ackedSeq >= state.queuedSeq && state.broken === null && !state.queuedEnd) state.mem = [];
      return;
    }
    let head = state.memHead;
    while (head < mem.length && (mem[head] as MemLine).event.seq <= state.ackedSeq) {
      this.memoryBytes -= (mem[head] as MemLine).size;
      head++;
    }
    if (head === mem.length) {
      mem.length = 0;
      head = 0;
    } else if (head > 1024 && head * 2 > mem.length) {
      mem.splice(0, head);
      head = 0;
    }
    state.memHead = head;
  }

  private dropMemory(state: SessionState): void {
    const mem = state.mem;
    if (mem === null) return;
    for (let i = state.memHead; i < mem.length; i++) this.memoryBytes -= (mem[i] as MemLine).size;
    state.mem = null;
    state.memHead = 0;
  }

  private scheduleSync(): void {
    if (this.syncTimer !== null || this.syncing !== null) return;
    this.syncTimer = setTimeout(() => this.startSync(), this.syncDelayMs);
  }

  private startSync(): void {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.syncing !== null) return;
    const parts: SyncPart[] = [];
    for (const state of this.dirty) {
      if (state.deferred !== '') {
        const text = state.deferred;
        state.deferred = '';
        try {
          this.writeLine(state, text, Buffer.byteLength(text, 'utf8'));
        } catch (err) {
          // The session is broken now; its sync below fails and tells everyone waiting.
          void err;
        }
      }
      parts.push({ state, seq: state.queuedSeq, hash: state.queuedHash, bytes: state.unsynced, end: state.queuedEnd });
      state.unsynced = 0;
    }
    this.dirty.clear();
    this.syncing = this.syncBatch(parts).finally(() => {
      this.syncing = null;
      // Writes made while this sync ran get the next one.
      if (this.dirty.size > 0) this.scheduleSync();
    });
  }

  private async syncBatch(parts: SyncPart[]): Promise<void> {
    let dirSync: Promise<Error | null> | null = null;
    if (parts.some((p) => p.state.dirDirty)) {
      dirSync = this.syncDir().then(
        () => null,
        (err: unknown) => new Error(errMessage(err)),
      );
    }
    await Promise.all(parts.map((p) => this.syncSession(p, dirSync)));
  }

  private async syncSession(part: SyncPart, dirSync: Promise<Error | null> | null): Promise<void> {
    const { state } = part;
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
      const first = state.broken === null;
      state.broken = e;
      this.queuedBytes -= part.bytes + state.unsynced;
      state.unsynced = 0;
      this.dirty.delete(state);
      this.dropMemory(state);
      const waiters = state.waiters;
      state.waiters = [];
      for (const w of waiters) w.reject(e);
      if (first) state.onBroken?.(e);
      this.emit('error-write', e);
      return;
    }
    this.queuedBytes -= part.bytes;
    this.totalBytes += part.bytes;
    state.bytes += part.bytes;
    const before = state.durableSeq;
    state.durableSeq = part.seq;
    state.lastHash = part.hash;
    if (part.end) {
      state.ended = true;
      closeFd(state);
    }
    this.stats.appends += part.seq - before;
    if (state.waiters.length > 0) {
      const still: SessionState['waiters'] = [];
      for (const w of state.waiters) {
        if (w.seq <= part.seq) w.resolve();
        else still.push(w);
      }
      state.waiters = still;
    }
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
    state.queuedHash = prev;
    state.ackWrittenSeq = acked;
    // Written by an earlier process: batches come from the file until the shipper catches up.
    state.mem = acked >= seq && !ended ? [] : null;
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
    queuedHash: genesisHash(sessionId),
    unsynced: 0,
    waiters: [],
    mem: [],
    memHead: 0,
    onBroken: undefined,
    deferred: '',
    ackWrittenAt: 0,
    ackWrittenSeq: 0,
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
