// Owns picking a free TCP port on 127.0.0.1 for a server a test starts itself (a redis-server, a demo, a child).
import { createServer } from 'node:net';

/** A port nothing listens on now (the OS's pick for a listener that closes at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
