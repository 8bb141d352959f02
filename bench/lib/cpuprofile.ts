// Summarizes a V8 .cpuprofile: self time by function and by package, and inclusive time of the
// functions under dist/src (the service's own code).
//   npx tsx bench/lib/cpuprofile.ts <file.cpuprofile> [top=25]

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export function packageOf(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.includes('/dist/src/')) return `service: ${url.slice(url.indexOf('/dist/src/') + 10).split('/')[0]}`;
  if (url.startsWith('node:')) return 'node core';
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  byFunction: [string, number][];
  byPackage: [string, number][];
  inclusiveService: [string, number][];
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++)
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  // Samples taken while the profiler preload serializes the profile are not the service's work.
  for (const id of [...self.keys()]) {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (byId.get(cur)!.callFrame.url.endsWith('profiler-preload.mjs')) {
        self.delete(id);
        break;
      }
    }
  }
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    total += ms;
    const name = n.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += ms;
      continue;
    }
    const url = n.callFrame.url;
    const key = `${name} ${packageOf(url)}${url.includes('/dist/src/') ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + ms);
    pkg.set(packageOf(url), (pkg.get(packageOf(url)) ?? 0) + ms);
    // Inclusive time of service functions: walk up once per distinct service frame.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!f.url.includes('/dist/src/')) continue;
      const k =
        `${f.functionName || '(anonymous)'} ` + `${f.url.slice(f.url.indexOf('/dist/src/') + 10)}:${f.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + ms);
    }
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs: total,
    idleMs: idle,
    byFunction: sorted(fn),
    byPackage: sorted(pkg),
    inclusiveService: sorted(incl),
  };
}

/** Self time of a function (by name), grouped by its `depth` nearest callers. */
export function callersOf(file: string, fn: string, depth = 8): [string, number][] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++)
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  const agg = new Map<string, number>();
  for (const [id, ms] of self) {
    if (byId.get(id)!.callFrame.functionName !== fn) continue;
    const chain: string[] = [];
    for (let cur = parent.get(id), d = 0; cur !== undefined && d < depth; cur = parent.get(cur), d++) {
      const f = byId.get(cur)!.callFrame;
      chain.push(`${f.functionName || '(anonymous)'}@${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`);
    }
    const key = chain.join(' < ');
    agg.set(key, (agg.get(key) ?? 0) + ms);
  }
  return [...agg.entries()].sort((a, b) => b[1] - a[1]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const [file, topArg, fn] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/lib/cpuprofile.ts <file.cpuprofile> [top] | <file> --callers <function>');
    process.exit(2);
  }
  if (topArg === '--callers') {
    for (const [chain, ms] of callersOf(file, fn).slice(0, 15))
      console.log(`${ms.toFixed(0).padStart(7)} ms  ${chain}`);
    process.exit(0);
  }
  const s = summarizeProfile(file, Number(topArg ?? 25));
  const busy = s.totalMs - s.idleMs;
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1)}%`;
  console.log(
    `profile: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy\n\nself time by package:`,
  );
  for (const [k, ms] of s.byPackage) console.log(`  ${pct(ms).padStart(6)}  ${k}`);
  console.log('\nself time by function:');
  for (const [k, ms] of s.byFunction) console.log(`  ${pct(ms).padStart(6)}  ${k}`);
  console.log('\ninclusive time of service functions (dist/src):');
  for (const [k, ms] of s.inclusiveService) console.log(`  ${pct(ms).padStart(6)}  ${k}`);
}
