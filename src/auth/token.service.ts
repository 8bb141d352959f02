import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { z } from 'zod';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { RedisService } from '../redis/redis.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import { isUniqueViolation } from '../onboarding/onboarding.repository.js';
import { parseInput } from '../onboarding/onboarding.input.js';
import type { ApiToken } from '../generated/prisma/client.js';
import { Actor, Role, ROLES } from './actor.js';
import { assertRole, SCOPE_PATTERN } from './scopes.js';

const TOKEN_PREFIX = 'osmo_';
export const BOOTSTRAP_ADMIN = 'bootstrap-admin';

export const CreateTokenSchema = z.strictObject({
  name: z.string().min(1).max(100).regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, 'letters, digits, ".", "_" and "-"'),
  roles: z.array(z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` })).min(1, 'needs at least one role'),
  scopes: z.array(z.string().regex(SCOPE_PATTERN, 'must be <cluster>/<namespace> with optional * wildcards')).default([]),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});

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
 * random, so a slow hash adds nothing). Lookups are cached for 10 s; a revocation clears the
 * entry on every API instance at once (the token's hash over Redis pub/sub; while Redis is
 * away, the other instances' entries expire within the 10 s).
 */
@Injectable()
export class TokenService implements OnModuleInit {
  private readonly cache = new Map<string, { actor: Actor | null; until: number }>();
  private readonly adminHash?: Buffer;
  private readonly channel: string;

  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditRepository,
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    if (config.auth.adminToken) this.adminHash = createHash('sha256').update(config.auth.adminToken).digest();
    this.channel = `${config.queuePrefix}:tokens:revoked`;
  }

  onModuleInit(): void {
    void this.redis.subscribe(this.channel, (hash) => this.cache.delete(hash)).catch(() => undefined);
  }

  async authenticate(secret: string): Promise<Actor | null> {
    const digest = createHash('sha256').update(secret).digest();
    if (this.adminHash && timingSafeEqual(digest, this.adminHash)) {
      return { id: `token:${BOOTSTRAP_ADMIN}`, kind: 'token', roles: ['admin'], scopes: ['*/*'] };
    }
    if (!secret.startsWith(TOKEN_PREFIX)) return null;
    const hash = digest.toString('hex');
    const hit = this.cache.get(hash);
    if (hit && hit.until > Date.now()) return hit.actor;
    const row = await this.prisma.apiToken.findUnique({ where: { tokenHash: hash } });
    const valid = row && !row.revokedAt && (!row.expiresAt || row.expiresAt > new Date());
    const actor: Actor | null = valid ? { id: `token:${row.name}`, kind: 'token', roles: row.roles as Role[], scopes: row.scopes } : null;
    this.cache.set(hash, { actor, until: Date.now() + 10_000 });
    if (valid) void this.prisma.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
    return actor;
  }

  async create(input: unknown, actor: Actor): Promise<{ token: string; record: ReturnType<typeof presentToken> }> {
    assertRole(actor, 'admin');
    const i = parseInput(CreateTokenSchema, input);
    const secret = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    try {
      const row = await this.prisma.$transaction(async (tx) => {
        const created = await tx.apiToken.create({
          data: {
            name: i.name,
            tokenHash: sha256(secret),
            prefix: secret.slice(0, 12),
            roles: [...new Set(i.roles)],
            scopes: [...new Set(i.scopes)],
            createdBy: actor.id,
            expiresAt: i.expiresInDays ? new Date(Date.now() + i.expiresInDays * 86_400_000) : null,
          },
        });
        await this.audit.append(tx, { actor: actor.id, action: 'token.created', target: `tokens/${i.name}`, data: { name: i.name, roles: created.roles, scopes: created.scopes } });
        return created;
      });
      return { token: secret, record: presentToken(row) };
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError('TOKEN_NAME_TAKEN', `a token named ${i.name} exists`, { field: 'name' });
      throw err;
    }
  }

  async list(actor: Actor) {
    assertRole(actor, 'admin');
    return (await this.prisma.apiToken.findMany({ orderBy: { createdAt: 'asc' } })).map(presentToken);
  }

  async revoke(id: string, actor: Actor) {
    assertRole(actor, 'admin');
    const row = /^[0-9a-f-]{36}$/i.test(id) ? await this.prisma.apiToken.findUnique({ where: { id } }) : null;
    if (!row) throw new DomainError('TOKEN_NOT_FOUND', `token ${id} not found`, { field: 'id' });
    const revoked = await this.prisma.$transaction(async (tx) => {
      const r = await tx.apiToken.update({ where: { id }, data: { revokedAt: row.revokedAt ?? new Date() } });
      await this.audit.append(tx, { actor: actor.id, action: 'token.revoked', target: `tokens/${row.name}`, data: { name: row.name } });
      return r;
    });
    this.cache.delete(row.tokenHash);
    // The other instances drop their cached lookup now (the hash of a revoked token is no secret).
    await this.redis.publish(this.channel, row.tokenHash).catch(() => undefined);
    return presentToken(revoked);
  }
}
