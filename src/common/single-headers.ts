// The request headers a call may send once: the idempotency key and a stream's resume cursor, the credentials and
// the body's type. Node joins a repeated header it does not know into one value ("k1, k2"), which would then be read
// as one key, and keeps only the first of a repeated Authorization or Content-Type, where a proxy in front may read
// the last (RFC 9110 §5.3: a header that is not a list is sent once), so two parties would see two callers or two
// body types. A call that repeats one is refused instead, 422 VALIDATION_FAILED naming it, on both HTTP platforms
// (src/http/platform.ts), before routing and before authentication.
import { invalidInputMessage } from './domain-error.js';
import { HTTP_STATUS } from './http-status.js';

const SINGLE = new Map([
  ['idempotency-key', 'Idempotency-Key'],
  ['last-event-id', 'Last-Event-ID'],
  ['authorization', 'Authorization'],
  ['content-type', 'Content-Type'],
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
