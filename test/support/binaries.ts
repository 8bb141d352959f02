// Machine programs that some integration tests run (kubectl, redis-server, redis-cli, script, and bash, curl and
// jq for the README's examples). When one is absent, the tests that need it are skipped, their suite title saying
// which program is missing and how to get it, and the summary reporter lists them at the end. Only absence
// skips: a program that is there and fails fails its tests.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it, type TestFunction } from 'vitest';

/** How to get each program (Debian package names; kubectl comes with the machine image). */
export const INSTALL_HINTS: Record<string, string> = {
  kubectl: 'the Kubernetes CLI, e.g. from the Kubernetes apt repository',
  'redis-server': 'apt-get install redis-server',
  'redis-cli': 'apt-get install redis-tools',
  script: 'apt-get install bsdutils',
  jq: 'apt-get install jq (macOS: brew install jq)',
  curl: 'apt-get install curl',
  bash: 'apt-get install bash',
};

/** The program's path: on PATH, or in /usr/bin or /usr/local/bin. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The marker the summary reporter looks for in a skipped suite's or test's title. */
export const MISSING_MARK = ' — SKIPPED, missing program: ';

function missing(names: string[]): string | undefined {
  const absent = names.filter((n) => !findBinary(n));
  if (!absent.length) return undefined;
  return `${MISSING_MARK}${absent.map((n) => `${n} (${INSTALL_HINTS[n] ?? 'install it'})`).join(', ')}`;
}

/** `describe`, or, when a program is absent, the same suite skipped (hooks included) with a title saying why. */
export function describeWith(names: string[]): (title: string, fn: () => void) => void {
  const why = missing(names);
  return why ? (title, fn) => describe.skip(`${title}${why}`, fn) : (title, fn) => describe(title, fn);
}

/** `it` likewise for one test. */
export function itWith(names: string[]): (title: string, fn: TestFunction, timeout?: number) => void {
  const why = missing(names);
  if (why) return (title, fn, timeout) => it.skip(`${title}${why}`, fn, timeout);
  return (title, fn, timeout) => it(title, fn, timeout);
}
