// The request headers a call may send once: the idempotency key and a stream's resume cursor. Node joins a repeated
// header it does not know into one value ("k1, k2"), which would then be read as one key: a call that repeats one is
// refused instead, 422 VALIDATION_FAILED naming it, on both HTTP platforms (src/http/platform.ts), before routing.
import { invalidInputMessage } from './domain-error.js';
import { HTTP_STATUS } from './http-status.js';

const SINGLE = new Map([
  ['idempotency-key', 'Idempotency-Key'],
  ['last-event-id', 'Last-Event-ID'],
]);

export interface HeaderRefusal {
  status: number;
  body: { error: { code: 'VALIDATION_FAILED'; message: string; fields: { field: string; message: string }[] } };
}

/** The answer to a call that sends one of these headers more than once (`rawHeaders`: name, value, …), or undefined. */
export function repeatedHeader(rawHeaders: readonly string[]): HeaderRefusal | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const field = SINGLE.get(name);
    if (!field) continue;
    if (seen.has(name)) {
      const fields = [{ field, message: 'must be sent once' }];
      return {
        status: HTTP_STATUS.VALIDATION_FAILED,
        body: { error: { code: 'VALIDATION_FAILED', message: invalidInputMessage(fields), fields } },
      };
    }
    seen.add(name);
  }
  return undefined;
}
