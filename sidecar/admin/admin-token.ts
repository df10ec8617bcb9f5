// The admin token guards every state-changing admin endpoint. The agent shares
// the sidecar's network namespace, so the port is reachable; the token file is
// what it cannot read. Created with mode 0600 when absent.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export class AdminTokenError extends Error {
  readonly code: 'ADMIN_TOKEN_INVALID' | 'ADMIN_TOKEN_UNREADABLE';
  constructor(message: string, code: 'ADMIN_TOKEN_INVALID' | 'ADMIN_TOKEN_UNREADABLE' = 'ADMIN_TOKEN_INVALID') {
    super(message);
    this.code = code;
    this.name = 'AdminTokenError';
  }
}

const MIN_TOKEN_CHARS = 16;

/** Read the token at `path`, creating a random one (32 bytes, base64url, mode 0600) if the file does not exist. */
export async function loadOrCreateAdminToken(path: string): Promise<{ token: string; created: boolean; looseMode: boolean }> {
  let created = false;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, randomBytes(32).toString('base64url') + '\n', { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') {
      throw new AdminTokenError(`cannot create admin token file ${path}: ${(err as Error).message}`, 'ADMIN_TOKEN_UNREADABLE');
    }
  }
  const token = await readAdminToken(path);
  const mode = (await stat(path)).mode & 0o777;
  return { token, created, looseMode: (mode & 0o077) !== 0 };
}

export async function readAdminToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AdminTokenError(`cannot read admin token file ${path}: ${(err as Error).message}`, 'ADMIN_TOKEN_UNREADABLE');
  }
  const token = text.trim();
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
    throw new AdminTokenError(`admin token in ${path} must be one line of at least ${MIN_TOKEN_CHARS} characters`);
  }
  return token;
}

/** Constant-time comparison (digests first, so lengths never leak through timing either). */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, b) && expected.length > 0;
}
