// The database of the running test file: its own copy (file-database.ts) in the integration tier, else the run's.
import { inject } from 'vitest';

export function testDatabaseUrl(): string {
  return process.env.OSM_TEST_DATABASE_URL ?? inject('databaseUrl');
}
