import { Inject, Injectable, Logger } from '@nestjs/common';
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
export class EventBus {
  private readonly logger = new Logger(EventBus.name);
  private readonly channel: string;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly allListeners = new Set<Listener>();
  /** One handler for the channel (RedisService keeps a set, so subscribing again adds nothing). */
  private readonly onMessage = (message: string) => this.dispatch(message);

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.channel = `${config.queuePrefix}:events`;
  }

  async publish(events: ProgressEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (!this.redis.available()) {
      // Not connected: the command would only wait its timeout (1 s) in the offline queue; readers poll Postgres.
      this.logger.warn(`could not publish ${events.length} event(s): Redis is not connected`);
      return;
    }
    try {
      // One connection sends commands in order, so the events go out in order; several in one round trip.
      await this.redis.publishAll(
        this.channel,
        events.map((e) => JSON.stringify(e)),
      );
    } catch (err) {
      // Never fail a committed transition because Redis is away; readers poll Postgres.
      this.logger.warn(`could not publish ${events.length} event(s): ${(err as Error).message}`);
    }
  }

  /**
   * `publish` without waiting for Redis's answer, for a worker between two steps: the one connection still sends the
   * events in order, a failure is still a warning (publish never rejects), and the worker's next step starts at
   * once. Waiting held every transition for Redis's answer, and for the command's timeout (1 s) while Redis did not
   * answer (test/integration/progress-publish.spec.ts).
   */
  send(events: ProgressEvent[]): void {
    void this.publish(events);
  }

  /** Listens to one request's events; returns the unsubscribe function once Redis confirmed. */
  async listen(requestId: string, listener: Listener): Promise<() => void> {
    return this.listenTo([requestId], listener);
  }

  /**
   * Listens to several requests' events with one listener (a batch's stream); returns one unsubscribe function once
   * Redis confirmed. All or none: the listener is added to every request only after the one wait, so a failed wait
   * leaves nothing behind.
   */
  async listenTo(requestIds: string[], listener: Listener): Promise<() => void> {
    // Redis away: do not hang the stream; the subscription completes when it is back, and readers poll
    // Postgres meanwhile.
    await Promise.race([this.ensureSubscribed(), new Promise((r) => setTimeout(r, 1000))]);
    const sets = requestIds.map((requestId) => {
      let set = this.listeners.get(requestId);
      if (!set) this.listeners.set(requestId, (set = new Set()));
      set.add(listener);
      return [requestId, set] as const;
    });
    return () => {
      for (const [requestId, set] of sets) {
        set.delete(listener);
        if (set.size === 0 && this.listeners.get(requestId) === set) this.listeners.delete(requestId);
      }
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
    return this.redis.subscribe(this.channel, this.onMessage);
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
}
