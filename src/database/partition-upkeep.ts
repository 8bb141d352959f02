// Owns the audit trail's partitions ahead (migration 20261203200000_audit_partitions): every process, API and
// worker, makes sure the months from now to PARTITIONS_AHEAD_MONTHS ahead have their partition, at start and then
// every PARTITION_UPKEEP_MS, whatever the retention settings. An insert dated past the last partition fails, so
// this cannot hang on the retention pass alone: that runs only on workers, and not at all with
// RETENTION_INTERVAL_MS=0 (an outside audit had every write fail once the months ran out).
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PrismaService } from './prisma.service.js';

/** Months of audit partitions kept ready ahead of now. */
export const PARTITIONS_AHEAD_MONTHS = 3;
/** How often each process looks again (a month ahead is made months before it is needed). */
export const PARTITION_UPKEEP_MS = 6 * 60 * 60 * 1000;

@Injectable()
export class PartitionUpkeep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(PartitionUpkeep.name);
  private timer?: NodeJS.Timeout;
  private failing = false;

  constructor(private readonly prisma: PrismaService) {}

  onApplicationBootstrap(): void {
    const tick = () => void this.ensure();
    this.timer = setInterval(tick, PARTITION_UPKEEP_MS);
    this.timer.unref();
    tick();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** The partitions from this month to PARTITIONS_AHEAD_MONTHS ahead; false (logged) when it could not. */
  async ensure(now = new Date()): Promise<boolean> {
    try {
      await this.prisma.$queryRaw`SELECT audit_event_ensure_partitions(${now}::timestamptz,
        ${now}::timestamptz + ${`${PARTITIONS_AHEAD_MONTHS} months`}::interval)`;
      if (this.failing) this.logger.log('audit partitions ahead are in place again');
      this.failing = false;
      return true;
    } catch (err) {
      // Postgres away is retried at the next tick; the schema behind this build is said by /readyz and at start.
      if (!this.failing)
        this.logger.error(
          `could not make the audit partitions ahead (${(err as Error).message.split('\n')[0]}); retrying in ` +
            `${PARTITION_UPKEEP_MS / 3_600_000} h, and an insert dated past the last partition fails`,
        );
      this.failing = true;
      return false;
    }
  }
}
