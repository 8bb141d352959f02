// `npm run db:migrate` and the migration Job (`node dist/src/migrate.js`): create the database if it is missing,
// then apply prisma/migrations. Like the API and the worker, it refuses an older Node with one line first
// (node-version.ts).
import './node-version.js';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, redactUrl } from './config/config.js';
import { applyMigrations, ensureDatabase } from './database/migrate.js';

try {
  const config = loadConfig();
  const dir = resolve(process.env.MIGRATIONS_DIR ?? 'prisma/migrations');
  if (await ensureDatabase(config.databaseUrl)) console.log(`created database ${redactUrl(config.databaseUrl)}`);
  const outcome = await applyMigrations(config.databaseUrl, dir);
  console.log(
    `migrations: ${outcome.applied.length} ` +
      `applied${outcome.applied.length ? ` (${outcome.applied.join(', ')})` : ''}, ` +
      `${outcome.alreadyApplied.length} already applied`,
  );
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `migration failed: ${(err as Error).message}`);
  process.exit(1);
}
