// Monotonic UUIDv7 (RFC 9562, method 1): 48-bit unix ms, then a 12-bit counter
// in rand_a that increases within a millisecond, then 62 random bits. Ids are
// sortable by creation order within this process even if the clock steps back.

import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

export function newEventId(now: number = Date.now()): string {
  let ms = now;
  if (ms > lastMs) {
    lastMs = ms;
    counter = randomBytes(2).readUInt16BE(0) & 0x3ff; // start low so the counter has room
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
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((counter >> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function isEventId(s: string): boolean {
  return UUID_V7.test(s);
}
