// State shared by the benchmarks of one run: the emulator process (started once), memory peaks
// of the service processes, and results one benchmark reuses from another (e.g. the kubectl loop
// compares itself with the e2e run of the same size).

import { startEmulatorProcess, type EmulatorProcess } from './emulator.js';
import type { Section } from './report.js';
import type { HeapBreakdown } from './rss.js';

export interface MemoryRecord {
  bench: string;
  process: string;
  role: 'api' | 'worker' | 'all';
  hwmMb: number;
  maxRssMb: number;
  /** RSS when the process had just become ready. */
  startRssMb: number;
  /** V8 heap at the end of the run, from the process's /metrics. */
  heap?: HeapBreakdown;
  /** The process's CPU ms per unit of work while tracked (an accepted request for ingest, a namespace for e2e). */
  cpuMsPerItem?: number;
}

export interface E2EResult {
  key: string;
  n: number;
  workers: number;
  apis: number;
  qps: number;
  burst: number;
  concurrency: number;
  latencyMs: number;
  submitS: number;
  wallS: number;
  succeeded: number;
  failed: number;
  failures: string[];
  calls: number;
  callsPerNs: number;
  clusterScopedCalls: number;
  callBreakdown: Record<string, number>;
  peakCallsPerS: number;
  stepCalls: Record<string, { avg: number; max: number; avgMs: number }>;
  namespaceStepCallsRest: number[];
  lowerBoundConcS: number;
  lowerBoundQpsS: number;
  lowerBoundS: number;
  throughput: number;
  /** Averages over the requests: created → started (queue), started → finished (run). */
  queueWaitS: number;
  runS: number;
  maxQueueWaitS: number;
  maxRunS: number;
  /** CPU seconds used by each service process during the run (api1, worker1, …). */
  cpuS: Record<string, number>;
  /** Share of the machine's cores busy during the run (everything: Postgres, emulator, others). */
  machineBusy: number;
  /** CPU seconds by role during the run (api, worker, emulator, postgres, redis, bench, "(comm)"), largest first. */
  cpuByRole: [string, number][];
  /** The workers' CPU per namespace over the second half of the run (ms): past the JIT's warm-up. */
  warmWorkerCpuMs?: number;
  /** The workers' CPU per namespace in user space and in the kernel, and how often the kernel preempted them. */
  workerCpuSplit: { userMsPerNs: number; systemMsPerNs: number; involuntaryPerNs: number };
}

export class BenchContext {
  private emu?: Promise<EmulatorProcess>;
  readonly memory: MemoryRecord[] = [];
  readonly e2e = new Map<string, E2EResult>();
  readonly sections: Section[] = [];
  /** Names of the benches this invocation runs (memory reuses ingest/e2e figures when they ran). */
  constructor(readonly selected: string[]) {}

  emulator(): Promise<EmulatorProcess> {
    this.emu ??= startEmulatorProcess('emulator');
    return this.emu;
  }

  async close(): Promise<void> {
    if (this.emu) await (await this.emu.catch(() => undefined))?.stop();
  }
}
