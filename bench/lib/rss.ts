// Peak memory of child processes, from /proc/<pid>/status: VmHWM (the kernel's high-water mark of
// the resident set) and the largest VmRSS seen while polling.

import { readdirSync, readFileSync } from 'node:fs';

export interface MemorySample {
  label: string;
  pid: number;
  /** Peak resident set (VmHWM) in MiB, as of the last successful read. */
  hwmMb: number;
  /** Largest VmRSS sampled, MiB. */
  maxRssMb: number;
  /** VmRSS when tracking started (the process was ready and idle), MiB. */
  startRssMb: number;
  /** CPU seconds (user + system) the process used since tracking started. */
  cpuS: number;
  cpuStartS: number;
  samples: number;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** User and kernel CPU seconds (utime, stime) of a process, from /proc/<pid>/stat; throws when it is gone. */
function statTimes(pid: number): { userS: number; systemS: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userS: Number(fields[11]) / TICKS_PER_S, systemS: Number(fields[12]) / TICKS_PER_S };
}

/** CPU seconds (utime + stime) of a process, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const { userS, systemS } = statTimes(pid);
    return userS + systemS;
  } catch {
    return undefined;
  }
}

/** User and kernel CPU of a process and the times the kernel took the CPU from it (/proc/<pid>/stat, status). */
export interface CpuSplit {
  userS: number;
  systemS: number;
  /** Nonvoluntary context switches of its main thread (JavaScript's): preempted while it could run. */
  involuntary: number;
}

export function cpuSplit(pid: number): CpuSplit | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      ...statTimes(pid),
      involuntary: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
    };
  } catch {
    return undefined;
  }
}

/** The sum over processes of what each used between two readings (readings of a process that ended are skipped). */
export function cpuSplitBetween(before: (CpuSplit | undefined)[], after: (CpuSplit | undefined)[]): CpuSplit {
  const sum: CpuSplit = { userS: 0, systemS: 0, involuntary: 0 };
  before.forEach((b, i) => {
    const a = after[i];
    if (!a || !b) return;
    sum.userS += a.userS - b.userS;
    sum.systemS += a.systemS - b.systemS;
    sum.involuntary += a.involuntary - b.involuntary;
  });
  return sum;
}

function readStatus(pid: number): { rss: number; hwm: number; cpu: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, cpu: cpuSeconds(pid) ?? 0 };
  } catch {
    return undefined; // exited
  }
}

/** VmRSS and VmHWM of a process now, MiB (undefined once it exited). */
export function residentMb(pid: number): { rssMb: number; hwmMb: number } | undefined {
  const r = readStatus(pid);
  return r && { rssMb: r.rss, hwmMb: r.hwm };
}

export class RssMonitor {
  private readonly tracked = new Map<number, MemorySample>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly intervalMs = 200) {}

  track(label: string, pid: number): void {
    this.tracked.set(pid, { label, pid, hwmMb: 0, maxRssMb: 0, startRssMb: 0, cpuS: 0, cpuStartS: 0, samples: 0 });
    this.sample();
    this.tracked.get(pid)!.startRssMb = this.tracked.get(pid)!.maxRssMb;
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  sample(): void {
    for (const s of this.tracked.values()) {
      const r = readStatus(s.pid);
      if (!r) continue;
      s.hwmMb = Math.max(s.hwmMb, r.hwm);
      s.maxRssMb = Math.max(s.maxRssMb, r.rss);
      if (s.samples === 0) s.cpuStartS = r.cpu;
      s.cpuS = r.cpu - s.cpuStartS;
      s.samples++;
    }
  }

  /** Takes a last sample (call it before stopping the processes) and stops polling. */
  /** Restarts the CPU accounting (e.g. after start-up and warm-up). */
  resetCpu(): void {
    this.sample();
    for (const s of this.tracked.values()) {
      s.cpuStartS += s.cpuS;
      s.cpuS = 0;
    }
  }

  /** Takes a last sample of one tracked process (before it stops) and stops tracking it. */
  finishOne(label: string): MemorySample | undefined {
    this.sample();
    const entry = [...this.tracked.entries()].find(([, s]) => s.label === label);
    if (!entry) return undefined;
    this.tracked.delete(entry[0]);
    return { ...entry[1] };
  }

  finish(): MemorySample[] {
    if (!this.timer) return [...this.tracked.values()].map((s) => ({ ...s }));
    this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
    return [...this.tracked.values()].map((s) => ({ ...s }));
  }
}

export interface HeapBreakdown {
  residentMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  /** What the resident set is made of, read at the same moment (see residentParts); absent without a pid. */
  parts?: ResidentParts;
}

/**
 * A process's resident set by kind, from /proc/<pid>/smaps, in MiB: file-backed pages (the `node` binary's code and
 * read-only data, shared libraries), V8's regular heap pages (each its own anonymous 256 KiB mapping when pointer
 * compression is off, as in Node's builds), glibc's main heap (`[heap]`) and the other anonymous memory (malloc's
 * other arenas, thread stacks, V8's code range and large objects). `pagedSpacesMb` is what V8 counts as committed
 * in the spaces made of those pages (new, old, trusted; from /metrics): the pages above it are pages V8 freed at a
 * collection and keeps in its pool, for the old space to take back as it grows again; only a memory-reducing GC
 * (V8 starts one when the allocation rate falls, not under a steady load) returns them to the system. Under a
 * steady load V8's pages therefore stay at the old space's largest size so far, plus the new space.
 */
export interface ResidentParts {
  fileMb: number;
  v8PagesMb: number;
  pagedSpacesMb: number;
  mallocHeapMb: number;
  otherAnonMb: number;
}

const V8_PAGE_KB = 256;

function residentParts(pid: number, metrics: string): ResidentParts | undefined {
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = { file: 0, v8: 0, heap: 0, other: 0 };
  let kind: keyof typeof kb = 'other';
  let anonymous = true;
  for (const line of smaps.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const sizeKb = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      const path = head[4];
      anonymous = head[3] === '0';
      kind = path === '[heap]' ? 'heap' : !path && sizeKb === V8_PAGE_KB ? 'v8' : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[anonymous ? kind : 'file'] += Number(rss[1]);
  }
  const space = (name: string) =>
    Number(
      new RegExp(`^nodejs_heap_space_size_total_bytes\\{space="${name}"\\} ([0-9.e+]+)`, 'm').exec(metrics)?.[1] ?? 0,
    );
  const mb = (k: number) => k / 1024;
  return {
    fileMb: mb(kb.file),
    v8PagesMb: mb(kb.v8),
    pagedSpacesMb: (space('new') + space('old') + space('trusted')) / 2 ** 20,
    mallocHeapMb: mb(kb.heap),
    otherAnonMb: mb(kb.other),
  };
}

/** The default prom-client process metrics of a service process (/metrics), in MiB; with its pid, the parts too. */
export async function heapBreakdown(metricsUrl: string, pid?: number): Promise<HeapBreakdown | undefined> {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })).text();
    const read = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    return {
      residentMb: read('process_resident_memory_bytes'),
      heapUsedMb: read('nodejs_heap_size_used_bytes'),
      heapTotalMb: read('nodejs_heap_size_total_bytes'),
      externalMb: read('nodejs_external_memory_bytes'),
      parts: pid === undefined ? undefined : residentParts(pid, text),
    };
  } catch {
    return undefined;
  }
}

/** Seconds a service process spent in garbage collection so far, by kind (prom-client's nodejs_gc_duration_seconds). */
export async function gcSeconds(metricsUrl: string): Promise<Record<string, number> | undefined> {
  try {
    const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([0-9.e+-]+)/gm))
      out[m[1]] = Number(m[2]);
    return out;
  } catch {
    return undefined;
  }
}

/** GC milliseconds between two gcSeconds() readings: the total and the major (mark-compact) part. */
export function gcMsBetween(
  before: Record<string, number> | undefined,
  after: Record<string, number> | undefined,
): { totalMs: number; majorMs: number } | undefined {
  if (!before || !after) return undefined;
  const ms = (kind: string) => ((after[kind] ?? 0) - (before[kind] ?? 0)) * 1000;
  return { totalMs: Object.keys(after).reduce((sum, kind) => sum + ms(kind), 0), majorMs: ms('major') };
}

/** Machine-wide CPU use between start() and stop(), from /proc/stat (all cores together). */
export class MachineCpu {
  private startBusy = 0;
  private startTotal = 0;

  private static read(): { busy: number; total: number } {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = line.reduce((a, b) => a + b, 0);
    const idle = (line[3] ?? 0) + (line[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  }

  start(): this {
    const r = MachineCpu.read();
    this.startBusy = r.busy;
    this.startTotal = r.total;
    return this;
  }

  /** Busy share of all cores since start(), 0..1. */
  busyShare(): number {
    const r = MachineCpu.read();
    const total = r.total - this.startTotal;
    return total > 0 ? (r.busy - this.startBusy) / total : 0;
  }
}

/** Every process's CPU seconds and command name, from /proc/<pid>/stat. */
function allProcessCpu(): Map<number, { comm: string; cpuS: number }> {
  const out = new Map<number, { comm: string; cpuS: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { comm, cpuS: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S });
    } catch {
      // the process ended between readdir and read
    }
  }
  return out;
}

/**
 * Where the machine's CPU went during a run, by role: the processes the caller names by pid (service processes,
 * the emulator, the bench itself), Postgres and Redis by command name, any other process by its command name in
 * parentheses. Read from /proc at start() and at seconds(): a process that ended in between is missed, one that
 * started counts whole.
 */
export class ProcessCpuCensus {
  private before = new Map<number, { comm: string; cpuS: number }>();

  constructor(private readonly roles: ReadonlyMap<number, string>) {}

  start(): this {
    this.before = allProcessCpu();
    return this;
  }

  /** CPU seconds by role since start(), largest first. */
  seconds(): [string, number][] {
    const roles = this.roles;
    const sums = new Map<string, number>();
    for (const [pid, now] of allProcessCpu()) {
      const used = now.cpuS - (this.before.get(pid)?.cpuS ?? 0);
      if (used <= 0) continue;
      const role =
        roles.get(pid) ??
        (now.comm.startsWith('postgres') ? 'postgres' : now.comm.startsWith('redis') ? 'redis' : `(${now.comm})`);
      sums.set(role, (sums.get(role) ?? 0) + used);
    }
    return [...sums].sort((a, b) => b[1] - a[1]);
  }
}

/**
 * "worker 41% · emulator 27% · … · other 3%": each role's share of the CPU the census counted; another process
 * by its command name in parentheses when it took 2 % or more (the machine's own: kernel threads, agents), the rest
 * together as "other".
 */
export function renderCpuShares(seconds: [string, number][]): string {
  const total = seconds.reduce((sum, [, s]) => sum + s, 0);
  if (total <= 0) return '—';
  let other = 0;
  const shown: [string, number][] = [];
  for (const [role, s] of seconds) {
    if (role.startsWith('(') && s / total < 0.02) other += s;
    else shown.push([role, s]);
  }
  if (other > 0) shown.push(['other', other]);
  return shown
    .sort((a, b) => b[1] - a[1])
    .filter(([, s]) => s / total >= 0.005)
    .map(([role, s]) => `${role} ${Math.round((100 * s) / total)}%`)
    .join(' · ');
}
