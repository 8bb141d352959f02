// Owns the deadline of a BullMQ producer's calls while Redis is away: the onboarding queue's (QueueService: enqueue,
// job reads, removal, depth) and the webhook queue's (WebhookDispatcher: enqueue, the sweeper's job read).
import type { RedisClient } from '../redis/redis.service.js';

/**
 * BullMQ sends nothing until its connection has been ready once, and waits for that without a timeout; ioredis's
 * commandTimeout starts only when a command is sent (and with maxRetriesPerRequest null, a command of a connection
 * that went away waits in its offline queue for the whole outage). So `run` sends nothing while the connection is not
 * ready: it waits for it (at most `timeoutMs`, and not at all once a call waited in vain, until the connection is
 * ready again) and fails, so no command of it is left to run later. A call sent on a ready connection is raced
 * against what is left of the deadline; if it completes after that, its outcome is dropped.
 */
export class BoundedProducer {
  /** Callers waiting for the connection to be ready (woken by its next `ready`). */
  private readonly waiters = new Set<() => void>();
  /** A call waited `timeoutMs` for the connection in vain: the next ones fail at once, until ready. */
  private unreachable = false;

  constructor(
    private readonly connection: RedisClient,
    private readonly timeoutMs: number,
  ) {
    connection.on('ready', () => {
      this.unreachable = false;
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    });
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    await this.connected();
    const sent = call();
    sent.catch(() => undefined); // rejected after the deadline: nobody waits for it any more
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      const left = Math.max(0, deadline - Date.now());
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.timeoutMs} ms`)), left);
    });
    try {
      return await Promise.race([sent, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when the connection is ready; rejects after `timeoutMs`, or at once (see above). */
  private connected(): Promise<void> {
    const connection = this.connection;
    // A Cluster may report "connect" as its connected state (as BullMQ's own wait accepts).
    if (connection.status === 'ready' || (connection.status === 'connect' && connection.isCluster)) {
      return Promise.resolve();
    }
    const down = () => new Error(`Redis is not connected (${connection.status})`);
    if (this.unreachable || connection.status === 'end') return Promise.reject(down());
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        this.unreachable = true;
        reject(new Error(`${down().message} after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiters.add(wake);
    });
  }
}
