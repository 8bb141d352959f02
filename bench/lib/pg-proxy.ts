// A counting TCP proxy in front of Postgres: point a process's DATABASE_URL at it to count its
// round trips (simple 'Q' queries and extended-protocol Syncs) and its statements by SQL text
// (a prepared statement's executions count under the text it was prepared with).
// Used for short census runs only (it adds a hop), never while measuring throughput.

import { startCountingProxy } from './counting-proxy.js';

export interface PgCensus {
  url(databaseUrl: string): string;
  /** Round trips: simple queries + Sync messages (one per extended-protocol statement as pg sends them). */
  roundTrips(): number;
  statements(): [string, number][];
  reset(): void;
  close(): Promise<void>;
}

export async function startPgCensus(target = { host: '127.0.0.1', port: 5432 }): Promise<PgCensus> {
  let roundTrips = 0;
  const sql = new Map<string, number>();
  const count = (text: string) => {
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 80);
    sql.set(key, (sql.get(key) ?? 0) + 1);
  };
  const proxy = await startCountingProxy(target, () => {
    let buf = Buffer.alloc(0);
    let startup = true;
    // Named (prepared) statements are parsed once per connection; their executions are Binds by name.
    const prepared = new Map<string, string>();
    return (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (startup) {
          if (buf.length < 4 || buf.length < buf.readInt32BE(0)) break;
          buf = buf.subarray(buf.readInt32BE(0));
          startup = false;
          continue;
        }
        if (buf.length < 5) break;
        const type = String.fromCharCode(buf[0]);
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) break;
        const body = buf.subarray(5, 1 + len);
        if (type === 'Q') {
          roundTrips++;
          count(body.subarray(0, body.length - 1).toString());
        } else if (type === 'S') roundTrips++;
        else if (type === 'P') {
          const nameEnd = body.indexOf(0);
          const text = body.subarray(nameEnd + 1, body.indexOf(0, nameEnd + 1)).toString();
          if (nameEnd === 0)
            count(text); // unnamed: parsed for every execution
          else prepared.set(body.subarray(0, nameEnd).toString(), text);
        } else if (type === 'B') {
          const portalEnd = body.indexOf(0);
          const name = body.subarray(portalEnd + 1, body.indexOf(0, portalEnd + 1)).toString();
          if (name) count(prepared.get(name) ?? `(prepared statement ${name})`);
        }
        buf = buf.subarray(1 + len);
      }
    };
  });
  return {
    url: (databaseUrl) => proxy.url(databaseUrl),
    roundTrips: () => roundTrips,
    statements: () => [...sql.entries()].sort((a, b) => b[1] - a[1]),
    reset() {
      roundTrips = 0;
      sql.clear();
    },
    close: () => proxy.close(),
  };
}
