// Owns running the machine's kubectl (1.32) against an emulator from a test: a scratch directory for its HOME, cache
// and kubeconfig, and the call itself, always asynchronous (a synchronous child process would block the emulator's
// event loop, which runs in the test's own process).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './binaries.js';
import type { Emulator } from './emulator/index.js';

export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Kubectl {
  /** The scratch directory (HOME, cache, kubeconfig): files a test hands to `-f` go here too. */
  readonly dir: string;
  readonly kubeconfig: string;
  /** One kubectl call; never rejects: a failure is a non-zero `code` with its `stderr`. */
  run(...args: string[]): Promise<KubectlRun>;
  close(): Promise<void>;
}

/** kubectl pointed at `emu` through a kubeconfig of its own (in a directory named after `prefix`). */
export async function kubectlFor(emu: Emulator, prefix = 'kubectl-'): Promise<Kubectl> {
  const bin = findBinary('kubectl') ?? 'kubectl';
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const kubeconfig = join(dir, 'kubeconfig');
  await emu.writeKubeconfig(kubeconfig);
  const run = (...args: string[]) =>
    new Promise<KubectlRun>((resolve) => {
      execFile(
        bin,
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args],
        { env: { ...process.env, HOME: dir, KUBECONFIG: kubeconfig }, timeout: 20_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  return { dir, kubeconfig, run, close: () => rm(dir, { recursive: true, force: true }) };
}
