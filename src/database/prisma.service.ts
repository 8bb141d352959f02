import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient, type Prisma } from '../generated/prisma/client.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { REQUIRED_MIGRATION, SchemaVersion, type SchemaState } from './schema-version.js';

/**
 * Raw SQL that starts with this comment runs as a named prepared statement: Postgres parses and
 * plans it once per connection instead of on every call (about 0.2 ms of Postgres CPU saved per
 * call of the request insert). Only for statements whose text never varies (values go in
 * parameters), since each distinct text stays prepared on every pooled connection. Note that a
 * pooler in transaction mode (PgBouncer before 1.21) does not support prepared statements.
 */
export const PREPARED = '/* prepared */';

/** Names already derived (hashing the text cost ~2 % of the API's CPU per request): one per PREPARED text. */
const preparedNames = new Map<string, string>();

/** The statement's name: derived from its text, so one name always means one statement. */
function preparedName(sql: string): string | undefined {
  if (!sql.startsWith(PREPARED)) return undefined;
  let name = preparedNames.get(sql);
  if (name === undefined) {
    name = `osm_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    // PREPARED texts are fixed, so the map stays small; the bound guards against a text that varies by mistake.
    if (preparedNames.size < 1000) preparedNames.set(sql, name);
  }
  return name;
}

/** Postgres's OID of int8 (bigint). */
const INT8_OID = 20;
const parseInt8 = (value: string): bigint => BigInt(value);
const textParser = (oid: number): ((value: string) => unknown) =>
  oid === INT8_OID ? parseInt8 : (pg.types.getTypeParser(oid, 'text') as (value: string) => unknown);
/**
 * Result types as Prisma's raw queries return them, for `prepared`: int8 as BigInt (pg's default is a string);
 * everything else as pg parses it (timestamptz as Date, jsonb parsed, int4 as number, uuid and text as strings).
 */
const PRISMA_LIKE_TYPES = { getTypeParser: textParser };

// Prisma 7 with the pg driver adapter: no query engine binary is needed at run time. The adapter gets a pool of
// ours (and ends it on $disconnect), so `prepared` can use the same connections.
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleInit, OnModuleDestroy {
  private static readonly logger = new Logger('Postgres');
  private readonly pool: pg.Pool;
  /** The pool's connections (DATABASE_POOL_SIZE). */
  readonly poolSize: number;
  private readonly schema: SchemaVersion;
  private schemaWarned = false;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: config.databasePoolSize,
      connectionTimeoutMillis: 5000,
      // pg closes a connection idle for 10 s by default, and the next burst reconnects: a new backend, whose first
      // statements load every table, index, partition and trigger they touch (the request insert took up to 41 ms
      // on a new connection, 0.4 ms after). Four requests sent together after 12 s of quiet took 67–111 ms with
      // pg's default and 21–25 ms with the connections kept (docs/performance.md, fourteenth round). Connections
      // stay DATABASE_POOL_IDLE_MS (0: until the process ends); TCP keep-alive probes an idle one after 30 s, so a
      // load balancer or NAT that drops silent connections (AWS NLB after 350 s, Azure's after 240 s) sees traffic,
      // and a peer that vanished is noticed.
      idleTimeoutMillis: config.databasePoolIdleMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 30_000,
    });
    super({
      adapter: new PrismaPg(pool, {
        // Unnamed (parsed every time) unless marked PREPARED; pg caches named ones per connection.
        statementNameGenerator: (query) => preparedName(query.sql) as string,
        disposeExternalPool: true,
      }),
    });
    this.pool = pool;
    this.poolSize = config.databasePoolSize;
    this.schema = new SchemaVersion(
      async (migration) =>
        (
          await pool.query<{ one: number }>(
            `SELECT 1 AS one FROM "_prisma_migrations" WHERE "migration_name" = $1 AND "finished_at" IS NOT NULL
               AND "rolled_back_at" IS NULL`,
            [migration],
          )
        ).rows,
    );
    // An idle connection that Postgres ends (a restart, a failover, pg_terminate_backend) is an 'error' event on
    // the pool; pg drops that connection and opens a new one on demand. Without a listener the event would throw
    // and end the process: the adapter adds its own only once Prisma connects, and `prepared` may come first.
    pool.on('error', (err) =>
      PrismaService.logger.warn(`an idle Postgres connection ended (${err.message}); a new one opens on demand`),
    );
  }

  /**
   * Runs one PREPARED statement (`sql\`/* prepared *\/ …\``) on the adapter's pool without Prisma's query
   * runtime: same connections, same statement names, the rows typed as `$queryRaw` types them (int8 as BigInt).
   * For the hot fixed statements only (the request insert, the runner's transitions): Prisma's raw-query path
   * costs ~90 µs of CPU and a third of the worker's allocations per call (docs/performance.md). Not inside a
   * Prisma transaction (that runs on its own connection): use `tx.$queryRaw` there. Errors are pg's
   * (`DatabaseError` with the SQLSTATE in `code`); isUniqueViolation and isDependencyUnavailable read both.
   */
  async prepared<T>(query: Prisma.Sql): Promise<T[]> {
    const text = query.text;
    const name = preparedName(text);
    if (!name) throw new Error('PrismaService.prepared: the statement must start with the PREPARED comment');
    const result = await this.pool.query<T & pg.QueryResultRow>({
      name,
      text,
      values: query.values,
      types: PRISMA_LIKE_TYPES,
    });
    return result.rows;
  }

  /**
   * Whether the database has been migrated as far as this build needs (schema-version.ts); the first `behind` is
   * logged once, naming the migration and what to run.
   */
  async schemaState(): Promise<SchemaState> {
    const state = await this.schema.state();
    if (state === 'behind' && !this.schemaWarned) {
      this.schemaWarned = true;
      PrismaService.logger.error(
        `the database schema is behind this version: migration ${REQUIRED_MIGRATION} is not applied; run ` +
          '`npm run db:migrate` (or the migration Job) against it. /readyz answers 503 until it is',
      );
    }
    return state;
  }

  /** Says at start-up, not only at the first readiness probe, when the database is behind this build. */
  onModuleInit(): void {
    void this.schemaState().catch(() => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
