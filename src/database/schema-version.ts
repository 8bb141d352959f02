// Owns the schema version this build needs: the newest migration in prisma/migrations
// (test/unit/schema-version.spec.ts fails when a new one is added and this is not moved with it), and the question
// "has the database been migrated that far?" that /readyz asks (health/dependency-checks.ts).

/** The newest migration this build's statements rely on. */
export const REQUIRED_MIGRATION = '20261207140000_approval_append_only';

/**
 * `ok`: the database has REQUIRED_MIGRATION (or a later one); `behind`: it has not (a rollout ahead of its migration
 * Job, an empty database); `unknown`: Postgres could not be asked.
 */
export type SchemaState = 'ok' | 'behind' | 'unknown';

/** SQLSTATE 42P01 (undefined table): no `_prisma_migrations` table, so no migration was ever applied. */
const UNDEFINED_TABLE = '42P01';

/**
 * Asks Postgres whether REQUIRED_MIGRATION has been applied, through `query` (a one-row probe). Once it has, the
 * answer is kept: a schema is never migrated back under a running process.
 */
export class SchemaVersion {
  private applied = false;

  constructor(private readonly query: (migration: string) => Promise<unknown[]>) {}

  async state(): Promise<SchemaState> {
    if (this.applied) return 'ok';
    try {
      this.applied = (await this.query(REQUIRED_MIGRATION)).length > 0;
      return this.applied ? 'ok' : 'behind';
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return code === UNDEFINED_TABLE ? 'behind' : 'unknown';
    }
  }
}
