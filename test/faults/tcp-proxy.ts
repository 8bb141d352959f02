import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of Postgres or Redis, so a test can take a dependency away from ITS
 * stack only (the shared servers keep serving every other test):
 * - `cut()`: close every connection and refuse new ones (the server is down: ECONNRESET, then ECONNREFUSED);
 * - `blackhole()`: accept connections but forward nothing (the server hangs: timeouts);
 * - `silence()`: open connections stay open and carry nothing (a silent partition: the client still thinks it is
 *   connected, its commands time out);
 * - `delay(ms)`: what the server sends reaches the client `ms` later, in order (a slow link or a slow server);
 * - `restore()`: serve again on the same port.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private mode: 'forward' | 'blackhole' = 'forward';
  /** How long the server's answers are held before they reach the client (delay()). */
  private replyDelayMs = 0;
  private readonly upstreams = new Set<Socket>();
  private readonly pairs = new Map<Socket, Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(targetUrl: string): Promise<TcpProxy> {
    const u = new URL(targetUrl);
    const proxy = new TcpProxy(u.hostname, Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432)));
    await proxy.listen(0);
    return proxy;
  }

  /** The target URL with its host and port replaced by the proxy's. */
  url(targetUrl: string): string {
    const u = new URL(targetUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  private listen(port: number): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private accept(client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.mode === 'blackhole') return;
    const upstream = connect(this.targetPort, this.targetHost);
    this.sockets.add(upstream);
    this.upstreams.add(upstream);
    upstream.on('close', () => this.upstreams.delete(upstream));
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('close', () => this.pairs.delete(client));
    this.pairs.set(client, upstream);
    client.pipe(upstream);
    // The server's answers: at once, or (delay()) each through a timer due no earlier than the one before it, so they
    // keep their order, also when the delay changes while some are held.
    let held = 0;
    let lastDue = 0;
    upstream.on('data', (chunk: Buffer) => {
      if (this.replyDelayMs === 0 && held === 0) {
        client.write(chunk);
        return;
      }
      const due = Math.max(Date.now() + this.replyDelayMs, lastDue);
      lastDue = due;
      held++;
      setTimeout(() => {
        held--;
        if (client.writable) client.write(chunk);
      }, due - Date.now());
    });
  }

  /** The server's answers reach the clients `ms` later from now on (0: at once again); requests are not held. */
  delay(ms: number): void {
    this.replyDelayMs = ms;
  }

  /** Local ports of the live upstream connections (Postgres: pg_stat_activity.client_port). */
  upstreamPorts(): number[] {
    return [...this.upstreams].map((s) => s.localPort).filter((p): p is number => typeof p === 'number');
  }

  /** The dependency goes away: open connections are reset, new ones refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** The dependency hangs: connections are accepted (and existing ones kept) but nothing is forwarded. */
  async blackhole(): Promise<void> {
    this.mode = 'blackhole';
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Open connections stay open but forward nothing either way; new ones are accepted and get nothing. */
  silence(): void {
    this.mode = 'blackhole';
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Serve again; connections accepted while blackholed are reset (a healed partition), so clients reconnect. */
  async restore(): Promise<void> {
    if (this.mode === 'blackhole') {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
    }
    this.mode = 'forward';
    if (!this.server) await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
