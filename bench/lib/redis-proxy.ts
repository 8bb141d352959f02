// A counting TCP proxy in front of Redis: point a process's REDIS_URL at it to count the commands it
// sends, by name (RESP arrays, as ioredis and BullMQ send them; EVALSHA counted as such). Used for
// short census runs only (it adds a hop), never while measuring throughput.

import { startCountingProxy } from './counting-proxy.js';

export interface RedisCensus {
  url(redisUrl: string): string;
  total(): number;
  commands(): [string, number][];
  close(): Promise<void>;
}

/** Parses as many whole commands as `buf` holds; returns their names and the bytes consumed. */
function parse(buf: Buffer): { names: string[]; used: number } {
  const names: string[] = [];
  let used = 0;
  for (;;) {
    let at = used;
    const line = (): string | undefined => {
      const end = buf.indexOf('\r\n', at);
      if (end < 0) return undefined;
      const s = buf.subarray(at, end).toString();
      at = end + 2;
      return s;
    };
    const head = line();
    if (head === undefined || head[0] !== '*') return { names, used };
    const n = Number(head.slice(1));
    let name = '';
    for (let i = 0; i < n; i++) {
      const len = line();
      if (len === undefined) return { names, used };
      const size = Number(len.slice(1));
      if (buf.length < at + size + 2) return { names, used };
      if (i === 0)
        name = buf
          .subarray(at, at + size)
          .toString()
          .toUpperCase();
      at += size + 2;
    }
    names.push(name);
    used = at;
  }
}

export async function startRedisCensus(target = { host: '127.0.0.1', port: 6379 }): Promise<RedisCensus> {
  const counts = new Map<string, number>();
  const proxy = await startCountingProxy(target, () => {
    let buf = Buffer.alloc(0);
    return (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const { names, used } = parse(buf);
      for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
      buf = buf.subarray(used);
    };
  });
  return {
    url: (redisUrl) => proxy.url(redisUrl),
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    commands: () => [...counts.entries()].sort((a, b) => b[1] - a[1]),
    close: () => proxy.close(),
  };
}
