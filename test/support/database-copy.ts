// Copies of the run's migrated database (global-setup.ts), made with CREATE DATABASE … TEMPLATE: one per test file
// (file-database.ts), and one per stack where a file runs stacks one after the other and a stack that did not stop
// in time must not touch the next one's requests (a worker's sweeper re-enqueues any QUEUED request its own queue
// lacks, onboarding.worker.ts, and would run it against its own emulator).
import pg from 'pg';
import { inject } from 'vitest';

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('databaseAdminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A new copy of the run's database: its URL, and `drop` (without FORCE: a copy still in use stays for teardown). */
export async function copyDatabase(tag: string): Promise<{ url: string; drop(): Promise<void> }> {
  const template = new URL(inject('databaseUrl'));
  const templateName = template.pathname.slice(1);
  const name = `${templateName}_${tag}${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const url = new URL(template);
  url.pathname = `/${name}`;
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
  return {
    url: url.toString(),
    drop: () =>
      admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}"`)).then(
        () => undefined,
        () => undefined,
      ),
  };
}
