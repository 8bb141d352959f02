// 3. Against what users run instead: the same onboardings as a shell loop of kubectl commands
// (label + annotate the namespace, `rollout restart` its deployments), with the machine's kubectl
// against the same emulator with the same injected latency; compared with the service's e2e run.

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './lib/context.js';
import { settings } from './lib/env.js';
import { e2eOnce, freshPrefix } from './lib/onboard.js';
import { getLogDir, startChild } from './lib/proc.js';
import { ratio, summarize, type Section } from './lib/report.js';
import { renderCpuShares } from './lib/rss.js';
import { raisedRuns } from './scaleout.js';

export const name = 'kubectl';

const LOOP = `#!/usr/bin/env bash
# What a team runs today for each namespace (the osm-edge guide, without the osm CLI):
#   osm namespace add  = label monitored-by + annotate sidecar-injection
#   kubectl rollout restart deployment -n <ns>  (every Deployment of the namespace)
set -euo pipefail
while read -r ns; do
  "$KUBECTL" label namespace "$ns" openservicemesh.io/monitored-by=osm --overwrite >/dev/null
  "$KUBECTL" annotate namespace "$ns" openservicemesh.io/sidecar-injection=enabled --overwrite >/dev/null
  "$KUBECTL" rollout restart deployment -n "$ns" >/dev/null
done < "$1"
`;

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, label: string): Promise<number> {
  const t0 = performance.now();
  const child = startChild(label, cmd, args, { env });
  const code = await child.exited;
  if (code !== 0) throw new Error(`${label} exited with ${code}; see ${child.logFile}`);
  return (performance.now() - t0) / 1000;
}

export async function run(ctx: BenchContext): Promise<Section> {
  const n = settings.kubectlN;
  const service = await e2eOnce(ctx, { n, bench: 'kubectl-service', tag: 'ks' });
  // What an operator would run for a bulk migration: the client-side limit raised out of the way (bench 6's raised
  // runs), whichever is faster here.
  const high = settings.scaleoutHighQps;
  const runs = await raisedRuns(ctx, n);
  const fast = runs.reduce((a, b) => (b.wallS < a.wallS ? b : a));

  const emulator = await ctx.emulator();
  const prefix = freshPrefix('k');
  process.stdout.write(`  kubectl: seeding ${n} namespaces × 2 Deployments… `);
  process.stdout.write(`${(await emulator.seed(prefix, n, { deployments: 2 })).toFixed(1)} s\n`);
  const dir = getLogDir();
  const script = join(dir, 'kubectl-loop.sh');
  const list = join(dir, `kubectl-${prefix}namespaces.txt`);
  writeFileSync(script, LOOP, { mode: 0o755 });
  writeFileSync(list, Array.from({ length: n }, (_, i) => `${prefix}${i}`).join('\n') + '\n');
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    KUBECONFIG: emulator.kubeconfig,
    KUBECACHEDIR: join(dir, 'kube-cache'),
    KUBECTL: settings.kubectl,
  };

  await emulator.setLatency(settings.latencyMs);
  try {
    // A user's discovery cache is warm; so is ours (one call, not timed).
    await timed(settings.kubectl, ['get', 'namespace', 'default'], env, 'kubectl-warmup');
    // The cost of one kubectl process doing one GET (process start + kubeconfig + one round trip).
    const single: number[] = [];
    for (let i = 0; i < 5; i++)
      single.push(
        await timed(settings.kubectl, ['get', 'namespace', `${prefix}0`, '-o', 'name'], env, 'kubectl-single'),
      );
    await emulator.clearRequests();
    const wallS = await timed('bash', [script, list], env, 'kubectl-loop');
    const stats = await emulator.requestStats(prefix, 'kubectl');
    const s = summarize(single);
    const speedup = wallS / service.wallS;
    const fastSpeedup = wallS / fast.wallS;
    return {
      name,
      title: `3. Against a kubectl loop: ${n} onboardings`,
      intro:
        `The shell loop runs \`kubectl label\`, \`kubectl annotate\` and \`kubectl rollout restart deployment -n ` +
        `<ns>\` per namespace ` +
        `(${settings.kubectl}, ${stats.total} API calls logged by the emulator, same ${settings.latencyMs} ms ` +
        `latency), one namespace after another, ` +
        `and does NOT wait for the rollouts or check the pods; the service's run (bench 2, same N) also waits for ` +
        `each rollout and verifies the sidecars, ` +
        `and records every step in Postgres.`,
      tables: [
        {
          headers: ['', 'wall s', 'per namespace ms', 'API calls/ns', 'waits for rollout'],
          rows: [
            [
              `kubectl loop (${n} ns)`,
              wallS.toFixed(2),
              Math.round((wallS * 1000) / n),
              (stats.total / n).toFixed(2),
              'no',
            ],
            [
              `osm-onboarding (${service.key}, the defaults)`,
              service.wallS.toFixed(2),
              Math.round((service.wallS * 1000) / service.n),
              service.callsPerNs.toFixed(2),
              'yes + verify',
            ],
            [
              `osm-onboarding (${fast.key}, K8S_QPS raised)`,
              fast.wallS.toFixed(2),
              Math.round((fast.wallS * 1000) / fast.n),
              fast.callsPerNs.toFixed(2),
              'yes + verify',
            ],
            ['ratio kubectl ÷ service (defaults)', ratio(wallS, service.wallS, 1), '', '', ''],
            ['ratio kubectl ÷ service (K8S_QPS raised)', ratio(wallS, fast.wallS, 1), '', '', ''],
          ],
        },
      ],
      notes: [
        `the machine during the raised run (${fast.key}, ${Math.round(100 * fast.machineBusy)}% of ` +
          `${cpus().length} cores busy), its CPU by process: ${renderCpuShares(fast.cpuByRole)}; the emulator ` +
          `stands in for the cluster's API server and its controllers, which a real cluster runs elsewhere`,
        `one kubectl process (get one namespace, warm discovery cache): p50 ${(s.p50 * 1000).toFixed(0)} ms, max ` +
          `${(s.max * 1000).toFixed(0)} ms`,
        `kubectl's calls: ${Object.entries(stats.byCall)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; errors ${stats.errors}`,
      ],
      targets: [
        {
          bench: name,
          target: 'service ≥ 20× faster than the kubectl loop',
          measured:
            `${speedup.toFixed(1)}× at the defaults (${wallS.toFixed(1)} s vs ${service.wallS.toFixed(1)} ` +
            `s); ${fastSpeedup.toFixed(1)}× with K8S_QPS=${high} and ${fast.workers} worker(s) at ` +
            `WORKER_CONCURRENCY=${fast.concurrency / fast.workers} ` +
            `(${fast.wallS.toFixed(1)} s)`,
          met: Math.max(speedup, fastSpeedup) >= 20,
        },
      ],
    };
  } finally {
    await emulator.setLatency(0);
  }
}
