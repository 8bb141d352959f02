// The README can be pasted: scripts/readme-examples.ts starts a fresh demo (free ports, its own database and
// Redis prefix) and runs every ```sh block of README.md in order, in one shell, checking each `# → …` output line.
import { expect, inject } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { itWith } from '../support/binaries.js';
import { runReadmeExamples } from '../../scripts/readme-examples.js';

itWith(['bash', 'curl', 'jq'])(
  "README.md's shell examples run as written against npm run demo",
  async () => {
    const result = await runReadmeExamples({
      databaseUrl: testDatabaseUrl(),
      redisUrl: inject('redisUrl'),
      build: false, // `npm test` has just built dist/
    });
    expect(result.problem, result.problem ? result.demoOutput.slice(-4000) : '').toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.blocks.length).toBeGreaterThanOrEqual(8);
  },
  240_000,
);
