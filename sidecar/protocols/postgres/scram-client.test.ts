import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { PgProxyError } from './protocol-errors.js';
import { md5PasswordResponse, saslPrep, ScramClient } from './scram-client.js';

describe('SCRAM-SHA-256 client', () => {
  // RFC 7677 section 3.
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';

  it('produces the RFC 7677 exchange and verifies the server signature', async () => {
    const c = new ScramClient('pencil', { user: 'user', nonce: 'rOprNGfwEbeRWgbNEkqO' });
    expect(c.clientFirst().toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await c.clientFinal(Buffer.from(serverFirst));
    expect(final.toString()).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(() => c.verifyServerFinal(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).not.toThrow();
  });

  it('refuses a server that does not know the password, or misbehaves', async () => {
    const c = new ScramClient('pencil', { user: 'user', nonce: 'rOprNGfwEbeRWgbNEkqO' });
    await c.clientFinal(Buffer.from(serverFirst));
    expect(() => c.verifyServerFinal(Buffer.from('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).toThrow(/signature/);
    expect(() => c.verifyServerFinal(Buffer.from('e=invalid-proof'))).toThrow(/invalid-proof/);
    const fresh = (): ScramClient => new ScramClient('pw', { nonce: 'abc' });
    await expect(fresh().clientFinal(Buffer.from('r=xyz123,s=c2FsdA==,i=4096'))).rejects.toThrow(/nonce/);
    await expect(fresh().clientFinal(Buffer.from('r=abc,s=c2FsdA==,i=4096'))).rejects.toThrow(/nonce/);
    await expect(fresh().clientFinal(Buffer.from('r=abcd,s=c2FsdA==,i=99999999'))).rejects.toThrow(/iteration/);
    await expect(fresh().clientFinal(Buffer.from('r=abcd,s=c2FsdA==,i=0'))).rejects.toThrow(/iteration/);
    await expect(fresh().clientFinal(Buffer.from('r=abcd,i=4096'))).rejects.toThrow(PgProxyError);
    expect(() => fresh().verifyServerFinal(Buffer.from('v=abc='))).toThrow(/incomplete/);
  });

  it('normalizes passwords like SASLprep for the common cases', () => {
    expect(saslPrep('plain ASCII pw')).toBe('plain ASCII pw');
    expect(saslPrep('a\u00a0b')).toBe('a b');
    expect(saslPrep('a\u00adb')).toBe('ab');
    expect(saslPrep('\u2168')).toBe('IX');
  });
});

describe('MD5 password response', () => {
  it('is md5(md5(password + user) + salt) with the md5 prefix', () => {
    // PostgreSQL stores md5(password || user): for postgres/postgres that is 3175bce1d3201d16594cebf9d7eb3f9d.
    const salt = Buffer.from([1, 2, 3, 4]);
    const expected = 'md5' + createHash('md5').update(Buffer.concat([Buffer.from('3175bce1d3201d16594cebf9d7eb3f9d'), salt])).digest('hex');
    expect(md5PasswordResponse('postgres', 'postgres', salt)).toBe(expected);
  });
});
