// Agent identity in injected mode, following the configuration: the issuers
// the current policies name (keys from --jwks-file or the issuer's discovery
// document, cached per issuer so a policy change does not refetch them) and
// the pod as the operator describes it. An issuer whose keys cannot be had is
// left out (its tokens are refused) and tried again later: fail closed.
import type { Authenticator, AuthRequest, Identity } from '../gate/gate.js';
import { createTokenAuthenticator, type TokenIssuer } from '../gate/token-authenticator.js';
import { AuthError } from '../gate/auth-errors.js';
import { resolveIssuers, discoverJwksUri, type IssuerNeeds } from '../standalone/oidc-issuers.js';
import type { CompiledConfig } from './compiled-config.js';

export interface DynamicAuthenticatorOptions {
  jwksFiles?: readonly string[];
  discover?: (issuer: string) => Promise<string>;
  /** Wait before trying an unavailable issuer again (default 15 s). */
  retryMs?: number;
  onUnavailable?: (issuer: string, reason: string) => void;
}

const keyOf = (n: IssuerNeeds): string => `${n.issuer} ${n.audiences.join(',')}`;

export class DynamicAuthenticator implements Authenticator {
  private current: Authenticator = { authenticate: () => Promise.reject(new AuthError('AUTH_UNAVAILABLE', 'no configuration yet')) };
  private readonly resolved = new Map<string, TokenIssuer>();
  private readonly failedAt = new Map<string, number>();
  private latest: CompiledConfig | undefined;
  private updating: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: DynamicAuthenticatorOptions = {}) {}

  authenticate(req: AuthRequest): Promise<Identity> {
    return this.current.authenticate(req);
  }

  /** Rebuilds for a new configuration; resolves once the new authenticator is in place. */
  update(cfg: CompiledConfig): Promise<void> {
    this.latest = cfg;
    // A failure keeps the previous authenticator (before the first configuration: one that refuses everything).
    this.updating = this.updating.then(() => this.rebuild()).catch((err: unknown) => {
      this.o.onUnavailable?.('(all issuers)', err instanceof Error ? err.message : String(err));
    });
    return this.updating;
  }

  close(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async rebuild(): Promise<void> {
    const cfg = this.latest;
    if (cfg === undefined) return;
    const retryMs = this.o.retryMs ?? 15_000;
    const missing = cfg.issuers.filter((n) => !this.resolved.has(keyOf(n)));
    const due = missing.filter((n) => Date.now() - (this.failedAt.get(keyOf(n)) ?? 0) >= retryMs);
    if (due.length > 0) {
      const { issuers, unavailable } = await resolveIssuers(due, this.o.jwksFiles ?? [], this.o.discover ?? discoverJwksUri);
      for (const i of issuers) {
        const n = due.find((d) => d.issuer === i.issuer);
        if (n !== undefined) {
          this.resolved.set(keyOf(n), i);
          this.failedAt.delete(keyOf(n));
        }
      }
      for (const u of unavailable) {
        const n = due.find((d) => d.issuer === u.issuer);
        if (n !== undefined) this.failedAt.set(keyOf(n), Date.now());
        this.o.onUnavailable?.(u.issuer, u.reason);
      }
    }
    if (cfg !== this.latest) return; // a newer configuration rebuilds
    const issuers = cfg.issuers.map((n) => this.resolved.get(keyOf(n))).filter((i): i is TokenIssuer => i !== undefined);
    this.current = createTokenAuthenticator({ issuers, pod: cfg.pod, allowPodIdentity: cfg.allowPodIdentity });
    const stillMissing = cfg.issuers.some((n) => !this.resolved.has(keyOf(n)));
    if (stillMissing && this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.latest !== undefined) void this.update(this.latest);
      }, retryMs);
      this.retryTimer.unref();
    }
  }
}
