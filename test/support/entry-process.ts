// Runs a bundled entry point (dist/bundle/*.mjs) as the image runs it, for the tests that read what a whole process
// does while it starts: start it, wait for its ready line, stop it (SIGTERM), and give back all it printed.
import { spawn } from 'node:child_process';
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
