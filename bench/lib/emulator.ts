// Parent side of the emulator process: start it, seed namespaces, set the injected latency and
// read the request log summaries over IPC.

import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { EmulatorCommand, RequestStats } from './emulator-host.js';
import type { FaultRule } from '../../test/support/emulator/faults.js';
import { getLogDir, startChild, type Child } from './proc.js';

export type { RequestStats } from './emulator-host.js';

export const ROOT = resolve(import.meta.dirname, '../..');
const TSX = join(ROOT, 'node_modules/tsx/dist/loader.mjs');

export interface EmulatorProcess {
  url: string;
  tlsUrl: string;
  kubeconfig: string;
  child: Child;
  seed(
    prefix: string,
    count: number,
    opts?: { from?: number; deployments?: number; replicas?: number },
  ): Promise<number>;
  setLatency(ms: number): Promise<void>;
  /** Adds a fault rule (test/support/emulator/faults.ts); returns its id. */
  addFault(rule: FaultRule): Promise<string>;
  clearRequests(): Promise<void>;
  requestStats(prefix?: string, userAgent?: string): Promise<RequestStats>;
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(name = 'emulator'): Promise<EmulatorProcess> {
  const kubeconfig = join(getLogDir(), `${name}.kubeconfig`);
  const child = startChild(
    name,
    process.execPath,
    ['--max-old-space-size=4096', '--import', TSX, join(ROOT, 'bench/lib/emulator-host.ts')],
    {
      cwd: ROOT,
      ipc: true,
      env: { ...process.env, BENCH_KUBECONFIG_OUT: kubeconfig, BENCH_EMULATOR_TOKEN: randomBytes(24).toString('hex') },
    },
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ready!: (v: unknown) => void;
  let failed!: (e: Error) => void;
  const started = new Promise<unknown>((res, rej) => {
    ready = res;
    failed = rej;
  });
  child.proc.on('message', (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
    if (msg.id === 0) return ready(msg.result);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`emulator: ${msg.error}`));
  });
  void child.exited.then((code) => {
    const err = new Error(`emulator exited (code ${code}); see ${child.logFile}`);
    failed(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  // The deadline is cleared once the emulator is up: a pending 60 s timer kept the bench process alive for up to a
  // minute after its results were written.
  let deadline: NodeJS.Timeout | undefined;
  const info = (await Promise.race([
    started,
    new Promise((_, rej) => {
      deadline = setTimeout(() => rej(new Error(`emulator did not start in 60 s; see ${child.logFile}`)), 60_000);
    }),
  ]).finally(() => clearTimeout(deadline))) as { url: string; tlsUrl: string };

  const send = <T>(command: EmulatorCommand): Promise<T> =>
    new Promise<T>((res, rej) => {
      const id = nextId++;
      pending.set(id, { resolve: res as (v: unknown) => void, reject: rej });
      child.proc.send({ id, ...command });
    });

  return {
    url: info.url,
    tlsUrl: info.tlsUrl,
    kubeconfig,
    child,
    async seed(prefix, count, opts = {}) {
      const t0 = performance.now();
      // In chunks, so a large seed does not block the emulator's event loop for seconds.
      const chunk = (opts.deployments ?? 0) > 0 ? 200 : 2000;
      for (let from = opts.from ?? 0, end = (opts.from ?? 0) + count; from < end; from += chunk) {
        await send({
          cmd: 'seed',
          prefix,
          from,
          count: Math.min(chunk, end - from),
          deployments: opts.deployments ?? 0,
          replicas: opts.replicas,
        });
      }
      return (performance.now() - t0) / 1000;
    },
    setLatency: (ms) => send({ cmd: 'latency', ms }),
    addFault: (rule) => send({ cmd: 'fault', rule }),
    clearRequests: () => send({ cmd: 'clearRequests' }),
    requestStats: (prefix, userAgent) => send({ cmd: 'requestStats', prefix, userAgent }),
    idle: () => send({ cmd: 'idle' }),
    stop: () => child.stop(),
  };
}
