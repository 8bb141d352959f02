// Helpers for tests that talk to the emulator.

import type { StatusBody } from './errors.js';

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`waitFor timed out after ${timeoutMs}ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The HTTP code and parsed Status of a @kubernetes/client-node ApiException (body is a JSON string). A body that is
 * no JSON (the plain-text `404 page not found` of a path nothing serves) is given as `{ message }`.
 */
export function apiStatus(err: unknown): { code: number; status: StatusBody; headers: Record<string, string> } {
  if (typeof err !== 'object' || err === null || !('code' in err)) throw err;
  const e = err as { code: number; body?: unknown; headers?: Record<string, string> };
  return {
    code: e.code,
    status: typeof e.body === 'string' ? parsed(e.body) : (e.body as StatusBody),
    headers: e.headers ?? {},
  };
}

function parsed(text: string): StatusBody {
  try {
    return JSON.parse(text) as StatusBody;
  } catch {
    return { message: text } as StatusBody;
  }
}

/** Runs `fn`, expects it to reject with an ApiException, and returns its code and Status. */
export async function expectApiError(
  fn: () => Promise<unknown>,
): Promise<{ code: number; status: StatusBody; headers: Record<string, string> }> {
  try {
    await fn();
  } catch (err) {
    return apiStatus(err);
  }
  throw new Error('expected the call to fail');
}
