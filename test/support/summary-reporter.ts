// The end of every vitest run: the tests skipped because a machine program is missing (see ./binaries.ts), each
// with what to install, then one plain `N passed, N failed, N skipped` line for CI logs.
import type { Reporter, TestModule } from 'vitest/node';
import { MISSING_MARK } from './binaries.js';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const missing = new Map<string, number>();
    for (const m of modules) {
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
        const title = t.fullName;
        const at = title.indexOf(MISSING_MARK);
        if (state === 'skipped' && at >= 0) {
          const why = title.slice(at + MISSING_MARK.length).split(' > ')[0];
          const key = `${m.moduleId.replace(`${process.cwd()}/`, '')}: needs ${why}`;
          missing.set(key, (missing.get(key) ?? 0) + 1);
        }
      }
      // A file that failed outside its tests (a hook, an import) counts as one failure.
      failed += failedHere || (m.state() === 'failed' ? 1 : 0);
    }
    if (missing.size) {
      console.log('\nskipped, a program they run is missing (install it to run them):');
      for (const [what, n] of missing) console.log(`  ${n} test${n === 1 ? '' : 's'} of ${what}`);
    }
    console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
