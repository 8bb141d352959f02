// The V8 flags the entry points set on themselves (src/v8-flags.ts): the bundled API and worker, started as the
// image starts them, compile nothing with Maglev once their first module has run, and a maglev flag on node's
// command line wins. Observed through V8's own trace of its optimizing compilations (--trace-opt), which names the
// target tier of each.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { stackEnv } from '../support/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

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
  const child = spawn(process.execPath, [...nodeArgs, '--trace-opt', entry], {
    cwd: ROOT,
    env: { ...process.env, ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((ok, fail) => {
    const seen = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) ok();
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => fail(new Error(`${entry} exited with ${code}: ${out.slice(-2000)}`)));
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  const count = (target: string) =>
    out.match(new RegExp(`\\[compiling method .*\\(target ${target}`, 'g'))?.length ?? 0;
  return { maglev: count('MAGLEV'), turbofan: count('TURBOFAN') };
}

describe('the V8 flags of the service processes', () => {
  let emulator: Emulator;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    emulator = await startEmulator();
    env = await stackEnv(emulator, { ROLE: 'api' });
  }, 30_000);
  afterAll(async () => {
    await emulator?.close();
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
  }
});
