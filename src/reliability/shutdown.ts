import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Counts the HTTP requests in flight, so shutdown can wait for them. Long-lived streams
 * (Server-Sent Events; WebSocket upgrades never reach Express) are not counted: they are
 * cut at the end of the drain and their clients resume elsewhere (Last-Event-ID / `after`).
 * While draining, every response says `Connection: close`, so keep-alive clients reconnect
 * to an instance that is still ready.
 */
export class HttpDrain {
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  draining = false;

  /** Counts one call until its response closes (called first for every call, on both HTTP platforms). */
  track(req: { path: string; headers: IncomingHttpHeaders }, res: ServerResponse): void {
    if (this.draining) res.setHeader('Connection', 'close');
    const stream = req.path.endsWith('/events') || String(req.headers.accept ?? '').includes('text/event-stream');
    if (stream) return;
    this.inFlight += 1;
    let done = false;
    res.once('close', () => {
      if (done) return;
      done = true;
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  get active(): number {
    return this.inFlight;
  }

  /** Resolves when no counted request is in flight, or after `ms`; true when idle. */
  async idle(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((r) => this.waiters.push(() => r(true)));
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms))));
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface ShutdownPlan {
  /** Whole budget (SHUTDOWN_GRACE_MS); past it the process exits 1 and unfinished work resumes elsewhere. */
  graceMs: number;
  /** Readiness has turned false; how long to keep serving while load balancers notice. */
  readinessDelayMs: number;
  log: (message: string) => void;
  /** The ordered work; gets the time left before the hard deadline. */
  run: (deadline: number) => Promise<void>;
  exit?: (code: number) => void;
  signals?: NodeJS.Signals[];
}

/**
 * How long readiness stays false while the instance still serves, before it stops listening:
 * a fifth of the grace, at most 5 s (endpoint controllers and kube-proxy need a few seconds).
 */
export function readinessDelay(graceMs: number): number {
  return Math.min(5000, Math.floor(graceMs / 5));
}

/**
 * SIGTERM/SIGINT → `run` within the grace → exit 0; past the grace (or on error) exit 1;
 * a second signal exits at once.
 */
export function onShutdownSignal(plan: ShutdownPlan): void {
  const exit = plan.exit ?? ((code: number) => process.exit(code));
  let started = false;
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      plan.log(`${signal} again: exiting now`);
      exit(1);
      return;
    }
    started = true;
    const t0 = Date.now();
    const deadline = t0 + plan.graceMs;
    plan.log(`${signal}: draining (grace ${plan.graceMs} ms)`);
    const hard = setTimeout(() => {
      plan.log(`shutdown grace of ${plan.graceMs} ms exceeded; exiting (unfinished requests resume on another worker)`);
      exit(1);
    }, plan.graceMs);
    hard.unref();
    plan.run(deadline).then(
      () => {
        clearTimeout(hard);
        plan.log(`stopped cleanly in ${Date.now() - t0} ms`);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(hard);
        plan.log(`shutdown failed after ${Date.now() - t0} ms: ${(err as Error)?.message ?? err}`);
        exit(1);
      },
    );
  };
  for (const s of plan.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[])) process.on(s, handler);
}

/**
 * The API's drain: readiness false → keep serving `readinessDelayMs` → stop listening and close
 * idle keep-alive sockets → wait for in-flight requests (and the in-process worker, role "all")
 * until 80 % of the grace → cut what is left (SSE) → `close` (Nest hooks: WebSocket server,
 * queues, Redis, Prisma).
 */
export async function drainHttp(opts: {
  server: Server;
  drain: HttpDrain;
  markNotReady: () => void;
  readinessDelayMs: number;
  deadline: number;
  alsoWaitFor?: Promise<unknown>;
  close: () => Promise<void>;
  log: (message: string) => void;
}): Promise<void> {
  const { server, drain } = opts;
  opts.markNotReady();
  drain.draining = true;
  await sleep(opts.readinessDelayMs);
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeIdleConnections();
  const cutAt = opts.deadline - Math.max(500, (opts.deadline - Date.now()) * 0.2);
  const idle = await drain.idle(cutAt - Date.now());
  if (!idle) opts.log(`${drain.active} request(s) still in flight at the drain deadline; closing their connections`);
  await opts.alsoWaitFor;
  server.closeAllConnections();
  await opts.close();
  await Promise.race([closed, sleep(1000)]);
}
