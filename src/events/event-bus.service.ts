import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { RedisService } from '../redis/redis.service.js';
import type { ProgressEvent } from './progress-event.js';

type Listener = (event: ProgressEvent) => void;

/**
 * Carries committed progress events between processes (worker → every API instance)
 * over Redis pub/sub. Postgres stays the record: a lost message is recovered by the
 * reader from the database (see ProgressService).
 */
@Injectable()
export class EventBus implements OnModuleDestroy {
  private readonly logger = new Logger(EventBus.name);
  private readonly channel: string;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly allListeners = new Set<Listener>();
  private subscriber?: Redis | Cluster;
  private subscribing?: Promise<void>;

  /**
   * On a Redis Cluster, sharded pub/sub (SPUBLISH/SSUBSCRIBE): every message goes through the one
   * shard that owns the channel's slot (the QUEUE_PREFIX hash tag), so a request's events reach
   * subscribers in the order they were published. Plain PUBLISH on a Cluster goes to whichever node
   * the client picks and is relayed over the cluster bus, where two messages can overtake each other.
   */
  private readonly sharded: boolean;

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.channel = `${config.queuePrefix}:events`;
    this.sharded = config.redis.mode === 'cluster';
  }

  async publish(events: ProgressEvent[]): Promise<void> {
    if (events.length === 0) return;
    try {
      // The worker publishes one event per transition: a plain PUBLISH, without a pipeline's
      // bookkeeping (ioredis still sends commands on one connection in order).
      if (events.length === 1) {
        const message = JSON.stringify(events[0]);
        await (this.sharded ? this.redis.client.spublish(this.channel, message) : this.redis.client.publish(this.channel, message));
        return;
      }
      const pipeline = this.redis.client.pipeline();
      for (const e of events) {
        if (this.sharded) pipeline.spublish(this.channel, JSON.stringify(e));
        else pipeline.publish(this.channel, JSON.stringify(e));
      }
      await pipeline.exec();
    } catch (err) {
      // Never fail a committed transition because Redis is away; readers poll Postgres.
      this.logger.warn(`could not publish ${events.length} event(s): ${(err as Error).message}`);
    }
  }

  /** Listens to one request's events; returns the unsubscribe function once Redis confirmed. */
  async listen(requestId: string, listener: Listener): Promise<() => void> {
    // Redis away: do not hang the stream; the subscription completes when it is back, and readers poll Postgres meanwhile.
    await Promise.race([this.ensureSubscribed(), new Promise((r) => setTimeout(r, 1000))]);
    let set = this.listeners.get(requestId);
    if (!set) this.listeners.set(requestId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(requestId);
    };
  }

  /** Listens to every request's events (the webhook fan-out); returns the unsubscribe function once Redis confirmed. */
  async listenAll(listener: Listener): Promise<() => void> {
    await this.ensureSubscribed();
    this.allListeners.add(listener);
    return () => void this.allListeners.delete(listener);
  }

  listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  private ensureSubscribed(): Promise<void> {
    if (!this.subscribing) {
      this.subscriber = this.redis.create({}, { shardedSubscribers: this.sharded });
      this.subscriber.on(this.sharded ? 'smessage' : 'message', (_channel: string, message: string) => this.dispatch(message));
      this.subscribing = (this.sharded ? this.subscriber.ssubscribe(this.channel) : this.subscriber.subscribe(this.channel)).then(() => undefined);
      this.subscribing.catch(() => (this.subscribing = undefined));
    }
    return this.subscribing;
  }

  private dispatch(message: string): void {
    let event: ProgressEvent;
    try {
      event = JSON.parse(message) as ProgressEvent;
    } catch {
      return;
    }
    for (const listener of this.listeners.get(event.requestId) ?? []) listener(event);
    for (const listener of this.allListeners) listener(event);
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }
}
