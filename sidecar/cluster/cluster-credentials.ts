// Per-session backend credentials from the operator (static from its Secret,
// or a just-in-time role). Held in memory only, wrapped so that no log line,
// error or JSON dump can print them; released (the JIT role dropped) when the
// session ends.
import { BackendCredential } from '../config/backend-credential.js';
import type { OperatorClient } from './operator-client.js';

export interface SessionCredential {
  credential: BackendCredential;
  /** For just-in-time credentials: when the role stops accepting logins. */
  expiresAt?: Date | undefined;
  kind: 'static' | 'jit';
}

export class ClusterCredentials {
  constructor(private readonly client: Pick<OperatorClient, 'issueCredential' | 'endSession'>) {}

  async forSession(connection: string, sessionId: string): Promise<SessionCredential> {
    const c = await this.client.issueCredential(connection, sessionId);
    return {
      kind: c.kind,
      credential: new BackendCredential(c.source, { username: c.username, password: c.password, privateKey: c.privateKey, token: c.token }),
      expiresAt: c.expiresAt !== undefined ? new Date(c.expiresAt) : undefined,
    };
  }

  /** Ends the session on the operator (drops its just-in-time role). Failures are the sweeper's to clean up. */
  async release(connection: string, sessionId: string): Promise<boolean> {
    try {
      await this.client.endSession(sessionId, connection);
      return true;
    } catch {
      return false;
    }
  }
}
