import { Prisma } from '../generated/prisma/client.js';
import { DomainError } from './domain-error.js';

const UNAVAILABLE = /ECONNREFUSED|ECONNRESET|Connection terminated|Can't reach database|ETIMEDOUT|Connection is closed|MaxRetriesPerRequest|connect ENOENT/i;

/** Anything thrown below the edge, as a coded DomainError; internals never leak into messages. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const message = (err as Error)?.message ?? '';
  if (
    err instanceof Prisma.PrismaClientInitializationError ||
    (err instanceof Prisma.PrismaClientKnownRequestError && ['P1001', 'P1002', 'P1017', 'P2024'].includes(err.code)) ||
    UNAVAILABLE.test(message)
  ) {
    return new DomainError('DEPENDENCY_UNAVAILABLE', 'a backing service (Postgres or Redis) is unavailable; retry later');
  }
  if ((err as { type?: string })?.type === 'entity.parse.failed') {
    return new DomainError('MALFORMED_REQUEST', 'request body is not valid JSON');
  }
  return new DomainError('INTERNAL', 'internal error');
}
