import { Prisma } from '../generated/prisma/client.js';
import { DomainError } from './domain-error.js';

// What Postgres (pg + Prisma 7's driver adapter) and Redis (ioredis, BullMQ) actually throw when they are
// down, restarting, hung or partitioned. Checked against real outages in test/integration/reliability.
const UNAVAILABLE = new RegExp(
  [
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'connect ENOENT',
    // pg
    'Connection terminated', // "Connection terminated unexpectedly" / "... due to connection timeout"
    'timeout exceeded when trying to connect',
    'terminating connection due to administrator command', // 57P01: the server is shutting down
    'the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)', // 57P03
    'Client has encountered a connection error',
    // Prisma
    "Can't reach database",
    'Server has closed the connection',
    'Unable to start a transaction in the given time',
    'Timed out fetching a new connection',
    // ioredis / BullMQ
    'Connection is closed',
    'Command timed out',
    "Stream isn't writeable",
    'MaxRetriesPerRequest',
    'Reached the max retries per request',
    'LOADING Redis is loading',
  ].join('|'),
  'i',
);

/** Prisma error codes that mean "the database is not there right now", not "your query is wrong". */
const PRISMA_UNAVAILABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);
/** Driver adapter error kinds with the same meaning. */
const ADAPTER_UNAVAILABLE = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);

/** True when `err` (or anything in its cause chain) says Postgres or Redis is unreachable. */
export function isDependencyUnavailable(err: unknown): boolean {
  // A Kubernetes API server that cannot be reached is the cluster's problem, not ours (KUBE_UNAVAILABLE).
  if ((err as { name?: string } | null)?.name === 'KubeError') return false;
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    if (e instanceof Prisma.PrismaClientInitializationError) return true;
    if (e instanceof Prisma.PrismaClientKnownRequestError && PRISMA_UNAVAILABLE.has(e.code)) return true;
    const x = e as {
      message?: unknown;
      code?: unknown;
      kind?: unknown;
      originalCode?: unknown;
      meta?: { driverAdapterError?: unknown };
      cause?: unknown;
    };
    if (typeof x.message === 'string' && UNAVAILABLE.test(x.message)) return true;
    if (typeof x.kind === 'string' && ADAPTER_UNAVAILABLE.has(x.kind)) return true;
    // SQLSTATE class 08 (connection exception) and 57P0x (operator intervention: shutdown, crash, cannot connect now).
    const sqlState = typeof x.originalCode === 'string' ? x.originalCode : typeof x.code === 'string' ? x.code : '';
    if (/^(08[0-9A-Z]{3}|57P0[1-4])$/.test(sqlState)) return true;
    e = x.meta?.driverAdapterError ?? x.cause;
  }
  return false;
}

/** Anything thrown below the edge, as a coded DomainError; internals never leak into messages. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  if (isDependencyUnavailable(err)) {
    return new DomainError(
      'DEPENDENCY_UNAVAILABLE',
      'a backing service (Postgres or Redis) is unavailable; retry later',
      {
        hint: 'the service recovers by itself when the dependency is back; retry with the same Idempotency-Key',
      },
    );
  }
  if ((err as { type?: string })?.type === 'entity.parse.failed') {
    return new DomainError('MALFORMED_REQUEST', 'request body is not valid JSON');
  }
  return new DomainError('INTERNAL', 'internal error');
}
