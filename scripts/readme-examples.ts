// Owns the check that the README can be pasted: extracts README.md's ```sh blocks (except those right after a
// `<!-- readme-examples: skip … -->` comment) and runs them in order, in one bash shell, against a freshly started
// `npm run demo` on free ports with its own database and Redis prefix. Fails on the first block that exits
// non-zero, prints an API error body or a bare `null`, or whose output lacks an expected line: a `# → text`
// comment after a command says what its output contains (`…` matches anything). The demo's own printed admin
// token must be the README's. `npx tsx scripts/readme-examples.ts [--no-build]`; test/integration runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const SKIP = /<!--\s*readme-examples:\s*skip\b/;
/** An API error body, or `jq -r` of a field that is not there. */
const FAILURE_LINES = [/"error"\s*:\s*\{\s*"code"/, /^null$/];

export interface Example {
  /** README.md line of the block's first line. */
  line: number;
  code: string;
  /** The `# → text` lines: text some output line of the block must match (`…` = anything). */
  expect: string[];
}

export interface RunResult {
  /** The shell's exit code (null when killed). */
  code: number | null;
  stderr: string;
  /** The last block the shell started (-1: none). */
  reached: number;
  timedOut: boolean;
  /** Each block's output lines. */
  outputs: string[][];
}

export interface ReadmeRun {
  ok: boolean;
  problem?: string;
  blocks: Example[];
  outputs: string[][];
  demoOutput: string;
  ms: number;
}

/** The README's runnable shell blocks, in order. */
export function extractExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const blocks: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    let previous = i - 1;
    while (previous >= 0 && lines[previous].trim() === '') previous--;
    const skipped = previous >= 0 && SKIP.test(lines[previous]);
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    const body = lines.slice(start, end);
    i = end;
    if (skipped) continue;
    const expect = body.filter((l) => /^\s*# → /.test(l)).map((l) => l.replace(/^\s*# → /, '').trim());
    blocks.push({ line: start + 1, code: body.join('\n'), expect });
  }
  return blocks;
}

/**
 * `# → text`: the text, with `…` matching anything, somewhere in one line of the output, letter case included (a
 * newcomer compares what they see with what the README shows).
 */
export function expectationPattern(text: string): RegExp {
  const parts = text.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(parts.join('.*'));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

interface Demo {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
  output: () => string;
}

function startDemo(env: NodeJS.ProcessEnv, build: boolean): Demo {
  const args = ['scripts/start.mjs', '--demo', ...(build ? [] : ['--no-build'])];
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = new Promise<void>((ok, fail) => {
    const timer = setInterval(() => {
      // The banner's admin token line is written after "ready on", and may come in a later chunk (a full test run
      // on a busy machine read the output in between once): wait for both.
      if (output.includes('demo: ready on') && /admin token:\s+export T='[^']+'/.test(output)) {
        clearInterval(timer);
        ok();
      }
    }, 100);
    void exited.then((code) => {
      clearInterval(timer);
      fail(new Error(`the demo exited with ${code} before it was ready:\n${output.slice(-3000)}`));
    });
  });
  return { child, ready, exited, output: () => output };
}

/** Runs the blocks in one bash, a marker line between them; resolves with the output of each block. */
function runBlocks(
  blocks: Example[],
  { port, env, timeoutMs }: { port: number; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<RunResult> {
  const marker = `__readme_block_${randomBytes(6).toString('hex')}__`;
  const script = ['set -eo pipefail', `export OSM_ONBOARDING_URL=http://127.0.0.1:${port}`];
  blocks.forEach((b, n) => {
    script.push(`echo ${marker}${n}`, b.code.replace(/\b(localhost|127\.0\.0\.1):3000\b/g, `$1:${port}`));
  });
  script.push(`echo ${marker}end`);
  const bash = spawn('bash', ['-c', script.join('\n')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  bash.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  bash.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => bash.kill('SIGKILL'), timeoutMs);
  return new Promise((done) =>
    bash.on('exit', (code, signal) => {
      clearTimeout(timer);
      const outputs: string[][] = [];
      let current = -1;
      let reached = -1;
      for (const line of stdout.split('\n')) {
        const m = line.startsWith(marker) ? line.slice(marker.length) : undefined;
        if (m !== undefined) current = m === 'end' ? -1 : (reached = Number(m));
        else if (current >= 0) (outputs[current] ??= []).push(line);
      }
      const timedOut = signal === 'SIGKILL';
      done({ code, stderr, reached, timedOut, outputs: blocks.map((_, n) => outputs[n] ?? []) });
    }),
  );
}

/**
 * The first problem with a run, or undefined. `result`: the shell's exit `code`, its `stderr`, each block's
 * output lines (`outputs`), the last block it started (`reached`) and whether it was killed (`timedOut`).
 */
export function findProblem(blocks: Example[], result: RunResult): string | undefined {
  const ran = result.reached;
  for (const [n, block] of blocks.entries()) {
    const out = result.outputs[n];
    const where = `README.md line ${block.line}`;
    const bad = out.find((l) => FAILURE_LINES.some((p) => p.test(l.trim())));
    if (bad !== undefined) return `${where}: unexpected output: ${bad}`;
    for (const text of block.expect) {
      if (!out.some((l) => expectationPattern(text).test(l))) {
        return `${where}: expected a line like "${text}" in:\n${out.join('\n')}`;
      }
    }
    if (n === ran && result.code !== 0) break;
  }
  if (result.timedOut) return `timed out (the blocks ran until README.md line ${blocks[ran]?.line})`;
  if (result.code !== 0) {
    const failed = blocks[Math.max(ran, 0)];
    return `README.md line ${failed.line}: the block exited ${result.code}:\n${result.stderr.trim()}`;
  }
  return undefined;
}

async function dropDemoState(databaseUrl: string, redisUrl: string, prefix: string): Promise<void> {
  const { default: pg } = await import('pg');
  const { Redis } = await import('ioredis');
  const admin = new URL(databaseUrl);
  const name = decodeURIComponent(admin.pathname.slice(1));
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  await client.end();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

/**
 * Starts a demo, runs the README's examples against it, stops it and drops its database and keys.
 * Resolves with `{ ok, problem?, blocks, demoOutput, outputs, ms }`.
 */
export async function runReadmeExamples(
  opts: { databaseUrl?: string; redisUrl?: string; build?: boolean; timeoutMs?: number } = {},
): Promise<ReadmeRun> {
  const started = Date.now();
  const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
  const blocks = extractExamples(readme);
  const base = new URL(opts.databaseUrl ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/x');
  const id = randomBytes(4).toString('hex');
  base.pathname = `/osm_onboarding_readme_${id}`;
  const redisUrl = opts.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `readme-examples-${id}`;
  const env = { ...process.env };
  for (const key of ['HOST', 'APPROVAL_POLICY', 'OSM_ONBOARDING_ADMIN_TOKEN', 'NODE_ENV', 'OSM_ONBOARDING_TOKEN']) {
    delete env[key];
  }
  Object.assign(env, { DATABASE_URL: base.toString(), REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' });
  let port: number;
  let demo: Demo | undefined;
  let problem: string | undefined;
  let outputs: string[][] = [];
  try {
    // A port found free can be taken before the demo binds it (beside the rest of `npm test`, by another test's
    // server or an outgoing connection): the demo then exits saying so, and it starts again on other ports.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      Object.assign(env, {
        PORT: String(port),
        EMULATOR_PORT: String(await freePort()),
        DEMO_WEBHOOK_PORT: String(await freePort()),
      });
      demo = startDemo(env, opts.build ?? false);
      try {
        await demo.ready;
        break;
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE|is in use/.test(demo.output())) throw err;
      }
    }
    const printed = /admin token:\s+(export T='[^']+')/.exec(demo.output())?.[1];
    if (!printed || !readme.includes(printed)) {
      problem = `the demo prints ${printed ?? 'no admin token line'}, which the README does not show`;
    } else {
      const timeoutMs = opts.timeoutMs ?? 150_000; // ~25 s alone; slower beside the rest of `npm test`
      const result = await runBlocks(blocks, { port, env, timeoutMs });
      outputs = result.outputs;
      problem = findProblem(blocks, result);
    }
  } catch (err) {
    problem = (err as Error).message;
  } finally {
    if (demo) {
      demo.child.kill('SIGINT');
      await Promise.race([demo.exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
    }
    const demoDb = new URL(base);
    demoDb.pathname = `${base.pathname}_demo`;
    await dropDemoState(demoDb.toString(), redisUrl, prefix).catch((err: Error) => {
      problem ??= `cleanup failed: ${err.message}`;
    });
  }
  return { ok: !problem, problem, blocks, outputs, demoOutput: demo?.output() ?? '', ms: Date.now() - started };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await runReadmeExamples({ build: !process.argv.includes('--no-build') });
  result.blocks.forEach((b, n) => {
    console.log(
      `--- README.md line ${b.line}\n${b.code}\n${(result.outputs[n] ?? []).map((l) => `  | ${l}`).join('\n')}`,
    );
  });
  console.log(
    result.ok
      ? `readme-examples: ${result.blocks.length} blocks ran as written (${result.ms} ms)`
      : `readme-examples: FAILED: ${result.problem}`,
  );
  process.exitCode = result.ok ? 0 : 1;
}
