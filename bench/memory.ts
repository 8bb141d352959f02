// 5. Memory: peak RSS (VmHWM from /proc/<pid>/status, polled every 200 ms) of the API and worker
// processes during benches 1 (ingest) and 2 (e2e). When those did not run in this invocation
// (`npm run bench:memory`), it runs them first.

import type { BenchContext, MemoryRecord } from './lib/context.js';
import { fmt, type Section } from './lib/report.js';
import * as e2e from './e2e.js';
import * as ingest from './ingest.js';

export const name = 'memory';

// Issue 15, item 3 (the first round's target was 250 MB).
const LIMIT_MB = 200;

export async function run(ctx: BenchContext): Promise<Section> {
  const notes: string[] = [];
  if (!ctx.memory.some((m) => m.bench === 'ingest')) {
    notes.push('ran bench 1 (ingest) for these figures');
    await ingest.run(ctx);
  }
  if (!ctx.memory.some((m) => m.bench.startsWith('e2e'))) {
    notes.push('ran bench 2 (e2e) for these figures');
    await e2e.run(ctx);
  }
  const records = ctx.memory.filter((m) => m.bench === 'ingest' || m.bench.startsWith('e2e'));
  const peak = (role: MemoryRecord['role']) =>
    records
      .filter((m) => m.role === role)
      .reduce<MemoryRecord | undefined>((a, b) => (!a || b.hwmMb > a.hwmMb ? b : a), undefined);
  const api = peak('api');
  const worker = peak('worker');
  const heap = (m: MemoryRecord) =>
    m.heap ? `${fmt(m.heap.heapUsedMb, 0)} / ${fmt(m.heap.heapTotalMb, 0)} / ${fmt(m.heap.externalMb, 0)}` : '—';
  const parts = (m: MemoryRecord) => {
    const p = m.heap?.parts;
    if (!p) return '—';
    const pooled = Math.max(0, p.v8PagesMb - p.pagedSpacesMb);
    return (
      `${fmt(p.fileMb, 0)} / ${fmt(p.v8PagesMb, 0)} (${fmt(pooled, 0)} pooled) / ${fmt(p.mallocHeapMb, 0)} / ` +
      fmt(p.otherAnonMb, 0)
    );
  };
  notes.push(
    'RSS at ready = right after /healthz answered (idle, nothing loaded but the app); heap = V8 heap used / ' +
      'committed / external at the end of the run, ' +
      "from the process's own /metrics (prom-client default metrics). The ingest bench runs no worker (ROLE=api " +
      "keeps the requests queued). CPU = the process's CPU time while tracked ÷ requests it accepted (ingest, " +
      'warm-up included) or namespaces onboarded (e2e): the cost side of a memory setting, robust to machine load.',
  );
  notes.push(
    'resident at the end (/proc/<pid>/smaps, at the same moment as the heap figures): files = file-backed pages (the ' +
      "node binary's code and data, libraries); V8 pages = V8's regular heap pages (one anonymous 256 KiB mapping " +
      'each), of which "pooled" = those above what V8 counts as committed in its new, old and trusted spaces: ' +
      'pages it freed at a collection and keeps for the old space to take back as it grows again (only a ' +
      'memory-reducing GC, which V8 starts when the allocation rate falls, returns them), so that under load V8 ' +
      "holds the old space's largest size so far; malloc heap = glibc's main arena; other = the rest of the " +
      "anonymous memory (malloc's other arenas, V8's code range and large objects, thread stacks).",
  );
  return {
    name,
    title: '5. Memory: peak RSS of the service processes during 1 and 2',
    tables: [
      {
        headers: [
          'during',
          'process',
          'RSS at ready MB',
          'peak RSS (VmHWM) MB',
          'heap used / committed / external MB',
          'resident at the end: files / V8 pages (pooled) / malloc heap / other MB',
          'CPU ms per request (ingest) / namespace (e2e)',
          `≤ ${LIMIT_MB} MB`,
        ],
        rows: records.map((m) => [
          m.bench,
          m.process,
          Math.round(m.startRssMb),
          Math.round(m.hwmMb),
          heap(m),
          parts(m),
          fmt(m.cpuMsPerItem, 1),
          m.hwmMb <= LIMIT_MB ? 'yes' : 'NO',
        ]),
      },
    ],
    notes,
    targets: [
      {
        bench: name,
        target: `API peak RSS ≤ ${LIMIT_MB} MB`,
        measured: api
          ? `${Math.round(api.hwmMb)} MB (${api.bench}; ${Math.round(api.startRssMb)} MB at ready)`
          : 'not measured',
        met: api ? api.hwmMb <= LIMIT_MB : null,
      },
      {
        bench: name,
        target: `worker peak RSS ≤ ${LIMIT_MB} MB`,
        measured: worker
          ? `${Math.round(worker.hwmMb)} MB (${worker.bench}; ${Math.round(worker.startRssMb)} MB at ready)`
          : 'not measured',
        met: worker ? worker.hwmMb <= LIMIT_MB : null,
      },
    ],
  };
}
