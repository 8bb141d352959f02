// Verifying a webhook delivery of osm-onboarding (src/webhooks/ in the service signs it): the service sends
// `x-osm-onboarding-timestamp: <unix seconds>` and `x-osm-onboarding-signature: sha256=<hex HMAC-SHA256(secret,
// "<timestamp>.<raw body>")>`. A receiver recomputes it over the RAW body, compares in constant time and refuses an
// old timestamp (a replayed delivery).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-osm-onboarding-signature';
export const TIMESTAMP_HEADER = 'x-osm-onboarding-timestamp';

export interface WebhookVerifyOptions {
  /** The subscription's signing secret (`whsec_…`, shown once when the webhook was created). */
  secret: string;
  /** The raw request body, exactly as received (not re-serialised JSON). */
  body: string | Uint8Array;
  /** Header values; a Node `IncomingMessage.headers` or a fetch `Headers` both fit. */
  headers: Headers | Record<string, string | string[] | undefined>;
  /** How far the timestamp may be from now, in seconds; default 300. */
  toleranceSeconds?: number;
  /** The current time in ms (tests); default Date.now(). */
  now?: number;
}

export type WebhookVerification =
  { valid: true; timestamp: number } | { valid: false; reason: 'missing-headers' | 'malformed' | 'stale' | 'mismatch' };

export function verifyWebhookSignature(opts: WebhookVerifyOptions): WebhookVerification {
  const signature = header(opts.headers, SIGNATURE_HEADER);
  const timestamp = header(opts.headers, TIMESTAMP_HEADER);
  if (!signature || !timestamp) return { valid: false, reason: 'missing-headers' };
  const match = /^sha256=([0-9a-f]{64})$/.exec(signature);
  if (!match || !/^\d{1,12}$/.test(timestamp)) return { valid: false, reason: 'malformed' };
  const seconds = Number(timestamp);
  const now = (opts.now ?? Date.now()) / 1000;
  if (Math.abs(now - seconds) > (opts.toleranceSeconds ?? 300)) return { valid: false, reason: 'stale' };
  const body = typeof opts.body === 'string' ? Buffer.from(opts.body, 'utf8') : Buffer.from(opts.body);
  const expected = createHmac('sha256', opts.secret).update(`${timestamp}.`).update(body).digest();
  const given = Buffer.from(match[1], 'hex');
  if (!timingSafeEqual(expected, given)) return { valid: false, reason: 'mismatch' };
  return { valid: true, timestamp: seconds };
}

function header(headers: WebhookVerifyOptions['headers'], name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
