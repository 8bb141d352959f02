// `npm run bench` runs every benchmark; `npm run bench:<name>` (= `tsx bench/run.ts <name>`) one.
// Builds the service first (the benches run the BUILT code, dist/), prints a table per benchmark and
// writes bench/results/<YYYY-MM-DD>.md (a partial run: <YYYY-MM-DD>-<names>.md; a later run of the day -2, -3, …).
// `--quick` runs them at a tiny size, in two lanes at once (lib/quick.ts).

import { QUICK } from './lib/quick.js'; // first: sets the --quick sizes before lib/env.ts reads them
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchContext } from './lib/context.js';
import { ROOT } from './lib/emulator.js';
import { settings } from './lib/env.js';
import { installCleanup, setLogDir, sleep, stopAll } from './lib/proc.js';
import { MachineCpu } from './lib/rss.js';
import { describeMachine, renderMachine, renderSection, renderTable, type Section } from './lib/report.js';
import { destroyAllStacks, runId } from './lib/stack.js';
import * as e2e from './e2e.js';
import * as fairness from './fairness.js';
import * as history from './history.js';
import * as ingest from './ingest.js';
import * as kubectl from './kubectl.js';
import * as memory from './memory.js';
import * as progress from './progress.js';
import * as scaleout from './scaleout.js';

interface Bench {
  name: string;
  run(ctx: BenchContext): Promise<Section>;
}

const ALL: Bench[] = [ingest, e2e, kubectl, progress, memory, scaleout, history, fairness];
/**
 * Quick mode: the first of its two lanes (the other runs every other bench, in ALL's order, so a new bench is never
 * left out), and what runs after both. The two lanes are about even in a quick run's seconds.
 */
const FIRST_LANE = new Set(['ingest', 'history']);
const LAST = new Set(['memory']);

/** Samples the machine's CPU for 1 s at a time; waits (up to BENCH_QUIET_WAIT_S) while other work keeps it busy. */
async function waitForQuiet(): Promise<{ share: number; waitedS: number; load: string }> {
  const t0 = performance.now();
  let share: number;
  for (;;) {
    const m = new MachineCpu().start();
    await sleep(1000);
    share = m.busyShare();
    if (share <= settings.quietBusy || (performance.now() - t0) / 1000 >= settings.quietWaitS) break;
  }
  return {
    share,
    waitedS: (performance.now() - t0) / 1000,
    load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = args.filter((a) => !ALL.some((b) => b.name === a));
  if (unknown.length)
    throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${ALL.map((b) => b.name).join(', ')}`);
  const selected = args.length ? ALL.filter((b) => args.includes(b.name)) : ALL;
  const logDir = mkdtempSync(join(tmpdir(), `osm-bench-${runId()}-`));
  setLogDir(logDir);
  installCleanup(destroyAllStacks);

  if (process.env.BENCH_SKIP_BUILD !== '1') {
    process.stdout.write('building (npm run build)… ');
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) {
      // tsc still emits on type errors, but the build stops before bundling: bundle what tsc emitted (not a
      // bundle left from an earlier build), run it, and say so.
      const bundle = spawnSync(process.execPath, ['scripts/bundle.mjs'], { cwd: ROOT, encoding: 'utf8' });
      if (bundle.status !== 0 || !existsSync(join(ROOT, 'dist/bundle/main.mjs')))
        throw new Error(`build failed:\n${build.stdout}${build.stderr}${bundle.stdout}${bundle.stderr}`);
      process.stdout.write(
        `type errors (continuing with the emitted ` +
          `dist/):\n${(build.stdout + build.stderr).split('\n').slice(0, 10).join('\n')}\n`,
      );
    } else process.stdout.write('ok\n');
  }

  const machine = await describeMachine(!QUICK);
  const started = new Date();
  console.log(`\n${renderMachine(machine)}\n\nlogs of the child processes: ${logDir}\n`);

  const ctx = new BenchContext(selected.map((b) => b.name));
  const sections: Section[] = [];
  const failures: string[] = [];
  const runBench = async (bench: Bench, lanes: boolean): Promise<void> => {
    console.log(`=== ${bench.name} ===`);
    // A quick run asserts nothing about speed: no second spent sampling the machine before each bench.
    const background = QUICK ? undefined : await waitForQuiet();
    if (background && background.share > settings.quietBusy)
      console.log(
        `  (the machine is ${Math.round(100 * background.share)}% busy with other work; figures will be noisy)`,
      );
    const t0 = performance.now();
    try {
      const section = await bench.run(ctx);
      section.seconds = (performance.now() - t0) / 1000;
      section.background = background;
      sections.push(section);
      ctx.sections.push(section);
      console.log(`\n${renderSection(section)}`);
    } catch (err) {
      const msg = `${bench.name} failed: ${(err as Error).stack ?? String(err)}`;
      failures.push(msg);
      console.error(msg);
      // The next bench starts on a clean machine; in lanes the other lane's stacks are left running (the run's
      // end destroys whatever is left).
      if (!lanes) await destroyAllStacks();
    }
  };
  try {
    if (QUICK) {
      // A quick run's benches run in two lanes at once: its figures mean nothing, and one lane left a core of this
      // 2-core machine idle for most of the run. Each lane keeps the order a bench's reuse needs (kubectl after e2e);
      // memory, which reads the figures of ingest and e2e, runs after both.
      const lanes = [
        selected.filter((b) => FIRST_LANE.has(b.name)),
        selected.filter((b) => !FIRST_LANE.has(b.name) && !LAST.has(b.name)),
      ];
      await Promise.all(
        lanes.map(async (lane) => {
          for (const bench of lane) await runBench(bench, true);
        }),
      );
      for (const bench of selected.filter((b) => LAST.has(b.name))) await runBench(bench, false);
      sections.sort((a, b) => ALL.findIndex((x) => x.name === a.name) - ALL.findIndex((x) => x.name === b.name));
    } else for (const bench of selected) await runBench(bench, false);
  } finally {
    await ctx.close();
    await stopAll();
    await destroyAllStacks(); // the template database (and any stack a bench left)
  }

  const targets = sections.flatMap((s) => s.targets);
  const summary = targets.length
    ? renderTable({
        title: 'Targets',
        headers: ['benchmark', 'target', 'measured', 'met'],
        rows: targets.map((t) => [t.bench, t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO']),
      })
    : '';
  if (summary) console.log(`${summary}\n`);

  const day = started.toISOString().slice(0, 10);
  // A quick run is a smoke test: its figures mean nothing and stay out of bench/results.
  const base = selected.length === ALL.length ? day : `${day}-${selected.map((b) => b.name).join('-')}`;
  // A second run of the day gets its own file (<base>-2.md, …): a committed result is never overwritten.
  const dir = QUICK ? logDir : join(ROOT, 'bench/results');
  let file = join(dir, `${base}.md`);
  for (let n = 2; existsSync(file); n++) file = join(dir, `${base}-${n}.md`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const total = (Date.now() - started.getTime()) / 1000;
  const command = process.argv.slice(2).length
    ? `npm run bench:${selected.map((b) => b.name).join(' ')}`
    : 'npm run bench';
  const doc = [
    `# osm-onboarding benchmarks — ${day}`,
    '',
    `Run ` +
      `\`${command}\` at ${started.toISOString()}, ` +
      `${total.toFixed(0)} s in all. All figures come from this one run on this machine; every process (Postgres, ` +
      `Redis, ` +
      `the emulator, the service, the load generator) shares its ${machine.cores} cores.`,
    '',
    renderMachine(machine),
    '',
    `Settings: ${Object.entries(settings)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
      .join(', ')}`,
    '',
    summary,
    '',
    ...sections.map(renderSection),
    ...(failures.length ? ['## Failures', '', ...failures.map((f) => `\`\`\`\n${f}\n\`\`\``)] : []),
  ].join('\n');
  writeFileSync(file, doc);
  console.log(`results written to ${file} (${total.toFixed(0)} s)`);
  if (failures.length) process.exitCode = 1;
}

main().catch(async (err: unknown) => {
  console.error((err as Error).stack ?? String(err));
  await stopAll().catch(() => undefined);
  await destroyAllStacks().catch(() => undefined);
  process.exit(1);
});
