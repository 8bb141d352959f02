import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { guardedLookup, TARGET_REFUSED } from './webhook-target.js';

/** What a delivery shows for any network failure: whether a name exists is not told apart from a closed port. */
export const CONNECT_FAILED = 'could not connect to the target';

export interface PostOutcome {
  /** HTTP status, when the receiver answered. */
  status?: number;
  /**
   * What the webhook's owner may see: timeout, CONNECT_FAILED, a refused target, or `HTTP <status>` for a non-2xx
   * answer. Never a resolved address, a DNS error or any part of the answer's body (the target may be a service
   * the owner could not read otherwise).
   */
  error?: string;
  /** The target resolved to an address webhooks may not reach: another attempt cannot succeed. */
  refused?: boolean;
  /** The network error as Node reported it, for the service's log only. */
  detail?: string;
  durationMs: number;
}

/**
 * One POST, no redirects followed (a 3xx is a failure), bounded by `timeoutMs`; only the answer's status is kept,
 * its body is read and discarded.
 */
export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  limits: { timeoutMs: number; allowPrivate: boolean },
): Promise<PostOutcome> {
  const { timeoutMs, allowPrivate } = limits;
  const started = performance.now();
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Omit<PostOutcome, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...o, durationMs: Math.round(performance.now() - started) });
    };
    const req = request(
      u,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body).toString(),
          'user-agent': 'osm-onboarding-webhooks/1',
        },
        signal: AbortSignal.timeout(timeoutMs),
        ...(allowPrivate ? {} : { lookup: guardedLookup }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const outcome = { status, error: status >= 200 && status < 300 ? undefined : `HTTP ${status}` };
        res.on('end', () => done(outcome));
        res.on('error', () => done(outcome)); // the body was cut short: it is not kept anyway
        res.resume();
      },
    );
    req.on('error', (err: NodeJS.ErrnoException & { detail?: string }) => {
      const timeout = err.name === 'AbortError' || err.name === 'TimeoutError';
      const detail = (err.detail ?? `${err.code ?? 'network error'}: ${err.message}`).slice(0, 512);
      if (timeout) done({ error: `timed out after ${timeoutMs} ms` });
      else if (err.code === TARGET_REFUSED) done({ error: `refused: ${err.message}`, refused: true, detail });
      else done({ error: CONNECT_FAILED, detail });
    });
    req.end(body);
  });
}
