// Waiting for a request to end: its events followed (with resume) under a deadline, then its final state read.
import { OsmTimeoutError } from './errors.js';
import { followEvents, getRequest, TERMINAL_STATUSES, type OsmRequest, type ProgressEvent } from './events.js';
import type { OsmClient } from './client.js';

export interface WaitOptions {
  /** Give up after this long (OsmTimeoutError; the request goes on). Default: no deadline. */
  timeoutMs?: number;
  /** Told about every event on the way (a log, a progress bar). */
  onEvent?: (event: ProgressEvent) => void | Promise<void>;
  /** Resume after this cursor; default 0 (every stored event is replayed). */
  after?: number;
  signal?: AbortSignal;
  onReconnect?: (attempt: number, lastCursor: number, reason: string) => void;
}

/** Resolves to the request once it is SUCCEEDED, FAILED, CANCELLED or REJECTED. */
export async function waitForEnd(client: OsmClient, requestId: string, opts: WaitOptions = {}): Promise<OsmRequest> {
  const deadline = opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined;
  const signal = deadline && opts.signal ? AbortSignal.any([deadline, opts.signal]) : (deadline ?? opts.signal);
  for await (const event of followEvents(client, requestId, {
    after: opts.after,
    signal,
    onReconnect: opts.onReconnect,
  })) {
    await opts.onEvent?.(event);
  }
  const request = await getRequest(client, requestId, opts.signal);
  if (!TERMINAL_STATUSES.has(request.status) && deadline?.aborted)
    throw new OsmTimeoutError(
      `${requestId} is still ${request.status} after ${opts.timeoutMs} ms (it goes on)`,
      request,
    );
  return request;
}
