import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOG_DIR, SCALE } from './rig.js';
import { SCENARIOS, table, type ScenarioResult } from './scenarios.js';
import { report, VERBOSE } from '../support/report.js';

/**
 * The fault suite as vitest tests, one per scenario, run one after the other (a describe's tests run in
 * order; they share the machine's Postgres and Redis). Prints the summary table at the end and writes it to
 * $TMPDIR/osm-onboarding-fault-logs/summary-<scale>.txt (worker logs next to it); any loss, duplicate or
 * other problem fails the run.
 */
export function defineFaultSuite(timeoutMs: number): void {
  const results: ScenarioResult[] = [];
  describe(`fault suite (${SCALE})`, () => {
    for (const [title, scenario] of SCENARIOS) {
      it(title, { timeout: timeoutMs }, async () => {
        const r = await scenario();
        results.push(r);
        expect({ lost: r.lost, duplicated: r.duplicated, problems: r.problems }).toEqual({
          lost: 0,
          duplicated: 0,
          problems: [],
        });
        expect(r.succeeded + r.failedAsExpected).toBe(r.requests);
      });
    }
    afterAll(() => {
      const text = table(results);
      mkdirSync(LOG_DIR, { recursive: true });
      writeFileSync(join(LOG_DIR, `summary-${SCALE}.txt`), `${text}\n`);
      const count = (key: 'lost' | 'duplicated') => results.reduce((n, r) => n + r[key], 0);
      const problems = results.reduce((n, r) => n + r.problems.length, 0);
      const summary =
        `fault suite (${SCALE}): ${results.length} scenarios, ${count('lost')} lost, ` +
        `${count('duplicated')} duplicated, ${problems} problems`;
      // The full-size run (npm run test:faults) exists to print the table.
      report(`fault-suite-${SCALE}`, summary, text, VERBOSE || SCALE === 'full');
    });
  });
}
