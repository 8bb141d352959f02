// Tables printed to the terminal (as Markdown, so the same text goes into bench/results/<date>.md),
// percentiles, the machine description, and the target checklist.

import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { settings } from './env.js';

export type Cell = string | number | null | undefined;

export interface Table {
  title?: string;
  headers: string[];
  rows: Cell[][];
}

export interface Target {
  bench: string;
  target: string;
  measured: string;
  met: boolean | null;
  cause?: string;
}

export interface Section {
  name: string;
  title: string;
  intro?: string;
  tables: Table[];
  notes: string[];
  targets: Target[];
  seconds?: number;
  /** The machine's CPU use by other work just before the bench started. */
  background?: { share: number; waitedS: number; load: string };
}

export function fmt(v: Cell, digits = 1): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(a: number, b: number, digits = 2): string {
  if (!b || !Number.isFinite(a / b)) return '—';
  return `${(a / b).toFixed(digits)}×`;
}

export function renderTable(t: Table): string {
  const cells = t.rows.map((r) => r.map((c) => fmt(c)));
  const widths = t.headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = t.headers.map((_, i) =>
    cells.every((r) => /^[-−]?[\d,.]+( ?(ms|s|MB|×|%|\/s))?$|^—$/.test(r[i] ?? '')),
  );
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (numeric[i] ? (c ?? '').padStart(widths[i]) : (c ?? '').padEnd(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [t.title ? `**${t.title}**\n` : '', line(t.headers), sep, ...cells.map(line)].filter(Boolean).join('\n');
}

export function renderSection(s: Section): string {
  const out = [`## ${s.title}`, ''];
  if (s.intro) out.push(s.intro, '');
  for (const t of s.tables) out.push(renderTable(t), '');
  if (s.targets.length) {
    out.push(
      renderTable({
        headers: ['target', 'measured', 'met'],
        rows: s.targets.map((t) => [t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'yes' : 'NO']),
      }),
      '',
    );
  }
  for (const n of s.notes) out.push(`- ${n}`);
  if (s.notes.length) out.push('');
  if (s.seconds !== undefined) {
    const bg = s.background
      ? `; before it started the machine was ${Math.round(100 * s.background.share)}% busy with other work (load ` +
        `average ${s.background.load})`
      : '';
    out.push(`_(${s.name}: ${s.seconds.toFixed(0)} s${bg})_`, '');
  }
  return out.join('\n');
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(values: number[]): {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
} {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.at(-1) ?? NaN,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
  };
}

export interface Machine {
  cpu: string;
  cores: number;
  memGb: number;
  node: string;
  postgres: string;
  redis: string;
  kubectl: string;
  kernel: string;
  /** lib/wakeup-probe.mjs: µs of CPU per idle wake-up, and per small piece of JSON work (undefined: not probed). */
  probe?: { wakeUs: number; pieceUs: number };
}

const PROBE = new URL('./wakeup-probe.mjs', import.meta.url).pathname;

/** The wake-up probe, in a process of its own (~7 s); undefined if it fails. */
function probeMachine(): Machine['probe'] {
  try {
    return JSON.parse(execFileSync(process.execPath, [PROBE], { encoding: 'utf8' })) as Machine['probe'];
  } catch {
    return undefined;
  }
}

/** `probe`: run the wake-up probe (not in a quick run, whose figures mean nothing). */
export async function describeMachine(probe = true): Promise<Machine> {
  const client = new pg.Client({ connectionString: settings.databaseAdminUrl });
  client.on('error', () => undefined);
  await client.connect();
  const setting = async (name: string) =>
    (await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0].v;
  const pgVersion = await setting('server_version');
  const sync = await setting('synchronous_commit');
  const fsync = await setting('fsync');
  const maxConn = await setting('max_connections');
  const sharedBuffers = await setting('shared_buffers');
  await client.end();
  const redis = new Redis(settings.redisUrl, { lazyConnect: true });
  await redis.connect();
  const info = await redis.info('server');
  redis.disconnect();
  let kubectl = 'not found';
  try {
    kubectl =
      /Client Version: (\S+)/.exec(
        execFileSync(settings.kubectl, ['version', '--client'], { encoding: 'utf8' }),
      )?.[1] ?? 'unknown';
  } catch {
    /* not installed */
  }
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim();
  } catch {
    /* ignore */
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres:
      `${pgVersion} (fsync ${fsync}, synchronous_commit ${sync}, shared_buffers ${sharedBuffers}, ` +
      `max_connections ${maxConn})`,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    kubectl,
    kernel,
    probe: probe ? probeMachine() : undefined,
  };
}

export function renderMachine(m: Machine): string {
  return renderTable({
    headers: ['machine', ''],
    rows: [
      ['CPU', `${m.cpu} × ${m.cores} cores`],
      ['memory', `${m.memGb} GiB`],
      ['kernel', m.kernel],
      ['node', m.node],
      ['postgres', m.postgres],
      ['redis', m.redis],
      ['kubectl', m.kubectl],
      [
        'node probe',
        m.probe
          ? `${m.probe.wakeUs.toFixed(0)} µs of CPU per idle wake-up (a 1 ms timer); ` +
            `${m.probe.pieceUs.toFixed(1)} µs per piece of JSON work (bench/lib/wakeup-probe.mjs)`
          : 'not measured',
      ],
    ],
  });
}
