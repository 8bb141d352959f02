// An open-loop load generator: requests start at evenly spaced instants (rate/s), whatever the answers do, over
// a pool of keep-alive connections that grows when every connection is busy. Latency is measured from the
// instant a request was due, not from when a socket was free, so a server that falls behind pays for the
// queue it builds (no coordinated omission). autocannon's `overallRate` instead sends each connection's
// share of a tick back to back, which measures the time to drain a burst.

import { Agent, request } from 'node:http';
import { summarize } from './report.js';

export interface OpenLoopOptions {
  url: string;
  path: string;
  rate: number;
  seconds: number;
  headers: Record<string, string>;
  /** The body of the i-th request. */
  body: (i: number) => string;
  /** Whether an answer counts as accepted. */
  accepted: (status: number, body: string) => boolean;
}

export interface OpenLoopResult {
  sent: number;
  accepted: number;
  rejected: number;
  errors: number;
  seconds: number;
  acceptedPerS: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** The largest number of requests in flight at once. */
  maxInFlight: number;
  /** How late the generator itself started requests (its own scheduling lag), p99 ms. */
  lagP99: number;
  firstError?: string;
}

/** One request's outcome: accepted, or refused with the reason (`error`: it failed before any answer). */
export interface Outcome {
  accepted: boolean;
  error?: string;
  refusal?: string;
}

/** The HTTP open loop: POSTs `opts.body(i)` to `opts.path`. */
export async function openLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1000 });
  const target = new URL(opts.path, opts.url);
  const send = (i: number) =>
    new Promise<Outcome>((resolve) => {
      const payload = opts.body(i);
      const req = request(
        target,
        {
          method: 'POST',
          agent,
          headers: { ...opts.headers, 'content-length': Buffer.byteLength(payload) },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (opts.accepted(res.statusCode ?? 0, text)) resolve({ accepted: true });
            else resolve({ accepted: false, refusal: `HTTP ${res.statusCode} ${text.slice(0, 200)}` });
          });
        },
      );
      req.on('error', (err) => resolve({ accepted: false, error: err.message }));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(payload);
    });
  try {
    return await openLoopOf(opts.rate, opts.seconds, send);
  } finally {
    agent.destroy();
  }
}

/**
 * The open loop over any kind of request: `send(i)` starts the i-th at its due instant, whatever the earlier ones
 * are doing, and its latency counts from that instant.
 */
export async function openLoopOf(
  rate: number,
  seconds: number,
  send: (i: number) => Promise<Outcome>,
): Promise<OpenLoopResult> {
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const lags: number[] = [];
  let accepted = 0;
  let rejected = 0;
  let errors = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let firstError: string | undefined;
  const pending: Promise<void>[] = [];

  const fire = async (i: number, due: number) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const outcome = await send(i);
    inFlight--;
    if (outcome.error !== undefined) {
      errors++;
      firstError ??= outcome.error;
      return;
    }
    latencies.push(performance.now() - due);
    if (outcome.accepted) accepted++;
    else {
      rejected++;
      firstError ??= outcome.refusal;
    }
  };

  const t0 = performance.now();
  let i = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      // Start every request that is due (a late timer starts the overdue ones at once, still timed from `due`).
      while (i < total && t0 + i * interval <= now) {
        const due = t0 + i * interval;
        lags.push(now - due);
        pending.push(fire(i, due));
        i++;
      }
      if (i >= total) return done();
      setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(pending);
  const elapsed = (performance.now() - t0) / 1000;
  const s = summarize(latencies);
  return {
    sent: total,
    accepted,
    rejected,
    errors,
    seconds: elapsed,
    acceptedPerS: accepted / seconds,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
    max: s.max,
    maxInFlight,
    lagP99: summarize(lags).p99,
    firstError,
  };
}
