// Owns the long-lived streams (SSE responses, graphql-ws sockets) opened with each credential, and ends
// them when the credential ends: at once on a revocation (TokenService, also from other instances over
// Redis), at its expiry, and on a periodic re-check against Postgres for revocations no message announced.
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';

/** What an authentication was made with: `key` is the SHA-256 of the secret (an API token's stored hash). */
export interface Credential {
  key: string;
  kind: 'token' | 'jwt' | 'admin' | 'anonymous';
  /** ms since the epoch; undefined = does not expire. */
  expiresAt?: number;
}

export type SessionEnd = 'revoked' | 'expired';

@Injectable()
export class SessionRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly open = new Map<string, { credential: Credential; ends: Set<(reason: SessionEnd) => void> }>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.recheck().catch(() => undefined), this.config.auth.sessionRecheckMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Calls `onEnd` once when the credential ends; the returned function stops watching. */
  watch(credential: Credential, onEnd: (reason: SessionEnd) => void): () => void {
    let entry = this.open.get(credential.key);
    if (!entry) this.open.set(credential.key, (entry = { credential, ends: new Set() }));
    const once = (reason: SessionEnd) => {
      stop();
      onEnd(reason);
    };
    const stop = () => {
      entry.ends.delete(once);
      if (entry.ends.size === 0 && this.open.get(credential.key) === entry) this.open.delete(credential.key);
    };
    entry.ends.add(once);
    return stop;
  }

  /** Ends every stream opened with the credential whose key this is. */
  end(key: string, reason: SessionEnd = 'revoked'): void {
    const entry = this.open.get(key);
    if (!entry) return;
    this.open.delete(key);
    for (const end of [...entry.ends]) end(reason);
  }

  /** Open streams on this instance (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const entry of this.open.values()) n += entry.ends.size;
    return n;
  }

  /** Expired credentials, and API tokens revoked or deleted behind our back (a lost pub/sub message). */
  async recheck(): Promise<void> {
    const now = Date.now();
    const tokens: string[] = [];
    for (const [key, { credential }] of this.open) {
      if (credential.expiresAt !== undefined && credential.expiresAt <= now) this.end(key, 'expired');
      else if (credential.kind === 'token') tokens.push(key);
    }
    if (tokens.length === 0) return;
    const rows = await this.prisma.apiToken.findMany({
      where: { tokenHash: { in: tokens } },
      select: { tokenHash: true, revokedAt: true, expiresAt: true },
    });
    const valid = new Set(
      rows.filter((r) => !r.revokedAt && (!r.expiresAt || r.expiresAt.getTime() > now)).map((r) => r.tokenHash),
    );
    for (const key of tokens) if (!valid.has(key)) this.end(key, 'revoked');
  }
}

const CREDENTIAL = Symbol('osm-onboarding:credential');
type WithCredential = { [CREDENTIAL]?: { sessions: SessionRegistry; credential: Credential } };

/** Remembers on an HTTP request what it was authenticated with, for a stream it may open. */
export function attachCredential(req: object, sessions: SessionRegistry, credential: Credential): void {
  (req as WithCredential)[CREDENTIAL] = { sessions, credential };
}

/** Watches the credential of an authenticated HTTP request (a no-op on a public route). */
export function watchCredential(req: object | undefined, onEnd: (reason: SessionEnd) => void): () => void {
  const attached = (req as WithCredential | undefined)?.[CREDENTIAL];
  return attached ? attached.sessions.watch(attached.credential, onEnd) : () => undefined;
}
