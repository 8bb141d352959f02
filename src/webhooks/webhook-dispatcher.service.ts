import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DelayedError, Job, Queue, Worker } from 'bullmq';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { PrismaService } from '../database/prisma.service.js';
import { MetricsService } from '../observability/metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { superviseWorker, type SupervisedWorker } from '../queue/supervised-worker.js';
import { PRODUCER_TIMEOUT_MS } from '../queue/queue.service.js';
import { BoundedProducer } from '../queue/bounded-producer.js';
import { hostOf, subscriptionsChannel } from './webhook.service.js';
import { EventBus } from '../events/event-bus.service.js';
import type { ProgressEvent } from '../events/progress-event.js';
import type { Actor, Role } from '../auth/actor.js';
import { inScope } from '../auth/scopes.js';
import { BOOTSTRAP_ADMIN } from '../auth/token.service.js';
import { OidcIdentities } from '../auth/oidc-identities.js';
import type { Prisma, WebhookSubscription } from '../generated/prisma/client.js';
import { SecretBox, signWebhook } from './webhook-crypto.js';
import { postJson, type PostOutcome } from './webhook-http.js';
import { eventTypeMatches } from './webhook.input.js';
import { chatSafe, summaryText } from './webhook-summary.js';
import { targetProblem } from './webhook-target.js';
import { slackMessage, type SlackMessage } from '../integrations/slack/slack-message.js';

export const WEBHOOK_QUEUE = 'webhooks';

/**
 * The longest a dispatcher uses its cached subscriptions without reading them again: the bound on
 * staleness when a change message is lost (the subscriber connection was down when it was sent).
 */
export const SUBSCRIPTIONS_TTL_MS = 10_000;

/** The last error of a delivery stopped because its owner token was revoked or expired since fan-out. */
export const OWNER_GONE = 'not sent: the owner token is revoked or expired';
/** … or because the owner's scopes no longer hold the request (an OIDC subject's newer token). */
export const OUT_OF_SCOPE = "not sent: the request is outside the owner's scopes";

/** Deliveries one dispatcher starts at once (a slow one gives its slot back: DETACH_AFTER_MS). */
const CONCURRENCY = 8;
/**
 * An attempt still waiting for its answer after this long gives its queue slot back and finishes in the background,
 * so targets that answer slowly or never (each attempt may take WEBHOOK_TIMEOUT_MS) hold no slot other owners'
 * deliveries need. Deliveries still start in the order they were queued; none is put back in the queue for this.
 */
export const DETACH_AFTER_MS = 1000;
/**
 * Attempts of one owner's webhooks one dispatcher has in progress at once, in a slot or in the background. A delivery
 * of an owner at this bound is set aside (setAside), so one owner cannot take every socket. Slots are fewer
 * (CONCURRENCY), so only an owner with attempts hanging in the background reaches it: its deliveries are the only
 * ones that may start out of the order they were queued in.
 */
export const OWNER_ATTEMPTS_MAX = 16;
const OWNER_DEFER_MS = 1000;
/** The BullMQ priority of a delivery set aside (setAside): after every delivery without one. */
const SET_ASIDE_PRIORITY = 1;
/**
 * Deliveries an owner may have open (PENDING or RETRYING) and still queue first come, first served. Past it, each new
 * one is queued with a BullMQ priority that grows by one every OWNER_QUEUE_SHARE open deliveries (queuePriority), so
 * an owner with a backlog of thousands queues its next ones behind every owner with fewer: another owner's delivery
 * waits for at most this many of the large owner's, not for its whole backlog.
 */
export const OWNER_QUEUE_SHARE = 16;
/** BullMQ's largest priority (2^21). */
const PRIORITY_MAX = 2_097_152;
/** Open deliveries counted per subscription (a bound on the count's cost; priorities stop growing there). */
const BACKLOG_COUNT_MAX = 100_000;

/**
 * The BullMQ priority of a delivery its owner queues with `open` deliveries already open (undefined: none, first come
 * first served). Jobs without a priority are taken first, then by priority, oldest first within one.
 */
export function queuePriority(open: number): number | undefined {
  if (open < OWNER_QUEUE_SHARE) return undefined;
  return Math.min(PRIORITY_MAX, SET_ASIDE_PRIORITY + Math.floor(open / OWNER_QUEUE_SHARE));
}
/** Attempts of all owners finishing in the background at once; past it, a slow attempt keeps its slot. */
const DETACHED_MAX = 256;

/** A failed attempt with attempts left; BullMQ runs the job again after `retryInMs` (the row's nextAttemptAt). */
class RetryLater extends Error {
  constructor(
    message: string,
    readonly retryInMs: number,
  ) {
    super(message);
  }
}

/** What an attempt decided: nothing more to do, or another attempt after `retryInMs`. */
type AttemptResult = { retryInMs?: undefined } | { retryInMs: number; message: string };

type DeliveryRow = Prisma.WebhookDeliveryGetPayload<{ include: { subscription: true } }>;

/** Ends an attempt run in its slot: BullMQ retries after the attempt's delay. */
function settle(r: AttemptResult): void {
  if (r.retryInMs !== undefined) throw new RetryLater(r.message, r.retryInMs);
}

/** The job carries the delivery id only; Postgres holds payload, status and attempts. */
export interface DeliverJob {
  deliveryId: string;
  /** The subscription's owner (jobs queued before it was carried have none): OWNER_ATTEMPTS_MAX without a read. */
  ownerId?: string;
}

/** What the receiver gets (JSON body). */
export interface WebhookPayload {
  id: string;
  type: string;
  requestId: string;
  cluster: string;
  namespace: string;
  cursor: number;
  at: string;
  data: Record<string, unknown>;
  summary: string;
}

/**
 * The worker side of webhooks. Fan-out: every event on the EventBus whose type a subscription
 * wants, for a request inside the owner's scopes, becomes one delivery row (unique per
 * subscription + request + cursor, so several workers seeing the same event make one) and one
 * BullMQ job on the `webhooks` queue. Delivery: the owner is checked again (revoked since fan-out:
 * FAILED, not sent), then POST, signed; a failure throws so BullMQ retries with exponential backoff;
 * after WEBHOOK_MAX_ATTEMPTS, or at once for a target the address policy refuses, the delivery is
 * FAILED. Postgres counts the attempts (not BullMQ), and a sweeper re-enqueues deliveries whose job
 * was lost.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookDispatcher.name);
  private queue?: Queue<DeliverJob>;
  /** The queue's calls, bounded by PRODUCER_TIMEOUT_MS (bounded-producer.ts). */
  private producer?: BoundedProducer;
  private worker?: SupervisedWorker<DeliverJob>;
  private unlisten?: () => void;
  private sweepTimer?: NodeJS.Timeout;
  private readonly box?: SecretBox;
  private readonly inflight = new Set<Promise<unknown>>();
  /** The last fan-out of each request's events (the next one waits for it). */
  private readonly fanOuts = new Map<string, Promise<unknown>>();
  /** Attempts in progress (in a slot or in the background), per owner: OWNER_ATTEMPTS_MAX. */
  private readonly ownerAttempts = new Map<string, number>();
  /** Attempts finishing in the background (DETACH_AFTER_MS): DETACHED_MAX. */
  private detachedTotal = 0;
  private cache?: { rows: WebhookSubscription[]; at: number };
  /** Bumped by every change message: a load that began before it is not kept. */
  private generation = 0;
  private loading?: { generation: number; rows: Promise<WebhookSubscription[]> };

  constructor(
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
    private readonly bus: EventBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly identities: OidcIdentities,
  ) {
    if (config.webhooks.secretKey) this.box = new SecretBox(config.webhooks.secretKey);
  }

  /** The deliveries' worker (undefined on an API-only process). */
  get consumer(): SupervisedWorker<DeliverJob> | undefined {
    return this.worker;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'api') return;
    // Fails fast while Redis is away, as the onboarding queue's producer does: the delivery row is committed
    // PENDING first and the sweeper enqueues it later; a fan-out waiting for Redis would hold up shutdown.
    const connection = this.redis.create({ commandTimeout: PRODUCER_TIMEOUT_MS });
    this.producer = new BoundedProducer(connection, PRODUCER_TIMEOUT_MS);
    this.queue = new Queue<DeliverJob>(WEBHOOK_QUEUE, {
      connection,
      prefix: this.config.queuePrefix,
      defaultJobOptions: {
        removeOnComplete: true,
        removeOnFail: true,
        attempts: this.config.webhooks.maxAttempts,
        // The attempt's own delay (RetryLater, the row's nextAttemptAt); exponential for anything else thrown.
        backoff: { type: 'delivery', delay: this.config.webhooks.backoffMs },
      },
    });
    // Replaced when its fetch loop stalls, as the onboarding queue's worker is (queue/supervised-worker.ts).
    this.worker = superviseWorker<DeliverJob>({
      stallMs: this.config.workerStallMs,
      queue: this.queue,
      process: (job, token) => this.deliver(job, token),
      create: (process) => {
        const connection = this.redis.create();
        const worker = new Worker<DeliverJob>(WEBHOOK_QUEUE, process, {
          connection,
          prefix: this.config.queuePrefix,
          concurrency: CONCURRENCY,
          settings: {
            backoffStrategy: (attemptsMade, _type, err) =>
              err instanceof RetryLater
                ? err.retryInMs
                : Math.round(2 ** (attemptsMade - 1) * this.config.webhooks.backoffMs),
          },
        });
        // Redis outages surface through readiness; without listeners BullMQ prints a stack per retry.
        worker.on('error', () => undefined);
        return { worker, connection };
      },
      warn: (message) => this.logger.warn(`webhooks ${message}`),
    });
    this.metrics.countWorkerReplacements('webhooks', () => this.worker?.replacements ?? 0);
    this.queue.on('error', () => undefined);
    // Subscribed before the first event is seen, so no change after the first load goes unnoticed.
    await this.redis.subscribe(subscriptionsChannel(this.config.queuePrefix), () => {
      this.generation += 1;
      this.cache = undefined;
    });
    this.unlisten = await this.bus.listenAll((event) => {
      // One request's events fan out one after another, in the order they came: their deliveries are queued, and
      // so start, in event order (each fan-out reads before it writes; run side by side, a later one could win).
      const key = event.requestId ?? '';
      const p: Promise<unknown> = (this.fanOuts.get(key) ?? Promise.resolve())
        .then(() => this.fanOut(event))
        .catch((err) =>
          this.logger.warn(`webhook fan-out of ${event.type} #${event.cursor} failed: ${(err as Error).message}`),
        )
        .finally(() => {
          this.inflight.delete(p);
          if (this.fanOuts.get(key) === p) this.fanOuts.delete(key);
        });
      this.fanOuts.set(key, p);
      this.inflight.add(p);
    });
    if (this.config.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch(() => undefined), this.config.sweepIntervalMs);
    }
  }

  /** Creates and enqueues the deliveries one event asks for; returns how many. */
  async fanOut(event: ProgressEvent): Promise<number> {
    if (!event.requestId) return 0;
    const wants = (s: WebhookSubscription) => s.eventTypes.some((p) => eventTypeMatches(p, event.type));
    let wanted = (await this.subscriptions()).filter(wants);
    if (wanted.length === 0) return 0;
    const request = await this.prisma.onboardingRequest.findUnique({
      where: { id: event.requestId },
      select: {
        id: true,
        kind: true,
        cluster: true,
        namespace: true,
        meshName: true,
        errorCode: true,
        status: true,
        approvalsRequired: true,
        approvalsGiven: true,
        steps: { select: { name: true, status: true, result: true }, orderBy: { position: 'asc' } },
      },
    });
    if (!request) return 0;
    const text = summaryText(event, request);
    const summary = { text, safe: chatSafe(text) };
    let created: { id: string; subscriptionId: string }[];
    for (let attempt = 1; ; attempt++) {
      const rows = await this.deliveryRows(event, request, summary, wanted);
      if (rows.length === 0) return 0;
      try {
        created = await this.prisma.webhookDelivery.createManyAndReturn({
          data: rows,
          skipDuplicates: true,
          select: { id: true, subscriptionId: true },
        });
        break;
      } catch (err) {
        // A subscription deleted since this dispatcher read them (its change message lost or not yet here): the
        // insert refers to it and fails whole. Read them again and deliver to those that remain.
        if ((err as { code?: string }).code !== 'P2003' || attempt >= 3) throw err;
        this.generation += 1;
        this.cache = undefined;
        wanted = (await this.subscriptions()).filter(wants);
      }
    }
    const ownerOf = new Map(wanted.map((s) => [s.id, s.ownerId]));
    if (created.length === 0) return 0;
    const newOf = new Map<string, number>();
    for (const d of created) {
      const owner = ownerOf.get(d.subscriptionId)!;
      newOf.set(owner, (newOf.get(owner) ?? 0) + 1);
    }
    // Each owner's open deliveries, these new ones included: the owner's k-th new one had (open - new + k) before it.
    const open = await this.openDeliveries([...newOf.keys()]);
    const seen = new Map<string, number>();
    await Promise.all(
      created.map((d) => {
        const owner = ownerOf.get(d.subscriptionId)!;
        const k = seen.get(owner) ?? 0;
        seen.set(owner, k + 1);
        const before = Math.max(0, (open.get(owner) ?? 0) - newOf.get(owner)!) + k;
        return this.enqueue(d.id, 0, owner, queuePriority(before));
      }),
    );
    return created.length;
  }

  /** One delivery row per wanted subscription whose owner, as it stands now, may see the request. */
  private async deliveryRows(
    event: ProgressEvent,
    request: Parameters<typeof slackMessage>[0] & { cluster: string; namespace: string },
    summary: { text: string; safe: string },
    wanted: WebhookSubscription[],
  ): Promise<Prisma.WebhookDeliveryCreateManyInput[]> {
    const rows: Prisma.WebhookDeliveryCreateManyInput[] = [];
    for (const s of wanted) {
      const owner = await this.owner(s);
      if (!owner || !inScope(owner, request.cluster, request.namespace)) continue;
      const id = randomUUID();
      const payload: WebhookPayload | SlackMessage =
        s.format === 'slack'
          ? // The request as it stands now: buttons only while it still waits for approval. The line as text:
            // slackMessage escapes it as mrkdwn itself.
            slackMessage(request, summary.text, this.config.publicBaseUrl)
          : {
              id,
              type: event.type,
              requestId: event.requestId,
              cluster: request.cluster,
              namespace: request.namespace,
              cursor: event.cursor,
              at: event.at,
              data: event.data,
              summary: summary.safe,
            };
      rows.push({
        id,
        subscriptionId: s.id,
        requestId: event.requestId,
        cursor: event.cursor,
        eventType: event.type,
        payload: payload as unknown as Prisma.InputJsonValue,
      });
    }
    return rows;
  }

  /** How many deliveries each owner has open (PENDING or RETRYING), up to BACKLOG_COUNT_MAX per subscription. */
  private async openDeliveries(owners: string[]): Promise<Map<string, number>> {
    const rows = await this.prisma.$queryRaw<{ owner: string; n: number }[]>`
      SELECT s.owner_id AS owner, count(*)::int AS n
      FROM webhook_subscription s
      CROSS JOIN LATERAL (
        SELECT 1 FROM webhook_delivery d
        WHERE d.subscription_id = s.id AND d.status IN ('PENDING', 'RETRYING')
        LIMIT ${BACKLOG_COUNT_MAX}
      ) d
      WHERE s.owner_id = ANY(${owners})
      GROUP BY s.owner_id`;
    return new Map(rows.map((r) => [r.owner, r.n]));
  }

  /**
   * All subscriptions, cached: every event would otherwise query them. A create or delete publishes
   * on the change channel (WebhookService), which drops the cache of every dispatcher at once; the
   * cache is read again after SUBSCRIPTIONS_TTL_MS anyway, in case a message was lost. No Redis
   * command per event.
   */
  private async subscriptions(): Promise<WebhookSubscription[]> {
    const c = this.cache;
    if (c && Date.now() - c.at < SUBSCRIPTIONS_TTL_MS) return c.rows; // a change message drops it
    // Events arriving together while the cache is empty share one read.
    if (this.loading?.generation === this.generation) return this.loading.rows;
    const generation = this.generation;
    const at = Date.now();
    const rows = Promise.resolve(this.prisma.webhookSubscription.findMany());
    this.loading = { generation, rows };
    try {
      const loaded = await rows;
      // A change message during the read may not be in what it returned: use the rows once, keep them not.
      if (generation === this.generation) this.cache = { rows: loaded, at };
      return loaded;
    } finally {
      if (this.loading?.rows === rows) this.loading = undefined;
    }
  }

  /**
   * The subscription's owner as it stands now: a revoked or expired token owns nothing (every
   * `token:` owner but the environment admin, which has no row, is looked up: no API token can take
   * the admin's name); the environment admin owns something only while this process has an
   * OSM_ONBOARDING_ADMIN_TOKEN (removing it revokes the admin); an OIDC subject owns what its most
   * recently issued token says, until that token expires (OidcIdentities). An owner left without any
   * role receives nothing.
   */
  private async owner(s: WebhookSubscription): Promise<Actor | null> {
    const token = /^token:(.+)$/.exec(s.ownerId)?.[1];
    let owner: Actor | null;
    if (token === BOOTSTRAP_ADMIN) {
      owner = this.config.auth.adminToken
        ? { id: s.ownerId, kind: 'token', roles: s.ownerRoles as Role[], scopes: s.ownerScopes }
        : null;
    } else if (token) {
      const row = await this.prisma.apiToken.findUnique({ where: { name: token } });
      const valid = row && !row.revokedAt && (!row.expiresAt || row.expiresAt > new Date());
      owner = valid ? { id: s.ownerId, kind: 'token', roles: row.roles as Role[], scopes: row.scopes } : null;
    } else if (s.ownerId.startsWith('oidc:')) {
      owner = await this.identities.current(s.ownerId);
    } else {
      owner = null;
    }
    return owner && owner.roles.length > 0 ? owner : null;
  }

  private async enqueue(deliveryId: string, delay = 0, ownerId?: string, priority?: number): Promise<void> {
    try {
      const queue = this.queue!;
      await this.producer!.run(() =>
        queue.add('deliver', { deliveryId, ownerId }, { jobId: deliveryId, delay, ...(priority ? { priority } : {}) }),
      );
    } catch (err) {
      // The row is committed as PENDING; the sweeper enqueues it once Redis is back. An add that reaches Redis after
      // the deadline is harmless: its job id is the delivery's (the sweeper's add is then a no-op), and a job of a
      // delivery already SUCCEEDED or FAILED sends nothing (deliver).
      this.logger.warn(`webhook delivery ${deliveryId} stored but not enqueued yet: ${(err as Error).message}`);
    }
  }

  /**
   * Why a delivery may no longer be sent, or null: fan-out's rule (a live owner whose scopes hold the
   * request), asked again before every attempt: the owner may have been revoked after fan-out.
   */
  private async ownerProblem(s: WebhookSubscription, requestId: string): Promise<string | null> {
    const owner = await this.owner(s);
    if (!owner) return OWNER_GONE;
    const request = await this.prisma.onboardingRequest.findUnique({
      where: { id: requestId },
      select: { cluster: true, namespace: true },
    });
    return request && !inScope(owner, request.cluster, request.namespace) ? OUT_OF_SCOPE : null;
  }

  /**
   * One attempt of the job's delivery. Throws RetryLater (so BullMQ runs it again after the row's backoff) while
   * attempts remain. Taken from the queue (a token), an attempt still unanswered after DETACH_AFTER_MS parks its job
   * in the delayed set as a watchdog (WEBHOOK_TIMEOUT_MS + 30 s: it runs again if this process dies meanwhile), gives
   * the slot back and finishes in the background; then the job's delay becomes the backoff, or the job is removed.
   */
  async deliver(job: Job<DeliverJob>, token?: string): Promise<void> {
    // An owner at its bound is known from the job itself: its backlog costs no read per pass.
    if (token && job.data.ownerId && (this.ownerAttempts.get(job.data.ownerId) ?? 0) >= OWNER_ATTEMPTS_MAX)
      return this.setAside(job, token);
    const d = await this.prisma.webhookDelivery.findUnique({
      where: { id: job.data.deliveryId },
      include: { subscription: true },
    });
    if (!d || d.status === 'SUCCEEDED' || d.status === 'FAILED') return; // deleted subscription, or already final
    const owner = d.subscription.ownerId;
    const running = this.ownerAttempts.get(owner) ?? 0;
    if (token && running >= OWNER_ATTEMPTS_MAX) return this.setAside(job, token);
    this.ownerAttempts.set(owner, running + 1);
    const attempt = this.attempt(d).finally(() => {
      const left = (this.ownerAttempts.get(owner) ?? 1) - 1;
      if (left > 0) this.ownerAttempts.set(owner, left);
      else this.ownerAttempts.delete(owner);
    });
    if (!token || this.detachedTotal >= DETACHED_MAX) return settle(await attempt);
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => (timer = setTimeout(() => resolve('slow'), DETACH_AFTER_MS)));
    const first = await Promise.race([attempt, slow]).finally(() => clearTimeout(timer));
    if (first !== 'slow') return settle(first);
    try {
      await job.moveToDelayed(Date.now() + this.config.webhooks.timeoutMs + 30_000, token);
    } catch {
      return settle(await attempt); // Redis away: the attempt keeps its slot after all
    }
    this.detachedTotal += 1;
    const background = attempt
      .then((r) => (r.retryInMs === undefined ? job.remove() : job.changeDelay(r.retryInMs)))
      // The attempt failed to record (Postgres away), or the job could not be updated: the watchdog runs it again.
      .catch(() => undefined)
      .finally(() => {
        this.inflight.delete(background);
        this.detachedTotal -= 1;
      });
    this.inflight.add(background);
    throw new DelayedError();
  }

  /**
   * A delivery of an owner at OWNER_ATTEMPTS_MAX goes back to the queue for OWNER_DEFER_MS, behind every owner's
   * fresh deliveries from then on (a BullMQ priority: jobs without one are taken first), so a large backlog of one
   * owner is passed over once, not on every turn of the queue. Not an attempt.
   */
  private async setAside(job: Job<DeliverJob>, token: string): Promise<never> {
    await job.moveToDelayed(Date.now() + OWNER_DEFER_MS, token);
    if (!job.opts.priority) await job.changePriority({ priority: SET_ASIDE_PRIORITY }).catch(() => undefined);
    throw new DelayedError();
  }

  /**
   * One attempt, recorded. A delivery whose owner is no longer valid, whose secret cannot be opened or whose target
   * is refused ends FAILED at once.
   */
  private async attempt(d: DeliveryRow): Promise<AttemptResult> {
    const attempt = d.attempts + 1;
    const max = this.config.webhooks.maxAttempts;
    let outcome: PostOutcome;
    let retryable: boolean;
    let secret: string | null;
    try {
      secret = this.box ? this.box.open(d.subscription.secretCiphertext) : null;
    } catch {
      secret = null;
    }
    const problem = targetProblem(d.subscription.url, this.config.webhooks.allowPrivateTargets);
    const ownerProblem = await this.ownerProblem(d.subscription, d.requestId);
    if (ownerProblem) {
      outcome = { error: ownerProblem, durationMs: 0 };
      retryable = false;
    } else if (!secret) {
      outcome = { error: 'the signing secret cannot be decrypted (WEBHOOK_SECRET_KEY changed?)', durationMs: 0 };
      retryable = false;
    } else if (problem) {
      outcome = { error: `url ${problem}`, durationMs: 0 };
      retryable = false;
    } else {
      const body = JSON.stringify(d.payload);
      const timestamp = Math.floor(Date.now() / 1000).toString();
      // Slack-format deliveries are signed too: Slack ignores the headers, a relay in front of it can verify them.
      outcome = await postJson(
        d.subscription.url,
        body,
        {
          'x-osm-onboarding-timestamp': timestamp,
          'x-osm-onboarding-signature': signWebhook(secret, timestamp, body),
          'x-osm-onboarding-event': d.eventType,
          'x-osm-onboarding-delivery': d.id,
        },
        { timeoutMs: this.config.webhooks.timeoutMs, allowPrivate: this.config.webhooks.allowPrivateTargets },
      );
      // A refused target stays refused: no retry. The reason with addresses is for this log only.
      retryable = !outcome.refused;
      if (outcome.detail)
        this.logger.debug(`webhook delivery ${d.id} to ${hostOf(d.subscription.url)}: ${outcome.detail}`);
    }
    const ok = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300;
    const final = ok || !retryable || attempt >= max;
    const nextAttemptAt = final
      ? null
      : new Date(Date.now() + Math.round(2 ** (attempt - 1) * this.config.webhooks.backoffMs));
    this.metrics.webhookDeliveries.observe(
      { event: d.eventType, outcome: ok ? 'delivered' : final ? 'failed' : 'retrying' },
      outcome.durationMs / 1000,
    );
    try {
      await this.prisma.$transaction([
        this.prisma.webhookDeliveryAttempt.create({
          data: {
            deliveryId: d.id,
            attempt,
            responseCode: outcome.status ?? null,
            error: outcome.error ?? null,
            durationMs: outcome.durationMs,
          },
        }),
        this.prisma.webhookDelivery.update({
          where: { id: d.id },
          data: {
            attempts: attempt,
            status: ok ? 'SUCCEEDED' : final ? 'FAILED' : 'RETRYING',
            lastResponseCode: outcome.status ?? null,
            lastError: outcome.error ?? null,
            nextAttemptAt,
            deliveredAt: ok ? new Date() : null,
          },
        }),
      ]);
    } catch (err) {
      // The delivery (or its subscription) was deleted meanwhile: nothing left to record.
      if ((err as { code?: string }).code === 'P2025' || (err as { code?: string }).code === 'P2003') return {};
      throw err;
    }
    if (final) return {};
    return {
      retryInMs: Math.max(0, nextAttemptAt!.getTime() - Date.now()),
      message: `webhook delivery attempt ${attempt}/${max} failed: ${outcome.error ?? 'unknown error'}`,
    };
  }

  /** Re-enqueues unfinished deliveries whose job is gone (Redis wiped, BullMQ gave up on an infrastructure error). */
  async sweep(): Promise<number> {
    if (!this.queue) return 0;
    const grace = new Date(Date.now() - Math.max(30_000, 2 * this.config.webhooks.timeoutMs));
    const rows = await this.prisma.webhookDelivery.findMany({
      where: {
        OR: [
          { status: 'PENDING', createdAt: { lt: grace } },
          { status: 'RETRYING', nextAttemptAt: { lt: grace } },
        ],
      },
      select: { id: true, subscription: { select: { ownerId: true } } },
      take: 500,
    });
    let n = 0;
    for (const { id, subscription } of rows) {
      const queue = this.queue;
      if (!(await this.producer!.run(() => queue.getJob(id)))) {
        await this.enqueue(id, 0, subscription.ownerId);
        n += 1;
      }
    }
    if (n) this.logger.warn(`re-enqueued ${n} webhook deliveries missing from the queue`);
    return n;
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.unlisten?.();
    // Fan-outs and background attempts (at most WEBHOOK_TIMEOUT_MS), then the worker; then what its last jobs left.
    await Promise.allSettled([...this.inflight]);
    await this.worker?.close().catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
    await this.queue?.close().catch(() => undefined);
  }
}
