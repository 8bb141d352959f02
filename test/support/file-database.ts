// Setup file of the integration tier: every test file gets a database of its own, copied from the run's migrated
// database (global-setup.ts, copies: database-copy.ts), and dropped after the file (or, if still in use, by the
// global teardown). Files run side by side, and a worker's sweeper re-enqueues any QUEUED request its own queue
// lacks (onboarding.worker.ts): in one shared database, one file's worker could pick up and run another file's
// requests against its own emulator.
import { afterAll } from 'vitest';
import { copyDatabase } from './database-copy.js';

const db = await copyDatabase('f');
process.env.OSM_TEST_DATABASE_URL = db.url;

// Without FORCE: a connection the file left open (a pool not ended) keeps the copy, and the global teardown drops
// it once every test process has exited, instead of breaking that connection under a live client.
afterAll(() => db.drop());
