// Owns the dependency checks that the API's and the worker's /readyz report (health.controller.ts,
// worker-process.ts): each answers `ok` or `unavailable` within CHECK_TIMEOUT_MS. They are reported, never
// required: Postgres, Redis and the Kubernetes API server are shared by every replica, so a readiness that
// required them would take every replica out of its Service at once during an outage, and callers would get
// connection errors instead of the API's coded `503 DEPENDENCY_UNAVAILABLE` with `Retry-After`
// (docs/operations.md, "Health"). Readiness is only "not draining".
import type { PrismaService } from '../database/prisma.service.js';
import type { RedisService } from '../redis/redis.service.js';

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

/** Postgres (`SELECT 1`) and Redis (`PING`), checked at once. */
export async function storeChecks(
  prisma: PrismaService,
  redis: RedisService,
): Promise<{ postgres: CheckResult; redis: CheckResult }> {
  const [postgres, redisState] = await Promise.all([
    check(() => prisma.$queryRaw`SELECT 1`),
    check(() => redis.client.ping()),
  ]);
  return { postgres, redis: redisState };
}
