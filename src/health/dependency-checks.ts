// Owns the dependency checks that the API's and the worker's /readyz report (health.controller.ts,
// worker-process.ts): each answers `ok` or `unavailable` within CHECK_TIMEOUT_MS. They are reported, never
// required: Postgres, Redis and the Kubernetes API server are shared by every replica, so a readiness that
// required them would take every replica out of its Service at once during an outage, and callers would get
// connection errors instead of the API's coded `503 DEPENDENCY_UNAVAILABLE` with `Retry-After`
// (docs/operations.md, "Health"). Readiness is "not draining, and the database migrated for this build".
import type { PrismaService } from '../database/prisma.service.js';
import type { RedisService } from '../redis/redis.service.js';
import type { SchemaState } from '../database/schema-version.js';

export type CheckResult = 'ok' | 'unavailable';

/** How long one check may take before it is reported `unavailable` (below the probes' 3 s timeout). */
export const CHECK_TIMEOUT_MS = 2000;

/** `ok` when `fn` resolves within `ms`, else `unavailable` (a rejection or the timeout). */
export async function check(fn: () => Promise<unknown>, ms = CHECK_TIMEOUT_MS): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)));
  try {
    await Promise.race([fn(), timeout]);
    return 'ok';
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Postgres (`SELECT 1`), Redis (`PING`) and the database's schema version (schema-version.ts), checked at once. A
 * schema `behind` this build is the one dependency state that makes /readyz 503 (schemaBlocksReadiness): it is this
 * rollout's own problem (run ahead of its migration), not a shared outage, and the replicas of the version before
 * keep serving meanwhile.
 */
export async function storeChecks(
  prisma: PrismaService,
  redis: RedisService,
): Promise<{ postgres: CheckResult; redis: CheckResult; schema: SchemaState }> {
  let schema: SchemaState = 'unknown';
  const [postgres, redisState] = await Promise.all([
    check(() => prisma.$queryRaw`SELECT 1`),
    check(() => redis.client.ping()),
    check(async () => (schema = await prisma.schemaState())),
  ]);
  return { postgres, redis: redisState, schema };
}
