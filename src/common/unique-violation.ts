// Recognises a unique-constraint refusal from Postgres through Prisma (model queries and raw SQL alike) or pg, so
// services can turn "already exists" races into domain answers.
import pg from 'pg';
import { Prisma } from '../generated/prisma/client.js';

/**
 * A unique constraint refused the write: P2002 from Prisma's model queries, P2010 ("raw query failed") with
 * SQLSTATE 23505 from $queryRaw, or SQLSTATE 23505 from pg (insertNew). `index` narrows it to one constraint.
 */
export function isUniqueViolation(err: unknown, index?: string): boolean {
  // pg's own error: a PREPARED statement run past Prisma's runtime (PrismaService.prepared, the request insert).
  if (err instanceof pg.DatabaseError) {
    if (err.code !== '23505') return false;
    return !index || err.constraint === index || err.message.includes(index);
  }
  if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (err.code !== 'P2002' && !(err.code === 'P2010' && rawUniqueViolation(err.meta))) return false;
  if (!index) return true;
  return JSON.stringify(err.meta ?? {}).includes(index) || err.message.includes(index);
}

function rawUniqueViolation(meta: Record<string, unknown> | undefined): boolean {
  const cause = (meta?.driverAdapterError as { cause?: { kind?: unknown; originalCode?: unknown } } | undefined)?.cause;
  return cause?.kind === 'UniqueConstraintViolation' || cause?.originalCode === '23505';
}
