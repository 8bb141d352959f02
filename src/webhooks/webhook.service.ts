import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DomainError, isOurId, shownId } from '../common/domain-error.js';
import { PrismaService } from '../database/prisma.service.js';
import { AuditRepository } from '../audit/audit.repository.js';
import type { Actor } from '../auth/actor.js';
import { assertRole, hasRole } from '../auth/scopes.js';
import { parseInput } from '../common/parse-input.js';
import { decodeCursor, encodeCursor } from '../onboarding/onboarding.repository.js';
import type {
  Prisma,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  WebhookSubscription,
} from '../generated/prisma/client.js';
import { generateWebhookSecret, SecretBox } from './webhook-crypto.js';
import { CreateWebhookSchema, DeliveryQuerySchema, UNKNOWN_EVENT_TYPE, WEBHOOK_EVENT_TYPES } from './webhook.input.js';
import { targetProblem } from './webhook-target.js';
import { RedisService } from '../redis/redis.service.js';

/** The pub/sub channel that tells every dispatcher its cached subscriptions are out of date. */
export const subscriptionsChannel = (prefix: string) => `${prefix}:webhooks:changed`;

/** The outward shape of a subscription: never the secret (not even encrypted). */
export function presentWebhook(s: WebhookSubscription) {
  return {
    id: s.id,
    url: s.url,
    eventTypes: s.eventTypes,
    description: s.description,
    format: s.format,
    owner: s.ownerId,
    scopes: s.ownerScopes,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

/**
 * An attempt's error as shown: `HTTP <status>` alone for a non-2xx answer. Rows written before deliveries stopped
 * keeping the answer's body may still hold an excerpt of it after the status; that excerpt is never shown.
 */
export function shownDeliveryError(error: string | null): string | null {
  return error?.replace(/^(HTTP \d+)\b[\s\S]*$/, '$1') ?? null;
}

export function presentDelivery(d: WebhookDelivery & { attemptLog: WebhookDeliveryAttempt[] }) {
  return {
    id: d.id,
    webhookId: d.subscriptionId,
    requestId: d.requestId,
    cursor: d.cursor,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    lastResponseCode: d.lastResponseCode,
    lastError: shownDeliveryError(d.lastError),
    nextAttemptAt: d.nextAttemptAt?.toISOString() ?? null,
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
    createdAt: d.createdAt.toISOString(),
    payload: d.payload,
    history: d.attemptLog.map((a) => ({
      attempt: a.attempt,
      responseCode: a.responseCode,
      error: shownDeliveryError(a.error),
      durationMs: a.durationMs,
      at: a.createdAt.toISOString(),
    })),
  };
}

export type PresentedWebhook = ReturnType<typeof presentWebhook>;
export type PresentedDelivery = ReturnType<typeof presentDelivery>;

/**
 * Webhook subscriptions: registered by requesters and admins, owned by the creating actor
 * (others see and delete only their own; admins all). The signing secret is write-only.
 */
@Injectable()
export class WebhookService {
  private readonly box?: SecretBox;

  constructor(
    private readonly prisma: PrismaService,
    private readonly audit: AuditRepository,
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    if (config.webhooks.secretKey) this.box = new SecretBox(config.webhooks.secretKey);
  }

  /** `secret` is in the answer only when the service generated it (shown once). */
  async create(input: unknown, actor: Actor): Promise<{ webhook: PresentedWebhook; secret: string | null }> {
    assertRole(actor, 'requester');
    const allowPrivate = this.config.webhooks.allowPrivateTargets;
    const schema = CreateWebhookSchema.superRefine(
      (v, ctx) => {
        const problem = typeof v.url === 'string' ? targetProblem(v.url, allowPrivate) : null;
        if (problem) ctx.addIssue({ code: 'custom', path: ['url'], message: problem });
      },
      { when: () => true },
    );
    const i = withEventTypesHint(() => parseInput(schema, input));
    if (!this.box) {
      throw new DomainError(
        'WEBHOOKS_NOT_CONFIGURED',
        'webhooks need WEBHOOK_SECRET_KEY (or OSM_ONBOARDING_ADMIN_TOKEN) to store signing secrets',
      );
    }
    const generated = i.secret ? null : generateWebhookSecret();
    const secret = i.secret ?? generated!;
    const row = await this.prisma.$transaction(async (tx) => {
      // One owner's creations one at a time (a lock of the transaction), so concurrent ones cannot pass the count.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`webhooks:${actor.id}`}, 0))`;
      const owned = await tx.webhookSubscription.count({ where: { ownerId: actor.id } });
      if (owned >= this.config.webhooks.perOwner) {
        throw new DomainError(
          'WEBHOOK_LIMIT_REACHED',
          `you have ${owned} webhooks, the most one owner may have ` +
            `(WEBHOOKS_PER_OWNER=${this.config.webhooks.perOwner})`,
          { hint: 'delete a webhook you no longer need (DELETE /v1/webhooks/<id>, or deleteWebhook)' },
        );
      }
      const created = await tx.webhookSubscription.create({
        data: {
          ownerId: actor.id,
          ownerRoles: actor.roles,
          ownerScopes: actor.scopes,
          url: i.url,
          eventTypes: [...new Set(i.eventTypes)],
          secretCiphertext: this.box!.seal(secret),
          description: i.description ?? null,
          format: i.format ?? 'json',
        },
      });
      // The URL's path and query may themselves be credentials (chat incoming-webhook URLs): only the host is audited.
      await this.audit.append(tx, {
        actor: actor.id,
        action: 'webhook.created',
        target: `webhooks/${created.id}`,
        data: {
          id: created.id,
          host: new URL(i.url).host,
          eventTypes: created.eventTypes,
          scopes: created.ownerScopes,
          format: created.format,
        },
      });
      return created;
    });
    await this.subscriptionsChanged();
    return { webhook: presentWebhook(row), secret: generated };
  }

  async list(actor: Actor): Promise<PresentedWebhook[]> {
    assertRole(actor, 'requester');
    const rows = await this.prisma.webhookSubscription.findMany({
      where: hasRole(actor, 'admin') ? {} : { ownerId: actor.id },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    return rows.map(presentWebhook);
  }

  async read(id: string, actor: Actor): Promise<PresentedWebhook> {
    return presentWebhook(await this.owned(id, actor));
  }

  async delete(id: string, actor: Actor): Promise<PresentedWebhook> {
    const row = await this.owned(id, actor);
    // Deliveries and their attempts go with it (ON DELETE CASCADE); queued jobs then find nothing to send.
    await this.prisma.$transaction(async (tx) => {
      await tx.webhookSubscription.delete({ where: { id: row.id } });
      await this.audit.append(tx, {
        actor: actor.id,
        action: 'webhook.deleted',
        target: `webhooks/${row.id}`,
        data: { id: row.id, host: hostOf(row.url), owner: row.ownerId },
      });
    });
    await this.subscriptionsChanged();
    return presentWebhook(row);
  }

  /** Tells every dispatcher to reload its cached subscriptions (see WebhookDispatcher.subscriptions). */
  private async subscriptionsChanged(): Promise<void> {
    await this.redis.publish(subscriptionsChannel(this.config.queuePrefix), 'changed').catch(() => undefined);
  }

  /** Newest first, keyset-paged. */
  async deliveries(id: string, query: unknown, actor: Actor) {
    const row = await this.owned(id, actor);
    const q = parseInput(DeliveryQuerySchema, query);
    const cursor = q.after ? decodeCursor(q.after) : undefined;
    if (q.after && !cursor)
      throw new DomainError('VALIDATION_FAILED', 'after is not a cursor returned by this API', { field: 'after' });
    const where: Prisma.WebhookDeliveryWhereInput = { subscriptionId: row.id, status: q.status };
    if (cursor) {
      const at = new Date(cursor.createdAt);
      where.OR = [{ createdAt: { lt: at } }, { createdAt: at, id: { lt: cursor.id } }];
    }
    const rows = await this.prisma.webhookDelivery.findMany({
      where,
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
      include: { attemptLog: { orderBy: { attempt: 'asc' } } },
    });
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return {
      items: items.map(presentDelivery),
      pageInfo: { hasNextPage: rows.length > q.limit, endCursor: last ? encodeCursor(last) : null },
    };
  }

  private async owned(id: string, actor: Actor): Promise<WebhookSubscription> {
    assertRole(actor, 'requester');
    const row = isOurId(id) ? await this.prisma.webhookSubscription.findUnique({ where: { id } }) : null;
    // Someone else's subscription is "not found", so ids cannot be probed.
    if (!row || (!hasRole(actor, 'admin') && row.ownerId !== actor.id)) {
      throw new DomainError('WEBHOOK_NOT_FOUND', `webhook ${shownId(id)} not found`, { field: 'id' });
    }
    return row;
  }
}

/** The URL's host, or null: what logs and audit rows name (a URL's path or query may be a credential). */
export function hostOf(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

/** A refused unknown event type (`eventTypes.<i>`) comes with the types there are, in the refusal's hint. */
function withEventTypesHint<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof DomainError) || !err.fields.some((f) => f.message === UNKNOWN_EVENT_TYPE)) throw err;
    const hint = `event types: ${WEBHOOK_EVENT_TYPES.join(', ')}; a prefix of them (request.*, step.*) or *`;
    throw new DomainError(err.code, err.message, { ...err.options, hint });
  }
}
