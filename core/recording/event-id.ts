// Monotonic UUIDv7 (RFC 9562, method 1): 48-bit unix ms, then a 12-bit counter
// in rand_a that increases within a millisecond, then 62 random bits. Ids are
// sortable by creation order within this process even if the clock steps back.
// Random bits come from a pooled buffer (one randomFillSync per 4 KiB), since
// one crypto call per id was a measurable share of recording a statement.

import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolPos = POOL_SIZE;

/** `n` fresh random bytes from the pool, as a view valid until the next call. */
function randomView(n: number): Buffer {
  if (poolPos + n > POOL_SIZE) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const view = pool.subarray(poolPos, poolPos + n);
  poolPos += n;
  return view;
}

const out = Buffer.alloc(16);

export function newEventId(now: number = Date.now()): string {
  let ms = now;
  if (ms > lastMs) {
    lastMs = ms;
    counter = randomView(2).readUInt16BE(0) & 0x3ff; // start low so the counter has room
  } else {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      // Counter exhausted within one ms: borrow the next millisecond.
      lastMs++;
      ms = lastMs;
      counter = 0;
    }
  }
  const b = out;
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((counter >> 8) & 0x0f);
  b[7] = counter & 0xff;
  randomView(8).copy(b, 8);
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isEventId(s: string): boolean {
  return UUID_V7.test(s);
}
