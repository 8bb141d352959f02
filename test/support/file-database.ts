// Setup file of the integration tier: every test file gets a database of its own, copied from the run's migrated
// database (global-setup.ts) with CREATE DATABASE … TEMPLATE, and dropped after the file (or, if still in use, by
// the global teardown). Files run side by side, and a worker's sweeper re-enqueues any QUEUED request its own queue
// lacks (onboarding.worker.ts): in one shared database, one file's worker could pick up and run another file's
// requests against its own emulator.
import pg from 'pg';
import { afterAll, inject } from 'vitest';

const template = new URL(inject('databaseUrl'));
const templateName = template.pathname.slice(1);
const name = `${templateName}_f${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const url = new URL(template);
url.pathname = `/${name}`;

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('databaseAdminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

await admin(async (client) => {
  // Two copies of one template at the same moment: Postgres refuses the second while the first reads it (55006).
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName}"`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
});
process.env.OSM_TEST_DATABASE_URL = url.toString();

afterAll(async () => {
  // Without FORCE: a connection the file left open (a pool not ended) keeps the copy, and the global teardown
  // drops it once every test process has exited, instead of breaking that connection under a live client.
  await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}"`)).catch(() => undefined);
});
