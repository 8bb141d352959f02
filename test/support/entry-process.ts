// Runs a bundled entry point (dist/bundle/*.mjs) as the image runs it, for the tests that read what a whole process
// does: start it, wait for its ready line, stop it (SIGTERM), and give back all it printed; or keep the API running
// with the image's memory settings (imageApi) for the tests that load it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Starts `node [...nodeArgs] entry` in the repo root (NODE_ENV=production), up to `ready`; its stdout + stderr. */
export async function startAndStop(
  entry: string,
  ready: RegExp,
  env: NodeJS.ProcessEnv,
  nodeArgs: string[] = [],
): Promise<string> {
  const child = spawn(process.execPath, [...nodeArgs, entry], {
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
  return out;
}

/**
 * The image's memory settings, read from the Dockerfile as the benches do: NODE_OPTIONS (with its old-space cap
 * replaced by `oldSpaceMb` when given) and MALLOC_ARENA_MAX.
 */
function imageMemoryEnv(oldSpaceMb?: number): { NODE_OPTIONS: string; MALLOC_ARENA_MAX: string } {
  const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
  let nodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)![1];
  if (oldSpaceMb !== undefined) {
    if (!/--max-old-space-size=\d+/.test(nodeOptions)) throw new Error(`no old-space cap in ${nodeOptions}`);
    nodeOptions = nodeOptions.replace(/--max-old-space-size=\d+/, `--max-old-space-size=${oldSpaceMb}`);
  }
  return { NODE_OPTIONS: nodeOptions, MALLOC_ARENA_MAX: /MALLOC_ARENA_MAX=(\d+)/.exec(dockerfile)![1] };
}

/**
 * Starts the bundled API (dist/bundle/main.mjs) with `env` and the image's memory settings, on a free-ish port, and
 * waits for its "listening" line. Stop it with `child.kill('SIGTERM')`; `output()` is all it printed so far.
 */
export async function imageApi(
  env: NodeJS.ProcessEnv,
  opts: { oldSpaceMb?: number } = {},
): Promise<{ child: ChildProcess; base: string; output: () => string }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, ['dist/bundle/main.mjs'], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...imageMemoryEnv(opts.oldSpaceMb), PORT: String(port) },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 200 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!out.includes('listening')) {
    child.kill('SIGTERM');
    throw new Error(`the API did not start: ${out.slice(-2000)}`);
  }
  return { child, base: `http://127.0.0.1:${port}`, output: () => out };
}
