// Preload for CPU-profiling a service process without touching its code:
//   BENCH_CPU_PROFILE_PORT=9339 node --import ./bench/lib/profiler-preload.mjs dist/bundle/main.mjs
//   curl 127.0.0.1:9339/start; …load…; curl '127.0.0.1:9339/stop?file=/tmp/api.cpuprofile'
// writes a .cpuprofile (open it in Chrome DevTools, or `npx tsx bench/lib/cpuprofile.ts <file>`);
// /gc runs a full garbage collection and answers process.memoryUsage(); /heap-snapshot?file=… writes a
// .heapsnapshot (`npx tsx bench/lib/heapsnapshot.ts <file>` summarizes it).
// (`node --cpu-prof` writes nothing when Nest's shutdown hook re-raises SIGTERM, and Nest's
// enableShutdownHooks() also claims SIGUSR2, hence a control port.)
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
const post = (method, params = {}) =>
  new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));

await post('Profiler.enable');
await post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_CPU_PROFILE_INTERVAL_US ?? 500) });

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  try {
    if (url.pathname === '/start') {
      await post('Profiler.start');
      res.end('started\n');
    } else if (url.pathname === '/stop') {
      const { profile } = await post('Profiler.stop');
      const file = url.searchParams.get('file') ?? `/tmp/osm-onboarding-${process.pid}.cpuprofile`;
      writeFileSync(file, JSON.stringify(profile));
      res.end(`${file}\n`);
    } else if (url.pathname === '/gc') {
      await post('HeapProfiler.collectGarbage');
      const m = process.memoryUsage();
      res.end(
        JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }) + '\n',
      );
    } else if (url.pathname === '/heap-snapshot') {
      const file = url.searchParams.get('file') ?? `/tmp/osm-onboarding-${process.pid}.heapsnapshot`;
      const chunks = [];
      const onChunk = (m) => chunks.push(m.params.chunk);
      session.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
      await post('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      session.off('HeapProfiler.addHeapSnapshotChunk', onChunk);
      writeFileSync(file, chunks.join(''));
      res.end(`${file}\n`);
    } else {
      res.statusCode = 404;
      res.end();
    }
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});
server.listen(Number(process.env.BENCH_CPU_PROFILE_PORT ?? 0), '127.0.0.1');
server.unref();
