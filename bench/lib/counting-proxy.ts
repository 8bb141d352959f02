// The TCP plumbing of the census proxies (pg-proxy.ts, redis-proxy.ts): every client connection is
// forwarded to `target` both ways, and what the client sends is also handed to `inspect` (one per
// connection, called with each chunk in order).

import { createServer, connect, type Server } from 'node:net';

export interface CountingProxy {
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
  close(): Promise<void>;
}

export async function startCountingProxy(
  target: { host: string; port: number },
  inspector: () => (chunk: Buffer) => void,
): Promise<CountingProxy> {
  const sockets = new Set<{ destroy(): void }>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const inspect = inspector();
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      inspect(chunk);
    });
    upstream.on('data', (d) => client.write(d));
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url(url) {
      const u = new URL(url);
      u.host = `127.0.0.1:${port}`;
      return u.toString();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
