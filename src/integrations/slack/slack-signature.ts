// Owns Slack's request signing as Slack documents it ("Verifying requests from Slack"):
// X-Slack-Signature = "v0=" + hex HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body),
// the timestamp within five minutes of now, compared in constant time. Replays inside the window
// are the caller's to refuse (slack-interactions.service.ts remembers signatures in Redis).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DomainError } from '../../common/domain-error.js';

/** How far a request's timestamp may be from now, either way. */
export const SLACK_TOLERANCE_SECONDS = 300;

export function slackSignature(secret: string, timestamp: string, raw: Buffer): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(raw).digest('hex')}`;
}

export interface SignedHeaders {
  timestamp?: string;
  signature?: string;
}

/** Refuses (coded 401) a request without both headers or with a timestamp out of the window. */
export function checkSlackHeaders(h: SignedHeaders, nowSeconds: number): { timestamp: string; signature: string } {
  if (!h.timestamp || !h.signature) {
    throw new DomainError('SLACK_SIGNATURE_MISSING', 'X-Slack-Signature and X-Slack-Request-Timestamp are required');
  }
  if (!/^\d{1,12}$/.test(h.timestamp) || Math.abs(nowSeconds - Number(h.timestamp)) > SLACK_TOLERANCE_SECONDS) {
    const message = `X-Slack-Request-Timestamp is not within ${SLACK_TOLERANCE_SECONDS} s of now`;
    throw new DomainError('SLACK_REQUEST_STALE', message);
  }
  return { timestamp: h.timestamp, signature: h.signature };
}

/** Refuses (coded 401) a signature that is not the HMAC of this timestamp and body. */
export function verifySlackSignature(secret: string, timestamp: string, signature: string, raw: Buffer): void {
  const expected = Buffer.from(slackSignature(secret, timestamp, raw).slice(3), 'hex');
  const given = /^v0=[0-9a-f]{64}$/.test(signature) ? Buffer.from(signature.slice(3), 'hex') : null;
  // Both are 32 bytes when compared, so the comparison's time says nothing about the expected value.
  if (!given || !timingSafeEqual(expected, given)) {
    throw new DomainError('SLACK_SIGNATURE_INVALID', 'X-Slack-Signature does not match the request');
  }
}
