// Summarizes a V8 .heapsnapshot: self size and count by constructor/type, largest first.
//   npx tsx bench/lib/heapsnapshot.ts <file.heapsnapshot> [top=30]

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export function summarizeHeap(file: string, top = 30): { totalMb: number; rows: [string, number, number][] } {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const f = s.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = s.snapshot.meta.node_types[0];
  const agg = new Map<string, [number, number]>();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]];
    const size = s.nodes[i + iSize];
    total += size;
    const name = type === 'object' || type === 'closure' ? s.strings[s.nodes[i + iName]] : `(${type})`;
    const key = `${name}`.slice(0, 80);
    const a = agg.get(key) ?? [0, 0];
    a[0] += size;
    a[1] += 1;
    agg.set(key, a);
  }
  const rows = [...agg.entries()]
    .sort((a, b) => b[1][0] - a[1][0])
    .slice(0, top)
    .map(([k, [size, n]]): [string, number, number] => [k, size / 2 ** 20, n]);
  return { totalMb: total / 2 ** 20, rows };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/lib/heapsnapshot.ts <file.heapsnapshot> [top]');
    process.exit(2);
  }
  const r = summarizeHeap(file, Number(topArg ?? 30));
  console.log(`heap: ${r.totalMb.toFixed(1)} MB in the snapshot`);
  for (const [k, mb, n] of r.rows) console.log(`${mb.toFixed(1).padStart(8)} MB ${String(n).padStart(9)}  ${k}`);
}
