import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ApiClient, ApiError, CliError, EXIT } from './client.js';

/** One event of `GET /v1/onboardings/:id/events` (the `data:` JSON): the server's own shape. */
export type { ProgressEvent } from '../events/progress-event.js';
import type { ProgressEvent } from '../events/progress-event.js';

export const TERMINAL_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);
export const TERMINAL_EVENTS = new Set([...TERMINAL_STATUSES].map((s) => `request.${s.toLowerCase()}`));

export interface FollowOptions {
  /** Resume after this cursor (0 = from the start: the stored events are replayed first). */
  after?: number;
  signal?: AbortSignal;
  /** Consecutive failed (re)connections before giving up with UNREACHABLE. */
  maxRetries?: number;
  /** First reconnection delay; doubles up to 5 s (the server's `retry:` field wins). */
  retryMs?: number;
  /** Told about each reconnection (for a "reconnecting…" note). */
  onReconnect?: (attempt: number, lastCursor: number, reason: string) => void;
  /**
   * Whether the request has ended with nothing after `cursor` (its status is final and its
   * last event is at most `cursor`). Asked on a final event (a retried request has an earlier
   * one) and when a stream ends without one. Without it, the first final event ends the follow.
   */
  isFinal?: (cursor: number) => Promise<boolean>;
}

/**
 * Follows a request's Server-Sent Events until its final event. On a dropped connection it
 * reconnects with `Last-Event-ID: <last cursor>`, so no event is lost or repeated; answers
 * of the API (404, 401, …) end the follow with that error.
 */
export async function* followEvents(
  client: ApiClient,
  requestId: string,
  opts: FollowOptions = {},
): AsyncGenerator<ProgressEvent> {
  let last = opts.after ?? 0;
  let failures = 0;
  let retryMs = opts.retryMs ?? 500;
  const maxRetries = opts.maxRetries ?? 8;
  for (;;) {
    let reason = 'the stream ended';
    let more = false;
    try {
      const res = await client.stream(
        `/v1/onboardings/${encodeURIComponent(requestId)}/events`,
        { 'last-event-id': String(last) },
        opts.signal,
      );
      for await (const msg of messages(res, opts.signal, (ms) => (retryMs = ms))) {
        if (!msg.data) continue;
        const event = JSON.parse(msg.data) as ProgressEvent;
        if (typeof event.cursor !== 'number' || event.cursor <= last) continue;
        last = event.cursor;
        failures = 0;
        yield event;
        if (TERMINAL_EVENTS.has(event.type)) {
          if (!opts.isFinal || (await opts.isFinal(last))) return;
          more = true; // an earlier attempt's end: the server closes here, the next attempt follows
          break;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      if (err instanceof ApiError) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
    if (opts.signal?.aborted) return;
    if (more) continue;
    // The server ends the stream when the request has ended; a resumed stream of an ended
    // request may have nothing left to send.
    if (opts.isFinal && (await opts.isFinal(last))) return;
    failures += 1;
    if (failures > maxRetries)
      throw new CliError(
        `lost the event stream of ${requestId} after ${maxRetries} reconnections: ${reason}`,
        EXIT.UNREACHABLE,
      );
    opts.onReconnect?.(failures, last, reason);
    await sleep(Math.min(retryMs * 2 ** (failures - 1), 5_000), opts.signal);
  }
}

async function* messages(
  res: Response,
  signal: AbortSignal | undefined,
  onRetry: (ms: number) => void,
): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => queue.push(m), onRetry });
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      while (queue.length) yield queue.shift()!;
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    cancel();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
