// Owns what the service remembers of an OIDC subject between its calls: the most recently issued token
// seen (roles, scopes, expiry), so that a webhook the subject owns is delivered only while that token
// is valid and only within its current scopes. One write per new token per instance, none per call.
import { Inject, Injectable, Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';
import type { Actor, Role } from './actor.js';

@Injectable()
export class OidcIdentities {
  private readonly logger = new Logger(OidcIdentities.name);
  /** actor id → the token last written for it here (so a token used again costs nothing). */
  private readonly written: LRUCache<string, string>;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.written = new LRUCache({ max: config.auth.cacheMaxEntries });
  }

  /**
   * Records a verified token. A token issued earlier than the one stored (an old tab still in use)
   * changes nothing: ordered by `iat`, then by expiry.
   */
  async seen(actor: Actor, issuedAt: number, expiresAt: number): Promise<void> {
    const mark = JSON.stringify([issuedAt, expiresAt, actor.roles, actor.scopes]);
    if (this.written.get(actor.id) === mark) return;
    try {
      await this.prisma.$executeRaw`
        INSERT INTO oidc_identity (actor_id, roles, scopes, issued_at, expires_at, seen_at)
        VALUES (${actor.id}, ${actor.roles}, ${actor.scopes}, ${new Date(issuedAt)}, ${new Date(expiresAt)}, now())
        ON CONFLICT (actor_id) DO UPDATE
          SET roles = EXCLUDED.roles, scopes = EXCLUDED.scopes, issued_at = EXCLUDED.issued_at,
              expires_at = EXCLUDED.expires_at, seen_at = EXCLUDED.seen_at
          WHERE (oidc_identity.issued_at, oidc_identity.expires_at) <= (EXCLUDED.issued_at, EXCLUDED.expires_at)`;
      this.written.set(actor.id, mark);
    } catch (err) {
      // The call itself may go on; the webhooks keep the previous record until the next token.
      this.logger.warn(`could not record the OIDC token of ${actor.id}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  /** The subject as its last token says, or null once that token has expired (or none was seen). */
  async current(actorId: string, now = new Date()): Promise<Actor | null> {
    const row = await this.prisma.oidcIdentity.findUnique({ where: { actorId } });
    if (!row || row.expiresAt <= now) return null;
    return { id: actorId, kind: 'oidc', roles: row.roles as Role[], scopes: row.scopes };
  }
}
