// CPU profile of a service process under the benchmark's load (not part of `npm run bench`):
//   npx tsx bench/profile.ts api     # the API during REST ingest (c=10, 8 s after BENCH_PROFILE_WARMUP_S=2 s of
//                                    # warm-up; BENCH_PROFILE_PLATFORM=express)
//   npx tsx bench/profile.ts worker  # the worker draining N onboardings (BENCH_PROFILE_N, default 40)
// Writes the .cpuprofile next to the child logs and prints self time by package/function and the
// inclusive time of the service's own functions. Uses the built dist/ (run `npm run build` first): tsc's
// files (dist/src), not the bundle, unless BENCH_ENTRY=bundle, so that a function's file names its package.

import autocannon from 'autocannon';
import { startEmulatorProcess } from './lib/emulator.js';
import { summarizeProfile } from './lib/cpuprofile.js';
import { submitOnboardings, waitForTerminal, warmInformer } from './lib/onboard.js';
import { getLogDir, installCleanup, setLogDir, stopAll } from './lib/proc.js';
import { cpuSeconds } from './lib/rss.js';
import { destroyAllStacks, freePort, runId, Stack } from './lib/stack.js';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const PRELOAD = new URL('./lib/profiler-preload.mjs', import.meta.url).pathname;

async function main(): Promise<void> {
  const target = process.argv[2];
  if (target !== 'api' && target !== 'worker') throw new Error('usage: tsx bench/profile.ts api|worker');
  process.env.BENCH_ENTRY ??= 'src';
  setLogDir(mkdtempSync(join(tmpdir(), `osm-profile-${runId()}-`)));
  installCleanup(destroyAllStacks);
  const emulator = await startEmulatorProcess();
  const stack = await Stack.create(`profile_${target}`, emulator);
  const port = await freePort();
  const control = `http://127.0.0.1:${port}`;
  const file = join(getLogDir(), `${target}.cpuprofile`);
  let work: string;
  try {
    if (target === 'api') {
      // Every request names a namespace of its own (BENCH_PROFILE_NAMESPACES): ~3,000 per second of load.
      await emulator.seed('prof-', Number(process.env.BENCH_PROFILE_NAMESPACES ?? 20_000));
      const platform = process.env.BENCH_PROFILE_PLATFORM ?? 'fastify';
      const api = await stack.startApi('api', { BENCH_CPU_PROFILE_PORT: port, HTTP_PLATFORM: platform }, [
        '--import',
        PRELOAD,
      ]);
      await warmInformer(api, stack, 300); // the namespace informer lists the cluster at the first request
      let n = 0;
      const load = (seconds: number) =>
        autocannon({
          url: api.url,
          connections: 10,
          duration: seconds,
          headers: stack.headers(),
          requests: [
            {
              method: 'POST',
              path: '/v1/onboardings',
              setupRequest: (r) => ({
                ...r,
                body: JSON.stringify({ namespace: `prof-${n++}`, prerequisites: { enabled: false } }),
              }),
            },
          ],
        });
      await load(Number(process.env.BENCH_PROFILE_WARMUP_S ?? 2));
      await fetch(`${control}/start`);
      const cpu0 = cpuSeconds(api.pid) ?? 0;
      const r = await load(8);
      const cpu = (cpuSeconds(api.pid) ?? 0) - cpu0;
      work =
        `${r['2xx']} accepted requests in 8 s (${Math.round(r['2xx'] / 8)}/s), API CPU ` +
        `${((cpu * 1000) / r['2xx']).toFixed(2)} ms per request (with the profiler on)`;
    } else {
      const n = Number(process.env.BENCH_PROFILE_N ?? 40);
      await emulator.seed('prof-', n, { deployments: 2 });
      const api = await stack.startApi('api');
      const ids = await submitOnboardings(
        stack,
        [api],
        Array.from({ length: n }, (_, i) => `prof-${i}`),
      );
      await emulator.setLatency(Number(process.env.BENCH_LATENCY_MS ?? 10));
      const worker = await stack.startWorker('worker', {
        BENCH_CPU_PROFILE_PORT: port,
        NODE_OPTIONS: `--import ${PRELOAD}`,
      });
      await fetch(`${control}/start`);
      const cpu0 = cpuSeconds(worker.pid) ?? 0;
      const t0 = Date.now();
      await waitForTerminal(stack, ids.length, 600);
      const cpu = (cpuSeconds(worker.pid) ?? 0) - cpu0;
      work =
        `${n} onboardings in ${((Date.now() - t0) / 1000).toFixed(1)} s, worker CPU ` +
        `${((cpu * 1000) / n).toFixed(0)} ms per namespace (with the profiler on)`;
    }
    await fetch(`${control}/stop?file=${encodeURIComponent(file)}`);
  } finally {
    await stopAll();
    await destroyAllStacks();
  }
  const s = summarizeProfile(file, 25);
  const busy = s.totalMs - s.idleMs;
  const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1)}%`.padStart(6);
  console.log(
    `${target}: ${work}\nprofile ${file}: ${(busy / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s\n`,
  );
  console.log('self time by package:');
  for (const [k, ms] of s.byPackage) console.log(`  ${pct(ms)}  ${k}`);
  console.log('\nself time by function:');
  for (const [k, ms] of s.byFunction) console.log(`  ${pct(ms)}  ${k}`);
  console.log('\ninclusive time of the service functions (dist/src):');
  for (const [k, ms] of s.inclusiveService) console.log(`  ${pct(ms)}  ${k}`);
}

main().catch(async (err: unknown) => {
  console.error((err as Error).stack ?? String(err));
  await stopAll().catch(() => undefined);
  await destroyAllStacks().catch(() => undefined);
  process.exit(1);
});
