// What the bundled API and worker (dist/bundle/*.mjs, started as the image starts them) do to themselves before
// the rest of the process loads (src/main.ts, src/worker.ts):
// - the Node version check (src/node-version.ts): on an older Node (the machine's /usr/bin/node, Debian's Node 20
//   here and on CI) each stops with one line and exit code 1, not a dependency's stack trace;
// - the V8 flags (src/v8-flags.ts): they compile nothing with Maglev once their first module has run, and a maglev
//   flag on node's command line wins. Observed through V8's own trace of its optimizing compilations
//   (--trace-opt), which names the target tier of each;
// - deferred date formatters (src/deferred-intl.ts): they build none while they start, although @nestjs/common
//   builds one when it is imported (the control below). Counted by a preload that wraps the built-in constructor
//   (test/support/count-date-formats.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MISSING_MARK } from '../support/binaries.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { ROOT, startAndStop } from '../support/entry-process.js';
import { stackEnv } from '../support/harness.js';

const COUNT_DATE_FORMATS = resolve(ROOT, 'test/support/count-date-formats.mjs');
const formatsBuilt = (out: string) => Number(/date formats built: (\d+)/.exec(out)?.[1] ?? NaN);

/**
 * Starts an entry point with --trace-opt (and `nodeArgs`), waits until it is up, stops it; the number of
 * compilations it started for each tier.
 */
async function compilations(
  entry: string,
  ready: RegExp,
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<{ maglev: number; turbofan: number }> {
  const out = await startAndStop(entry, ready, env, [...nodeArgs, '--trace-opt']);
  const count = (target: string) =>
    out.match(new RegExp(`\\[compiling method .*\\(target ${target}`, 'g'))?.length ?? 0;
  return { maglev: count('MAGLEV'), turbofan: count('TURBOFAN') };
}

/** The machine's Node, when it is older than the service's (else the test below is skipped, saying why). */
const OLD_NODE = '/usr/bin/node';
const oldMajor = existsSync(OLD_NODE)
  ? Number(spawnSync(OLD_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout)
  : NaN;
const NO_OLD_NODE = `${MISSING_MARK}a Node < 24 at ${OLD_NODE} (apt-get install nodejs: Debian's is older)`;
const onOldNode = oldMajor < 24 ? it : (title: string, fn: () => void) => it.skip(`${title}${NO_OLD_NODE}`, fn);

describe('an older Node', () => {
  onOldNode(
    'stops each process (API, worker, migrator) with one line and exit code 1, before anything else loads',
    () => {
      for (const entry of ['dist/bundle/main.mjs', 'dist/bundle/worker.mjs', 'dist/src/migrate.js']) {
        // No configuration at all: the check comes before the configuration is read.
        const r = spawnSync(OLD_NODE, [entry], { cwd: ROOT, env: { PATH: process.env.PATH }, encoding: 'utf8' });
        expect(r.status, `${entry}: ${r.stderr}`).toBe(1);
        expect(r.stdout).toBe('');
        const version = `v${oldMajor}\\.\\d+\\.\\d+`;
        expect(r.stderr).toMatch(
          new RegExp(`^osm-onboarding needs Node >= 24, but ${OLD_NODE} is ${version}\\. Start it`),
        );
        expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      }
    },
  );
});

describe('what the service processes set on themselves before they load', () => {
  let emulator: Emulator;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    emulator = await startEmulator();
    env = await stackEnv(emulator, { ROLE: 'api' });
  }, 30_000);
  afterAll(async () => {
    await emulator?.close();
  });

  it('control: importing @nestjs/common builds a date formatter', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', COUNT_DATE_FORMATS, '--input-type=module', '-e', "await import('@nestjs/common');"],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(formatsBuilt(r.stdout)).toBeGreaterThanOrEqual(1);
  });

  for (const [entry, ready, role] of [
    ['dist/bundle/main.mjs', /listening on http/, 'api'],
    ['dist/bundle/worker.mjs', /worker started/, 'worker'],
  ] as const) {
    it(`${entry} starts without Maglev; --maglev on the command line brings it back`, async () => {
      const own = await compilations(entry, ready, { ...env, ROLE: role });
      const withMaglev = await compilations(entry, ready, { ...env, ROLE: role }, ['--maglev']);
      // The start-up is hot enough to reach the optimizing tiers (so the trace would show Maglev)…
      expect(own.turbofan).toBeGreaterThan(20);
      expect(withMaglev.maglev).toBeGreaterThan(100);
      // …and only what Node runs before the entry point's first module (resolving its path) reaches Maglev.
      expect(own.maglev).toBeLessThan(10);
    }, 60_000);

    it(`${entry} builds no date formatter while it starts and stops`, async () => {
      const out = await startAndStop(entry, ready, { ...env, ROLE: role }, ['--import', COUNT_DATE_FORMATS]);
      expect(formatsBuilt(out)).toBe(0);
    }, 60_000);
  }
});
