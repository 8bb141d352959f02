// Long diagnostic output of the tests (the fault table, observed Kubernetes calls, measured timings): always
// written to $TMPDIR/osm-onboarding-test-reports/<name>.txt, printed in full only with TEST_VERBOSE=1, otherwise
// as one line saying where it is, so the output of `npm test` stays readable.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const VERBOSE = process.env.TEST_VERBOSE === '1';
export const REPORT_DIR = join(tmpdir(), 'osm-onboarding-test-reports');

/** Writes the report; prints it whole when `full` (TEST_VERBOSE=1 by default), else `summary` and its path. */
export function report(name: string, summary: string, text: string, full = VERBOSE): string {
  mkdirSync(REPORT_DIR, { recursive: true });
  const path = join(REPORT_DIR, `${name}.txt`);
  writeFileSync(path, `${text}\n`);
  console.log(full ? `\n${text}\n` : `${summary} (full text: ${path}; TEST_VERBOSE=1 prints it)`);
  return path;
}
