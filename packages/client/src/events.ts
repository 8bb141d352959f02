// Following a request's progress over Server-Sent Events (GET /v1/onboardings/{id}/events): resumes with
// Last-Event-ID after a dropped connection so no event is lost or repeated, waits out the answers that say "try
// again" (429, 503: after their Retry-After), and knows when a request has ended.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { unwrap, type OsmClient } from './client.js';
import { OsmApiError, OsmConfigError, OsmStreamLostError } from './errors.js';
import type { components } from './generated/openapi.js';

export type ProgressEvent = components['schemas']['ProgressEvent'];
export type OsmRequest = components['schemas']['Request'];
export type RequestStatus = components['schemas']['RequestStatus'];

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(
  [...TERMINAL_STATUSES].map((s) => `request.${s.toLowerCase()}`),
);

/**
 * API answers a follower waits out instead of failing on: 503 (STREAM_CAPACITY_REACHED: this instance holds all the
 * streams it may, another may take it; DEPENDENCY_UNAVAILABLE) and 429 (RATE_LIMITED; TOO_MANY_STREAMS, until one of
 * the caller's other streams ends). Any other answer (400, 401, 403, 404, 409, 422, …) ends the follow at once.
 */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

export interface FollowOptions {
  /** Resume after this cursor (0 = from the start: the stored events are replayed first). */
  after?: number;
  signal?: AbortSignal;
  /**
   * Consecutive failed (re)connections before giving up: with OsmStreamLostError, or with the last answer's
   * OsmApiError when that was a 429 or 503. Default 8.
   */
  maxRetries?: number;
  /**
   * First reconnection delay; doubles up to 5 s (the server's `retry:` field wins). Default 500 ms. After a 429 or
   * 503 with Retry-After, that long instead, at most `maxRetryAfterMs`.
   */
  retryMs?: number;
  /** The longest Retry-After waited before trying again (`signal` ends a wait sooner). Default 60 000 ms. */
  maxRetryAfterMs?: number;
  /** Told about each reconnection (for a "reconnecting…" note). */
  onReconnect?: (attempt: number, lastCursor: number, reason: string) => void;
  /**
   * Whether the request has ended with nothing after `cursor`. Asked on a final event (a retried request has an
   * earlier one) and when a stream ends without one. Default: `requestHasEnded` (one GET of the request).
   * `false` here means: the first final event ends the follow.
   */
  isFinal?: ((cursor: number) => Promise<boolean>) | false;
}

/** Whether the request's status is final and its last event is at most `cursor`. */
export async function requestHasEnded(client: OsmClient, requestId: string, cursor: number): Promise<boolean> {
  const r = await getRequest(client, requestId);
  return TERMINAL_STATUSES.has(r.status) && r.lastEventCursor <= cursor;
}

export function getRequest(client: OsmClient, id: string, signal?: AbortSignal): Promise<OsmRequest> {
  return unwrap(client.api.GET('/v1/onboardings/{id}', { params: { path: { id } }, signal }));
}

/**
 * Follows a request's events until its final event. A dropped connection is resumed with
 * `Last-Event-ID: <last cursor>`; a 429 or 503 is tried again after its Retry-After (counted as a reconnection);
 * any other answer of the API (404, 401, …) ends the follow with an OsmApiError; an abort of `signal` ends it quietly.
 */
export async function* followEvents(
  client: OsmClient,
  requestId: string,
  opts: FollowOptions = {},
): AsyncGenerator<ProgressEvent> {
  const isFinal =
    opts.isFinal === false ? undefined : (opts.isFinal ?? ((c: number) => requestHasEnded(client, requestId, c)));
  let last = opts.after ?? 0;
  let failures = 0;
  let retryMs = opts.retryMs ?? 500;
  const maxRetries = opts.maxRetries ?? 8;
  const maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
  for (;;) {
    let reason = 'the stream ended';
    let refused: OsmApiError | undefined;
    let more = false;
    try {
      const stream = await openStream(client, requestId, last, opts.signal);
      for await (const msg of messages(stream, opts.signal, (ms) => (retryMs = ms))) {
        if (!msg.data) continue;
        const event = JSON.parse(msg.data) as ProgressEvent;
        if (typeof event.cursor !== 'number' || event.cursor <= last) continue;
        last = event.cursor;
        failures = 0;
        yield event;
        if (TERMINAL_EVENTS.has(event.type)) {
          if (!isFinal || (await isFinal(last))) return;
          more = true; // an earlier attempt's end: the server closes here, the next attempt follows
          break;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      refused = retryable(err);
      reason = err instanceof Error ? err.message : String(err);
    }
    if (opts.signal?.aborted) return;
    if (more) continue;
    // The server ends the stream when the request has ended; a resumed stream of an ended request may have
    // nothing left to send. A refused stream says nothing about that.
    if (!refused) {
      try {
        if (isFinal && (await isFinal(last))) return;
      } catch (err) {
        refused = retryable(err);
        reason = err instanceof Error ? err.message : String(err);
      }
    }
    failures += 1;
    if (failures > maxRetries) {
      if (refused) throw refused;
      throw new OsmStreamLostError(
        `lost the event stream of ${requestId} after ${maxRetries} reconnections: ${reason}`,
      );
    }
    opts.onReconnect?.(failures, last, reason);
    const backoff = Math.min(retryMs * 2 ** (failures - 1), 5_000);
    const retryAfter = refused?.retryAfterSeconds;
    await sleep(retryAfter === undefined ? backoff : Math.min(retryAfter * 1000, maxRetryAfterMs), opts.signal);
  }
}

/**
 * An API answer that says "try again" (429, 503), returned; any other one thrown, and so is a bad token
 * (OsmConfigError: no retry mends it); anything else: undefined.
 */
function retryable(err: unknown): OsmApiError | undefined {
  if (err instanceof OsmConfigError) throw err;
  if (!(err instanceof OsmApiError)) return undefined;
  if (!RETRYABLE_STATUSES.has(err.status)) throw err;
  return err;
}

async function openStream(
  client: OsmClient,
  id: string,
  after: number,
  signal: AbortSignal | undefined,
): Promise<ReadableStream<Uint8Array>> {
  const stream = await unwrap(
    client.api.GET('/v1/onboardings/{id}/events', {
      params: { path: { id } },
      headers: { accept: 'text/event-stream', 'last-event-id': String(after) },
      parseAs: 'stream',
      signal,
    }),
  );
  if (!stream) throw new Error('the event stream has no body');
  return stream;
}

async function* messages(
  stream: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
  onRetry: (ms: number) => void,
): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (m) => queue.push(m), onRetry });
  const decoder = new TextDecoder();
  const reader = stream.getReader();
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

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
