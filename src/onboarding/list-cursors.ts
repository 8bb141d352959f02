// Owns the request list's cursors. A page's `endCursor` is normally its last item's position (creation time and id,
// base64url JSON: encodeCursor), a request the caller sees. A scoped page whose scan ended short (MAX_SCANNED rows
// read, onboarding.repository.ts) resumes after the last row it read, which may be a request outside the caller's
// scopes: that position is held in Redis (RESUME_TTL_MS) and the caller gets a random token standing for it, valid
// for that caller only, so the cursor shows neither the id nor the creation time of a request it may not see.
// A plain cursor from a caller who is not an admin must name a request it may see, at its own creation time: a
// forged one (any time, any id) would let it bisect, by whether the page ends short, to the position of a row it
// may not see.
import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { RedisService } from '../redis/redis.service.js';
import type { Actor } from '../auth/actor.js';
import { hasRole, inScope } from '../auth/scopes.js';
import { decodeCursor, encodeCursor, OnboardingRepository } from './onboarding.repository.js';

/** How long a held position stays valid. */
export const RESUME_TTL_MS = 60 * 60_000;
const HELD = /^r1\.([A-Za-z0-9_-]{22})$/;

type Position = { createdAt: string; id: string };

@Injectable()
export class ListCursors {
  private readonly prefix: string;

  constructor(
    private readonly redis: RedisService,
    private readonly requests: OnboardingRepository,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.prefix = `${config.queuePrefix}:request-list-resume:`;
  }

  /** The cursor after `last`: its own position when the caller sees it, else (`held`) a token standing for it. */
  async after(last: { createdAt: Date; id: string }, actor: Actor, held: boolean): Promise<string> {
    if (!held) return encodeCursor(last);
    const token = randomBytes(16).toString('base64url');
    const entry = { actor: actor.id, createdAt: last.createdAt.toISOString(), id: last.id };
    await this.redis.client.set(this.prefix + token, JSON.stringify(entry), 'PX', RESUME_TTL_MS);
    return `r1.${token}`;
  }

  /** The position `raw` stands for; a field error on `after` when it is no cursor this API gave this caller. */
  async position(raw: string, actor: Actor): Promise<Position> {
    const token = HELD.exec(raw)?.[1];
    if (token === undefined) {
      const own = decodeCursor(raw);
      if (own && (hasRole(actor, 'admin') || (await this.namesVisibleRow(own, actor)))) return own;
      throw new DomainError('VALIDATION_FAILED', 'after is not a cursor returned by this API', { field: 'after' });
    }
    const stored = await this.redis.client.get(this.prefix + token);
    const entry = stored ? (JSON.parse(stored) as Position & { actor: string }) : null;
    if (!entry || entry.actor !== actor.id) {
      throw new DomainError(
        'VALIDATION_FAILED',
        'after is not a cursor this API gave this caller, or it expired (after an hour); start again without it',
        { field: 'after' },
      );
    }
    return { createdAt: entry.createdAt, id: entry.id };
  }

  /** Whether `at` is the position of a request the caller may see (one indexed read). */
  private async namesVisibleRow(at: Position, actor: Actor): Promise<boolean> {
    const row = await this.requests.findTarget(at.id);
    return row !== null && row.createdAt.toISOString() === at.createdAt && inScope(actor, row.cluster, row.namespace);
  }
}
