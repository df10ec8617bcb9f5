// The filesystem TranscriptStore: DIR/<namespace>/<sessionId>.jsonl, one
// chained event per line, each stored once however often it is shipped.
// The file, not memory, is the truth: the head is rebuilt by reading it after
// a restart, and bytes past the last good event (a torn append) are cut. A
// cached head is used only while the file still has the size it had when the
// head was cached, so a store that another process appended to in between
// (leadership moved to another replica and back, on a shared volume) re-reads
// the file instead of acknowledging from a stale head. Only one process
// appends at a time: the operator ingests on the leader only.
import { constants as fsc } from 'node:fs';
import { mkdir, open, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { ChainConflictError, RecordingError } from '../../core/recording/errors.js';
import { isRecordEvent, type RecordEvent } from '../../core/recording/events.js';
import { computeEventHash, genesisHash } from '../../core/recording/hash-chain.js';
import { readLines } from '../../core/recording/line-reader.js';
import type { AppendResult, TranscriptHead, TranscriptKey, TranscriptStore } from './transcript-store.js';

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_CACHED_HEADS = 10_000;

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

export class FsTranscriptStore implements TranscriptStore {
  readonly name = 'file';
  private readonly heads = new Map<string, { head: TranscriptHead; size: number }>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {}

  locate(key: TranscriptKey): string {
    checkKey(key);
    return join(this.dir, key.namespace, `${key.sessionId}.jsonl`);
  }

  head(key: TranscriptKey): Promise<TranscriptHead> {
    return this.locked(key, () => this.loadHead(key));
  }

  append(key: TranscriptKey, events: readonly RecordEvent[]): Promise<AppendResult> {
    return this.locked(key, () => this.appendLocked(key, events));
  }

  async *read(key: TranscriptKey): AsyncIterable<RecordEvent> {
    const path = this.locate(key);
    try {
      await stat(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for await (const { line } of readLines(path)) {
      const e: unknown = JSON.parse(line.toString('utf8'));
      if (!isRecordEvent(e)) throw new RecordingError('RECORD_BAD_TRANSCRIPT', `${path}: a line is not a session event`);
      yield e;
    }
  }

  /** One operation per session at a time: appends and the cached head stay in step. */
  private locked<T>(key: TranscriptKey, fn: () => Promise<T>): Promise<T> {
    const k = `${key.namespace}/${key.sessionId}`;
    const prev = this.locks.get(k) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.locks.set(k, next);
    void next.finally(() => {
      if (this.locks.get(k) === next) this.locks.delete(k);
    }).catch(() => undefined);
    return next;
  }

  private async appendLocked(key: TranscriptKey, events: readonly RecordEvent[]): Promise<AppendResult> {
    const head = await this.loadHead(key);
    let { events: lastSeq, lastHash } = head;
    const appended: RecordEvent[] = [];
    for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
      if (e.sessionId !== key.sessionId) throw new ChainConflictError(`event ${e.id} belongs to session ${e.sessionId}, not ${key.sessionId}`);
      if (e.seq === head.events && e.seq > 0 && e.hash !== head.lastHash) {
        throw new ChainConflictError(`session ${key.sessionId} seq ${e.seq} differs from the stored event`);
      }
      if (e.seq <= lastSeq) continue; // already stored: shipping is at-least-once
      if (e.seq !== lastSeq + 1) break; // a gap: acknowledge what is contiguous, the rest is resent
      if (e.prevHash !== lastHash || computeEventHash(e) !== e.hash) {
        throw new ChainConflictError(`session ${key.sessionId} seq ${e.seq} does not continue the stored chain`);
      }
      appended.push(e);
      lastSeq = e.seq;
      lastHash = e.hash;
    }
    if (appended.length > 0) {
      const path = this.locate(key);
      await mkdir(join(this.dir, key.namespace), { recursive: true, mode: 0o700 });
      const fh = await open(path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o600);
      try {
        await fh.writeFile(appended.map((e) => JSON.stringify(e) + '\n').join(''), 'utf8');
        await fh.datasync(); // durable before it is acknowledged (invariant 4)
        this.remember(key, { events: lastSeq, lastHash }, (await fh.stat()).size);
      } finally {
        await fh.close();
      }
    }
    return { events: lastSeq, lastHash, appended };
  }

  private remember(key: TranscriptKey, head: TranscriptHead, size: number): void {
    const k = `${key.namespace}/${key.sessionId}`;
    this.heads.delete(k);
    if (this.heads.size >= MAX_CACHED_HEADS) {
      const oldest = this.heads.keys().next().value;
      if (oldest !== undefined) this.heads.delete(oldest);
    }
    this.heads.set(k, { head, size });
  }

  private async loadHead(key: TranscriptKey): Promise<TranscriptHead> {
    const k = `${key.namespace}/${key.sessionId}`;
    const path = this.locate(key);
    let lastSeq = 0;
    let lastHash = genesisHash(key.sessionId);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        this.heads.delete(k);
        return { events: 0, lastHash };
      }
      throw err;
    }
    const cached = this.heads.get(k);
    if (cached?.size === size) return cached.head;
    let goodEnd = 0;
    for await (const { line, end } of readLines(path)) {
      let e: unknown;
      try {
        e = JSON.parse(line.toString('utf8'));
      } catch {
        break;
      }
      if (!isRecordEvent(e) || e.seq !== lastSeq + 1 || e.prevHash !== lastHash || computeEventHash(e) !== e.hash) break;
      lastSeq = e.seq;
      lastHash = e.hash;
      goodEnd = end;
    }
    // Only an interrupted append leaves bytes past the last good event.
    if (goodEnd < size) await truncate(path, goodEnd);
    const head = { events: lastSeq, lastHash };
    this.remember(key, head, goodEnd);
    return head;
  }
}

function checkKey(key: TranscriptKey): void {
  if (!NAMESPACE.test(key.namespace)) throw new RecordingError('RECORD_BAD_NAMESPACE', `namespace ${JSON.stringify(key.namespace)} is not a DNS label`);
  if (!SESSION_ID.test(key.sessionId)) throw new RecordingError('RECORD_BAD_SESSION_ID', `session id ${JSON.stringify(key.sessionId)} is not a safe file name`);
}
