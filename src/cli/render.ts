// Everything the CLI prints for people: the live progress view (a terminal), plain lines
// (a pipe), tables and request details. --json output bypasses this module. Colours come from
// node:util styleText; whether to colour at all is the caller's choice (a terminal, no NO_COLOR, no --no-color).
// (~420 lines: every human-facing format of the CLI in one place, so the live view, plain lines and details agree.)
import { styleText } from 'node:util';
import { TERMINAL_STATUSES as TERMINAL, type OsmRequest, type ProgressEvent } from '@osm-onboarding/client';

export interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface Style {
  green(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

type Format = Parameters<typeof styleText>[0];
// The decision to colour is made once by `style(color)`; styleText must not second-guess it from process.stdout.
const paint = (format: Format) => (s: string) => styleText(format, s, { validateStream: false });

export function style(color: boolean): Style {
  if (!color) {
    const id = (s: string) => s;
    return { green: id, red: id, yellow: id, cyan: id, dim: id, bold: id };
  }
  return {
    green: paint('green'),
    red: paint('red'),
    yellow: paint('yellow'),
    cyan: paint('cyan'),
    dim: paint('dim'),
    bold: paint('bold'),
  };
}

// Terminal control sequences of the live view (cursor, not style: styleText has none of these).
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
/** Up `n` lines to their start, then erase to the end of the screen. */
const rewind = (n: number) => `\x1b[${n}F\x1b[J`;

// ---------------------------------------------------------------------------------------------
// The state of one followed request, built from the request and then its events.

export type StepState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

export interface Track {
  id: string;
  kind: string;
  cluster: string;
  namespace: string;
  status: string;
  note: string;
  steps: { name: string; state: StepState; note: string; warn?: boolean }[];
  errorCode: string | null;
  startedAt: number;
  finishedAt?: number;
}

export interface RequestLike {
  id: string;
  kind: string;
  cluster: string;
  namespace: string;
  status: string;
  errorCode: string | null;
  errorMessage: string | null;
  approvalsRequired?: number;
  approvals?: { decision: string }[];
  steps: {
    name: string;
    status: string;
    result: string | null;
    errorCode: string | null;
    errorMessage: string | null;
    output?: unknown;
  }[];
}

const STEP_STATES: Record<string, StepState> = {
  PENDING: 'pending',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  SKIPPED: 'skipped',
  CANCELLED: 'cancelled',
};

export function trackOf(r: RequestLike): Track {
  const t: Track = {
    id: r.id,
    kind: r.kind,
    cluster: r.cluster,
    namespace: r.namespace,
    status: r.status,
    note: '',
    steps: [],
    errorCode: r.errorCode,
    startedAt: Date.now(),
  };
  syncTrack(t, r);
  return t;
}

/** Takes the authoritative state of a request (e.g. at the end). */
export function syncTrack(t: Track, r: RequestLike): void {
  t.status = r.status;
  if (TERMINAL.has(r.status)) t.finishedAt ??= Date.now();
  t.errorCode = r.errorCode;
  t.steps = r.steps.map((s) => ({
    name: s.name,
    state: STEP_STATES[s.status] ?? 'pending',
    note:
      s.status === 'FAILED'
        ? `${s.errorCode ?? 'FAILED'}: ${s.errorMessage ?? ''}`
        : s.result
          ? s.result.toLowerCase()
          : '',
  }));
  if (r.status === 'PENDING_APPROVAL') {
    const got = r.approvals?.filter((a) => a.decision === 'approve').length ?? 0;
    t.note = `waiting for approval (${got}/${r.approvalsRequired ?? 1})`;
  } else if (r.errorCode && r.status !== 'SUCCEEDED') t.note = `${r.errorCode}: ${r.errorMessage ?? ''}`;
  else if (r.status === 'SUCCEEDED') t.note = '';
}

export function applyEvent(t: Track, e: ProgressEvent): void {
  const step = e.step ? t.steps.find((s) => s.name === e.step) : undefined;
  const data = e.data ?? {};
  switch (e.type) {
    case 'request.started':
    case 'request.resumed':
      t.status = 'RUNNING';
      t.note = '';
      return;
    case 'request.queued':
    case 'request.approved':
      t.status = 'QUEUED';
      t.note = e.message;
      return;
    case 'request.retried':
      t.status = 'QUEUED';
      t.errorCode = null;
      t.note = e.message;
      for (const s of t.steps)
        if (s.state === 'failed' || s.state === 'cancelled' || s.state === 'running')
          Object.assign(s, { state: 'pending', note: '', warn: false });
      return;
    case 'request.pending-approval':
    case 'request.held':
      t.status = 'PENDING_APPROVAL';
      t.note = e.message;
      return;
    case 'approval.recorded':
    case 'request.cancel-requested':
      t.note = e.message;
      return;
    case 'step.started':
      if (step) Object.assign(step, { state: 'running', note: '', warn: false });
      return;
    case 'step.applying':
    case 'step.drifted':
      if (step) Object.assign(step, { state: 'running', note: e.message, warn: e.type === 'step.drifted' });
      return;
    case 'step.retrying':
      if (step) Object.assign(step, { state: 'running', note: e.message, warn: true });
      return;
    case 'step.succeeded':
      if (step)
        Object.assign(step, {
          state: 'succeeded',
          note: typeof data.result === 'string' ? data.result.toLowerCase() : '',
          warn: false,
        });
      return;
    case 'step.failed':
      if (step) Object.assign(step, { state: 'failed', note: e.message, warn: false });
      return;
  }
  if (e.type.startsWith('request.') && typeof data.status === 'string') {
    t.status = data.status;
    if (TERMINAL.has(data.status)) t.finishedAt ??= Date.now();
    t.errorCode = typeof data.code === 'string' ? data.code : t.errorCode;
    t.note = data.status === 'SUCCEEDED' ? '' : e.message;
    if (data.status === 'CANCELLED' || data.status === 'REJECTED')
      for (const s of t.steps) if (s.state === 'pending') s.state = 'cancelled';
  }
}

// ---------------------------------------------------------------------------------------------
// Terminal: a step list per request with spinners, redrawn in place.

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function statusText(st: Style, status: string): string {
  if (status === 'SUCCEEDED') return st.green(status);
  if (status === 'FAILED' || status === 'REJECTED') return st.red(status);
  if (status === 'CANCELLED' || status === 'PENDING_APPROVAL') return st.yellow(status);
  return st.cyan(status);
}

function fit(s: string, width: number): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > width ? flat.slice(0, Math.max(0, width - 1)) + '…' : flat;
}

/** How to draw: the spinner frame, the styles, the terminal width, and whether one line per request only. */
export interface Frame {
  frame: number;
  st: Style;
  width: number;
  compact: boolean;
}

export function renderTracks(tracks: Track[], { frame, st, width, compact }: Frame): string[] {
  const lines: string[] = [];
  for (const t of tracks) {
    const spin = SPINNER[frame % SPINNER.length];
    const done = t.steps.filter((s) => s.state === 'succeeded' || s.state === 'skipped').length;
    const icon =
      t.status === 'SUCCEEDED'
        ? st.green('✔')
        : t.status === 'FAILED' || t.status === 'REJECTED'
          ? st.red('✖')
          : t.status === 'CANCELLED'
            ? st.yellow('■')
            : st.cyan(spin);
    const head = `${t.kind === 'OFFBOARD' ? 'offboard' : 'onboard'} ${t.cluster}/${t.namespace}`;
    const tail = compact
      ? ` ${done}/${t.steps.length} steps${t.note ? ` · ${t.note}` : ''}`
      : t.note
        ? ` · ${t.note}`
        : '';
    const elapsed = `${Math.round(((t.finishedAt ?? Date.now()) - t.startedAt) / 1000)}s`;
    const detail = fit(
      `${elapsed} ${t.id.slice(0, 8)}${tail}`,
      Math.max(10, width - head.length - t.status.length - 4),
    );
    lines.push(`${icon} ${st.bold(head)} ${statusText(st, t.status)} ${st.dim(detail)}`);
    if (compact) continue;
    for (const s of t.steps) {
      const mark =
        s.state === 'succeeded'
          ? st.green('✓')
          : s.state === 'failed'
            ? st.red('✗')
            : s.state === 'running'
              ? s.warn
                ? st.yellow(spin)
                : st.cyan(spin)
              : s.state === 'skipped'
                ? st.dim('↷')
                : s.state === 'cancelled'
                  ? st.dim('■')
                  : st.dim('·');
      const note = s.note ? fit(s.note, Math.max(10, width - s.name.length - 8)) : '';
      const name = s.state === 'pending' || s.state === 'cancelled' ? st.dim(s.name) : s.name;
      const painted = s.state === 'failed' ? st.red(note) : s.warn ? st.yellow(note) : st.dim(note);
      lines.push(`  ${mark} ${name}${note ? ` ${painted}` : ''}`);
    }
  }
  return lines;
}

/** Redraws the tracks in place on a terminal until stopped. */
export class LiveView {
  private drawn = 0;
  private frame = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly out: Out,
    private readonly tracks: Track[],
    private readonly st: Style,
  ) {}

  start(): void {
    this.out.write(HIDE_CURSOR);
    this.draw();
    this.timer = setInterval(() => this.draw(), 100);
  }

  /** Prints a line above the live area (a reconnection note, …). */
  note(line: string): void {
    this.clear();
    this.out.write(line + '\n');
    this.draw();
  }

  draw(): void {
    const width = Math.max(40, (this.out.columns || 100) - 1);
    const full = this.tracks.reduce((n, t) => n + 1 + t.steps.length, 0);
    const compact = full > Math.max(5, (this.out.rows || 40) - 2);
    const lines = renderTracks(this.tracks, { frame: this.frame++, st: this.st, width, compact });
    this.clear();
    this.out.write(lines.map((l) => l + '\n').join(''));
    this.drawn = lines.length;
  }

  private clear(): void {
    if (this.drawn) this.out.write(rewind(this.drawn));
    this.drawn = 0;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
    this.out.write(SHOW_CURSOR);
  }
}

// ---------------------------------------------------------------------------------------------
// Pipes and logs: one line per event.

export function eventLine(t: Pick<Track, 'cluster' | 'namespace'>, e: ProgressEvent): string {
  return `${e.at} ${t.cluster}/${t.namespace} ${e.type}${e.step ? ` ${e.step}` : ''}: ${e.message.replace(/\s+/g, ' ')}`;
}

// ---------------------------------------------------------------------------------------------
// Tables and details.

export function table(rows: string[][], st: Style): string {
  if (!rows.length) return '';
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r, n) => {
        const line = r
          .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i])))
          .join('  ')
          .trimEnd();
        return n === 0 ? st.bold(line) : line;
      })
      .join('\n') + '\n'
  );
}

export function requestDetails(r: OsmRequest, st: Style): string {
  const lines = [
    `${st.bold('request')}   ${r.id}`,
    `${st.bold('kind')}      ${r.kind}`,
    `${st.bold('target')}    ${r.cluster}/${r.namespace} (mesh ${r.meshName})`,
    `${st.bold('status')}    ${statusText(st, r.status)}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}`,
    `${st.bold('by')}        ${r.requestedBy} at ${r.createdAt}`,
  ];
  if (r.approvalsRequired) {
    const got = (r.approvals ?? [])
      .map((a) => `${a.decision} by ${a.approver}${a.reason ? ` (${a.reason})` : ''}`)
      .join(', ');
    const rule = r.approvalRule ? ` [rule ${r.approvalRule}]` : '';
    lines.push(`${st.bold('approval')}  ${r.approvalsRequired} needed${got ? `: ${got}` : ''}${rule}`);
  }
  if (r.finishedAt) lines.push(`${st.bold('finished')}  ${r.finishedAt}`);
  if (r.errorCode) lines.push(`${st.bold('error')}     ${st.red(`${r.errorCode}: ${r.errorMessage ?? ''}`)}`);
  lines.push(st.bold('steps'));
  for (const s of r.steps) {
    const mark =
      s.status === 'SUCCEEDED'
        ? st.green('✓')
        : s.status === 'FAILED'
          ? st.red('✗')
          : s.status === 'RUNNING'
            ? st.cyan('▸')
            : st.dim('·');
    const detail =
      s.status === 'FAILED'
        ? st.red(`${s.errorCode}: ${s.errorMessage ?? ''}`)
        : st.dim([s.status.toLowerCase(), s.result?.toLowerCase()].filter(Boolean).join(', '));
    lines.push(`  ${mark} ${s.name.padEnd(26)} ${detail}`);
    const hint = (s.output as { hint?: string } | null)?.hint;
    if (s.status === 'FAILED' && hint) lines.push(`      ${st.dim(`hint: ${hint}`)}`);
  }
  return lines.join('\n') + '\n';
}

export interface PlanLike {
  kind: string;
  cluster: string;
  namespace: string;
  meshName: string;
  blocked: boolean;
  steps: {
    name: string;
    title: string;
    summary: string;
    changes: { action: string; target: { kind: string; namespace?: string; name: string }; patchType?: string }[];
    diagnostics: { code: string; level: string; message: string; hint?: string; accepted?: boolean }[];
    error: { code: string; message: string; hint?: string } | null;
  }[];
}

export function planDetails(p: PlanLike, st: Style): string {
  const lines = [
    st.bold(`plan: ${p.kind === 'OFFBOARD' ? 'offboard' : 'onboard'} ${p.cluster}/${p.namespace} (mesh ${p.meshName})`),
  ];
  for (const s of p.steps) {
    const mark = s.error ? st.red('✗') : s.changes.length ? st.yellow('~') : st.green('=');
    lines.push(`${mark} ${st.bold(s.name)}: ${s.error ? st.red(`${s.error.code}: ${s.error.message}`) : s.summary}`);
    if (s.error?.hint) lines.push(`    ${st.dim(`hint: ${s.error.hint}`)}`);
    for (const c of s.changes) {
      const where = c.target.namespace ? `${c.target.namespace}/` : '';
      lines.push(`    ${c.action} ${c.target.kind} ${where}${c.target.name}${c.patchType ? ` (${c.patchType})` : ''}`);
    }
    for (const d of s.diagnostics) {
      const level =
        d.level === 'error'
          ? d.accepted
            ? st.yellow('error (accepted)')
            : st.red('error')
          : d.level === 'warning'
            ? st.yellow('warning')
            : st.dim('info');
      lines.push(`    ${level} ${d.code}: ${d.message}${d.hint ? st.dim(` (${d.hint})`) : ''}`);
    }
  }
  const writes = p.steps.reduce((n, s) => n + s.changes.length, 0);
  lines.push(
    p.blocked
      ? st.red('blocked: a step would refuse; applying now would fail')
      : `${writes} write${writes === 1 ? '' : 's'} planned`,
  );
  return lines.join('\n') + '\n';
}
