// A SCRAM-SHA-256 verifier (RFC 5802/7677) in PostgreSQL's stored format:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. Given to CREATE
// ROLE … PASSWORD, it lets the role log in with the password while the
// cleartext never travels to the server (so never into its statement log).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 4096;
// SASLprep is the identity on printable ASCII; the passwords here are base64url.
const ASCII_PRINTABLE = /^[\x21-\x7e]+$/;

export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  if (!ASCII_PRINTABLE.test(password)) throw new RangeError('the password must be printable ASCII (no SASLprep here)');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A random password: 32 bytes of base64url (printable ASCII, 43 characters). */
export function randomPassword(): string {
  return randomBytes(32).toString('base64url');
}
