// Turns whatever is thrown below the edges (REST filter, GraphQL formatter, graphql-ws) into a coded DomainError:
// Postgres or Redis unreachable (DEPENDENCY_UNAVAILABLE), Postgres refusing text it cannot store (VALIDATION_FAILED),
// a body that is not JSON; anything else is INTERNAL, its details never in the message.
import pg from 'pg';
import { Prisma } from '../generated/prisma/client.js';
import { DomainError } from './domain-error.js';
import { UNSTORABLE_TEXT_MESSAGE } from './storable-text.js';

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
const PRISMA_UNAVAILABLE = new Set([
  'P1001',
  'P1002',
  'P1003', // the database does not exist (yet)
  'P1008',
  'P1017',
  'P2021', // a table does not exist: the database is not migrated for this version (schema-version.ts)
  'P2024',
  'P2028',
]);
/** Driver adapter error kinds with the same meaning. */
const ADAPTER_UNAVAILABLE = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'DatabaseDoesNotExist',
  'TableDoesNotExist',
]);

/** What the drivers' errors may carry (pg, Prisma and its driver adapter, ioredis). */
interface ErrorLink {
  message?: unknown;
  code?: unknown;
  kind?: unknown;
  originalCode?: unknown;
  originalMessage?: unknown;
  meta?: { driverAdapterError?: unknown };
  cause?: unknown;
}

/** `err` and what it wraps, six deep at most: a Prisma error's driver adapter error, else the cause. */
function* errorChain(err: unknown): Generator<ErrorLink> {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const link = e as ErrorLink;
    yield link;
    e = link.meta?.driverAdapterError ?? link.cause;
  }
}

/** True when `err` (or anything in its cause chain) says Postgres or Redis is unreachable. */
export function isDependencyUnavailable(err: unknown): boolean {
  // A Kubernetes API server that cannot be reached is the cluster's problem, not ours (KUBE_UNAVAILABLE).
  if ((err as { name?: string } | null)?.name === 'KubeError') return false;
  for (const x of errorChain(err)) {
    const e: unknown = x;
    if (e instanceof Prisma.PrismaClientInitializationError) return true;
    if (e instanceof Prisma.PrismaClientKnownRequestError && PRISMA_UNAVAILABLE.has(e.code)) return true;
    if (typeof x.message === 'string' && UNAVAILABLE.test(x.message)) return true;
    if (typeof x.kind === 'string' && ADAPTER_UNAVAILABLE.has(x.kind)) return true;
    // SQLSTATE class 08 (connection exception) and 57P0x (operator intervention: shutdown, crash, cannot connect now);
    // 3D000 (no such database), 42P01 and 42883 (no such table or function: not migrated for this version).
    const sqlState = typeof x.originalCode === 'string' ? x.originalCode : typeof x.code === 'string' ? x.code : '';
    if (/^(08[0-9A-Z]{3}|57P0[1-4]|3D000|42P01|42883)$/.test(sqlState)) return true;
  }
  return false;
}

/**
 * SQLSTATEs of Postgres refusing such text: 22021 (invalid byte sequence: 0x00 in text), 22P05 (untranslatable
 * character: \u0000 in jsonb, "unsupported Unicode escape sequence"), and 22P02 (invalid text representation) when
 * the type is json/jsonb (a lone surrogate escape); 22P02 of another type (a malformed uuid) is not this.
 */
function refusesText(code: unknown, message: unknown): boolean {
  const text = typeof message === 'string' ? message : '';
  if (code === '22021' || code === '22P05') return true;
  if (code === '22P02') return /\btype jsonb?\b/i.test(text);
  return /unsupported Unicode escape sequence/i.test(text);
}

/**
 * True when `err` (or its cause chain) is Postgres refusing unstorable text (storable-text.ts): pg's DatabaseError
 * (statements run past Prisma), or Prisma's error carrying the driver adapter's (model queries and raw SQL alike).
 */
export function isUnstorableTextError(err: unknown): boolean {
  for (const x of errorChain(err)) {
    const e: unknown = x;
    if (e instanceof pg.DatabaseError) return refusesText(e.code, e.message);
    if (refusesText(x.originalCode ?? x.code, x.originalMessage ?? x.message)) return true;
  }
  return false;
}

/** What a request stream ending early is reported as: Node's `aborted`, a reset socket, a stream closed early. */
const ABORT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * True when `err` is the caller's connection ending (a client abort, a half-close, a reset) while the body of
 * `request` (the Node request, whose body never came in whole) was read: Node's `aborted` error as Fastify's reader
 * passes it on, body-parser's `request.aborted` (wrapped in Nest's HttpException on Express). The caller's doing,
 * not an internal error; the same codes from a dependency's socket, once the body is in, are not this.
 */
export function isClientAbort(err: unknown, request: unknown): boolean {
  if ((request as { complete?: unknown } | undefined)?.complete !== false) return false;
  for (const x of errorChain(err)) {
    if ((x as { type?: unknown }).type === 'request.aborted') return true;
    if (typeof x.code === 'string' && ABORT_CODES.has(x.code)) return true;
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
  // The last line behind the edges' checks (storable-text.ts): a NUL or a lone surrogate that reached Postgres.
  if (isUnstorableTextError(err)) {
    return new DomainError('VALIDATION_FAILED', UNSTORABLE_TEXT_MESSAGE, {
      hint: 'remove NUL characters (U+0000) and unpaired UTF-16 surrogates from the text fields',
    });
  }
  if ((err as { type?: string })?.type === 'entity.parse.failed') {
    return new DomainError('MALFORMED_REQUEST', 'request body is not valid JSON');
  }
  return new DomainError('INTERNAL', 'internal error');
}
