// SCRAM-SHA-256 client (RFC 5802 / RFC 7677) for authenticating to the
// backend, without channel binding (gs2 header "n,,"). The server's final
// signature is verified, so a server that does not know the password cannot
// pass itself off as the backend. PBKDF2 runs on the thread pool.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { PgProxyError } from './protocol-errors.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** A hostile server could ask for any iteration count; PostgreSQL's default is 4096. */
const MAX_ITERATIONS = 1_000_000;

function authError(message: string): PgProxyError {
  return new PgProxyError('PG_BACKEND_AUTH', `SCRAM authentication with the backend failed: ${message}`);
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * SASLprep (RFC 4013) for the common cases: ASCII passwords are unchanged;
 * others are NFKC-normalized with non-ASCII spaces mapped to U+0020 and
 * "mapped to nothing" characters removed. PostgreSQL falls back to the raw
 * bytes when SASLprep fails, which the operator's generated passwords avoid.
 */
export function saslPrep(password: string): string {
  if (/^[\x20-\x7e]*$/.test(password)) return password;
  return password
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g, '')
    .normalize('NFKC');
}

function parseAttributes(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw authError('malformed server message');
    out.set(part.slice(0, 1), part.slice(2));
  }
  return out;
}

export class ScramClient {
  private readonly clientNonce: string;
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | undefined;

  /**
   * @param user sent as n= (PostgreSQL takes the user from the startup packet and ignores it; empty by default)
   * @param nonce for tests only; random otherwise
   */
  constructor(
    private readonly password: string,
    opts: { user?: string; nonce?: string } = {},
  ) {
    this.clientNonce = opts.nonce ?? randomBytes(18).toString('base64');
    const user = (opts.user ?? '').replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.clientFirstBare = `n=${user},r=${this.clientNonce}`;
  }

  /** SASLInitialResponse payload. */
  clientFirst(): Buffer {
    return Buffer.from(`n,,${this.clientFirstBare}`, 'utf8');
  }

  /** SASLResponse payload for the server-first message. */
  async clientFinal(serverFirst: Buffer): Promise<Buffer> {
    const serverFirstText = serverFirst.toString('utf8');
    const attrs = parseAttributes(serverFirstText);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterText = attrs.get('i');
    if (nonce === undefined || salt === undefined || iterText === undefined) throw authError('server-first message is incomplete');
    if (!nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) throw authError('server nonce is invalid');
    if (!/^[1-9][0-9]{0,9}$/.test(iterText)) throw authError('invalid iteration count');
    const iterations = Number(iterText);
    if (iterations > MAX_ITERATIONS) throw authError(`iteration count ${iterations} exceeds ${MAX_ITERATIONS}`);
    const saltBytes = Buffer.from(salt, 'base64');
    if (saltBytes.length === 0) throw authError('empty salt');

    const salted = await new Promise<Buffer>((resolve, reject) => {
      pbkdf2(saslPrep(this.password), saltBytes, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key)));
    });
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const finalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirstText},${finalWithoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = (clientKey[i] as number) ^ (clientSignature[i] as number);
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks the server-final message; throws unless the server proved it knows the password. */
  verifyServerFinal(serverFinal: Buffer): void {
    const attrs = parseAttributes(serverFinal.toString('utf8'));
    const e = attrs.get('e');
    if (e !== undefined) throw authError(`server error ${e}`);
    const v = attrs.get('v');
    if (v === undefined || this.serverSignature === undefined) throw authError('server-final message is incomplete');
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.serverSignature.length || !timingSafeEqual(got, this.serverSignature)) {
      throw authError('server signature does not match');
    }
  }
}

/** The MD5 password response: "md5" + md5(md5(password + user) + salt). */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user, 'utf8').digest('hex');
  return 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner, 'utf8'), salt])).digest('hex');
}
