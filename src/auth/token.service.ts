import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { Counter, Gauge } from 'prom-client';
import { z } from 'zod';
import { boundedInteger } from '../common/decimal-integer.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError, isOurId, shownId } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { RedisService } from '../redis/redis.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { isUniqueViolation } from '../common/unique-violation.js';
import { parseInput } from '../common/parse-input.js';
import type { ApiToken } from '../generated/prisma/client.js';
import { MetricsService } from '../observability/metrics.service.js';
import { Actor, Role, ROLES } from './actor.js';
import { assertRole, SCOPE_MESSAGE, SCOPE_PATTERN } from './scopes.js';
import { SessionRegistry } from './sessions.js';

const TOKEN_PREFIX = 'osmo_';
/** What create() makes: the prefix and 32 random bytes in base64url. Anything else is refused unlooked-up. */
export const TOKEN_FORMAT = /^osmo_[A-Za-z0-9_-]{43}$/;
export const BOOTSTRAP_ADMIN = 'bootstrap-admin';
const CACHE_TTL_MS = 10_000;
/** Scopes one token may carry. */
const TOKEN_SCOPES_MAX = 100;

/**
 * Names whose actor id (`token:<name>`) would pass for a built-in actor: the environment admin
 * (`token:bootstrap-admin`), AUTH_MODE=none's `anonymous`, the `system:*` actors. Case-insensitive,
 * so that no list or audit shows two look-alike names.
 */
export function isReservedTokenName(name: string): boolean {
  return /^(bootstrap-admin|anonymous)$/i.test(name) || /^system/i.test(name);
}

/** A valid API token (or the environment admin token): who it is, and what identifies the credential. */
export interface TokenAuthentication {
  actor: Actor;
  /** SHA-256 hex of the secret (the stored hash); revocations name it. */
  hash: string;
  kind: 'token' | 'admin';
  /** ms since the epoch; undefined = never. */
  expiresAt?: number;
}

export const CreateTokenSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, ".", "_" and "-"')
      .describe('The unique token name; the actor becomes `token:<name>`.'),
    roles: z
      .array(z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` }))
      .min(1, 'needs at least one role')
      .max(ROLES.length, `at most ${ROLES.length} roles`)
      .describe('viewer (read), requester (create/cancel/retry), approver, admin.'),
    // An optional field sent as null is one left out, as GraphQL's nullable input fields have it.
    scopes: z
      .array(z.string().regex(SCOPE_PATTERN, SCOPE_MESSAGE))
      .max(TOKEN_SCOPES_MAX, `at most ${TOKEN_SCOPES_MAX} scopes`)
      .nullable()
      .default([])
      .describe('`<cluster>/<namespace>` glob patterns, e.g. `prod/team-a-*`.'),
    expiresInDays: boundedInteger(1, 3650).nullish().describe('Days until it expires; none = never.'),
  })
  .meta({ id: 'CreateTokenInput', description: 'A new API token.' });

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function presentToken(t: ApiToken) {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    roles: t.roles,
    scopes: t.scopes,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}

/**
 * API tokens: random secrets shown once; only their SHA-256 is stored (they are 256-bit
 * random, so a slow hash adds nothing). Lookups are cached for 10 s in two bounded LRU caches,
 * one for valid tokens and one for unknown ones, so a flood of bad tokens can neither grow memory
 * nor evict the good entries. A secret not shaped like one of ours costs no lookup at all. A
 * revocation clears the entry, and ends the streams opened with it, on every API instance at
 * once (the token's hash over Redis pub/sub; while Redis is away, within AUTH_SESSION_RECHECK_MS
 * for streams and the 10 s cache lifetime for calls).
 */
@Injectable()
export class TokenService implements OnModuleInit {
  private readonly valid: LRUCache<string, TokenAuthentication>;
  private readonly unknown: LRUCache<string, true>;
  private readonly adminHash?: Buffer;
  private readonly channel: string;
  private readonly lookups: Counter;

  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditRepository,
    private readonly redis: RedisService,
    private readonly sessions: SessionRegistry,
    metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    if (config.auth.adminToken) this.adminHash = createHash('sha256').update(config.auth.adminToken).digest();
    this.channel = `${config.queuePrefix}:tokens:revoked`;
    const max = config.auth.cacheMaxEntries;
    this.valid = new LRUCache({ max, ttl: CACHE_TTL_MS });
    this.unknown = new LRUCache({ max, ttl: CACHE_TTL_MS });
    this.lookups = new Counter({
      name: 'osm_onboarding_auth_token_lookups_total',
      help: 'API token lookups in Postgres (cache misses of well-formed tokens)',
      registers: [metrics.registry],
    });
    const caches = { valid: this.valid, unknown: this.unknown };
    const entries: Gauge<'cache'> = new Gauge({
      name: 'osm_onboarding_auth_token_cache_entries',
      help: 'Entries of the token lookup caches (valid / unknown tokens), each bounded by AUTH_CACHE_MAX_ENTRIES',
      labelNames: ['cache'],
      registers: [metrics.registry],
      collect: () => {
        for (const [cache, lru] of Object.entries(caches)) entries.set({ cache }, lru.size);
      },
    });
  }

  onModuleInit(): void {
    void this.redis.subscribe(this.channel, (hash) => this.forget(hash)).catch(() => undefined);
  }

  private forget(hash: string): void {
    this.valid.delete(hash);
    this.unknown.delete(hash);
    this.sessions.end(hash, 'revoked');
  }

  async authenticate(secret: string): Promise<TokenAuthentication | null> {
    const digest = createHash('sha256').update(secret).digest();
    const hash = digest.toString('hex');
    if (this.adminHash && timingSafeEqual(digest, this.adminHash)) {
      const actor: Actor = { id: `token:${BOOTSTRAP_ADMIN}`, kind: 'token', roles: ['admin'], scopes: ['*/*'] };
      return { actor, hash, kind: 'admin' };
    }
    if (!TOKEN_FORMAT.test(secret)) return null;
    const hit = this.valid.get(hash);
    if (hit) return hit.expiresAt === undefined || hit.expiresAt > Date.now() ? hit : null;
    if (this.unknown.has(hash)) return null;
    this.lookups.inc();
    const row = await this.prisma.apiToken.findUnique({ where: { tokenHash: hash } });
    // A row with a reserved name (made before names were reserved) would pass for a built-in actor.
    if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= new Date()) || isReservedTokenName(row.name)) {
      this.unknown.set(hash, true);
      return null;
    }
    const found: TokenAuthentication = {
      actor: { id: `token:${row.name}`, kind: 'token', roles: row.roles as Role[], scopes: row.scopes },
      hash,
      kind: 'token',
      expiresAt: row.expiresAt?.getTime(),
    };
    this.valid.set(hash, found);
    const used = { where: { id: row.id }, data: { lastUsedAt: new Date() } };
    void this.prisma.apiToken.update(used).catch(() => undefined);
    return found;
  }

  async create(input: unknown, actor: Actor): Promise<{ token: string; record: ReturnType<typeof presentToken> }> {
    assertRole(actor, 'admin');
    const i = parseInput(CreateTokenSchema, input);
    if (isReservedTokenName(i.name)) {
      const message = `the token name ${i.name} is reserved for a built-in actor`;
      throw new DomainError('TOKEN_NAME_RESERVED', message, { field: 'name' });
    }
    const secret = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    try {
      const row = await this.prisma.$transaction(async (tx) => {
        const created = await tx.apiToken.create({
          data: {
            name: i.name,
            tokenHash: sha256(secret),
            prefix: secret.slice(0, 12),
            roles: [...new Set(i.roles)],
            scopes: [...new Set(i.scopes ?? [])],
            createdBy: actor.id,
            expiresAt: i.expiresInDays ? new Date(Date.now() + i.expiresInDays * 86_400_000) : null,
          },
        });
        await this.audit.append(tx, {
          actor: actor.id,
          action: 'token.created',
          target: `tokens/${i.name}`,
          data: { name: i.name, roles: created.roles, scopes: created.scopes },
        });
        return created;
      });
      return { token: secret, record: presentToken(row) };
    } catch (err) {
      if (isUniqueViolation(err))
        throw new DomainError('TOKEN_NAME_TAKEN', `a token named ${i.name} exists`, { field: 'name' });
      throw err;
    }
  }

  async list(actor: Actor) {
    assertRole(actor, 'admin');
    return (await this.prisma.apiToken.findMany({ orderBy: { createdAt: 'asc' } })).map(presentToken);
  }

  async revoke(id: string, actor: Actor) {
    assertRole(actor, 'admin');
    const row = isOurId(id) ? await this.prisma.apiToken.findUnique({ where: { id } }) : null;
    if (!row) throw new DomainError('TOKEN_NOT_FOUND', `token ${shownId(id)} not found`, { field: 'id' });
    const revoked = await this.prisma.$transaction(async (tx) => {
      const r = await tx.apiToken.update({ where: { id }, data: { revokedAt: row.revokedAt ?? new Date() } });
      await this.audit.append(tx, {
        actor: actor.id,
        action: 'token.revoked',
        target: `tokens/${row.name}`,
        data: { name: row.name },
      });
      return r;
    });
    this.forget(row.tokenHash);
    // The other instances drop their cached lookup and end its streams now (the hash of a revoked token is no secret).
    await this.redis.publish(this.channel, row.tokenHash).catch(() => undefined);
    return presentToken(revoked);
  }
}
