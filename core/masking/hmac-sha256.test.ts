import { describe, expect, it } from '@jest/globals';
import { createHmac, randomBytes } from 'node:crypto';
import { HmacSha256 } from './hmac-sha256.js';

describe('HmacSha256', () => {
  it('matches RFC 4231 test case 2', () => {
    const h = new HmacSha256(Buffer.from('Jefe'));
    expect(h.digest(Buffer.from('what do ya want for nothing?')).toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('matches node:crypto for every message length across block boundaries and for long keys', () => {
    for (const keyLen of [0, 1, 16, 32, 63, 64, 65, 200]) {
      const key = randomBytes(keyLen);
      const h = new HmacSha256(key);
      for (let len = 0; len <= 200; len++) {
        const msg = randomBytes(len);
        expect(h.digest(msg).toString('hex')).toBe(createHmac('sha256', key).update(msg).digest('hex'));
      }
      const big = randomBytes(100_000);
      expect(h.digest(big).equals(createHmac('sha256', key).update(big).digest())).toBe(true);
    }
  });

  it('is reusable: the same message gives the same digest', () => {
    const h = new HmacSha256(randomBytes(32));
    const a = h.digest(Buffer.from('alice@example.com'));
    h.digest(randomBytes(300));
    expect(h.digest(Buffer.from('alice@example.com')).equals(a)).toBe(true);
  });

  it('digests strings as their UTF-8 bytes, short ones from its own buffer and long ones too', () => {
    const key = randomBytes(32);
    const h = new HmacSha256(key);
    const hex = (words: Int32Array): string => Array.from(words, (w) => (w >>> 0).toString(16).padStart(8, '0')).join('');
    for (const value of ['', 'a', 'alice@example.com', 'Zoë Ünal 😀', '\uD800 lone', 'x'.repeat(55), 'x'.repeat(64), 'é'.repeat(400), 'y'.repeat(5000)]) {
      expect(hex(h.digestUtf8Words(value))).toBe(createHmac('sha256', key).update(value, 'utf8').digest('hex'));
    }
  });
});
