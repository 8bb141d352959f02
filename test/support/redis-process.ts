// Owns a redis-server of a test's own: a free port on 127.0.0.1, no persistence, an optional password; started empty,
// killed with SIGKILL, started again. The Redis outages the reliability specs need, without the shared Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { findBinary } from './binaries.js';
import { freePort } from './free-port.js';

export class RedisProcess {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly password?: string,
  ) {}

  /** On a free port; not started yet. */
  static async create(password?: string): Promise<RedisProcess> {
    return new RedisProcess(await freePort(), password);
  }

  /** REDIS_URL for the service (database 0). */
  get url(): string {
    return `redis://${this.password ? `:${this.password}@` : ''}127.0.0.1:${this.port}/0`;
  }

  /** Starts it empty and resolves once it answers PING (10 s at most). */
  async start(): Promise<void> {
    const auth = this.password ? ['--requirepass', this.password] : [];
    this.child = spawn(
      findBinary('redis-server') ?? 'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...auth],
      { stdio: 'ignore' },
    );
    const probe = new Redis({ port: this.port, password: this.password, lazyConnect: true, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    try {
      for (;;) {
        if ((await probe.ping().catch(() => undefined)) === 'PONG') return;
        if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer within 10 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL, and resolves once it has exited; nothing when it is not running. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }
}
