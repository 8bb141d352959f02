// verifyWebhookSignature against the service's own signer (src/webhooks/webhook-crypto.ts, what the dispatcher
// sends): a genuine delivery passes; a changed body, another secret, an old or future timestamp, or missing and
// malformed headers are refused with a reason.
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../../src/webhooks/webhook-crypto.js';
import { verifyWebhookSignature } from '../src/index.js';

const SECRET = 'whsec_test-secret-0123456789';
const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const body = JSON.stringify({ event: 'request.succeeded', summary: '✅ onboarding of emulator/team-a succeeded' });

function delivery(opts: { at?: number; secret?: string; body?: string } = {}) {
  const timestamp = String(Math.floor((opts.at ?? NOW) / 1000));
  return {
    'x-osm-onboarding-timestamp': timestamp,
    'x-osm-onboarding-signature': signWebhook(opts.secret ?? SECRET, timestamp, opts.body ?? body),
  };
}

describe('verifyWebhookSignature', () => {
  it('accepts what the service signs, from a string, bytes or fetch Headers', () => {
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: delivery(), now: NOW })).toEqual({
      valid: true,
      timestamp: NOW / 1000,
    });
    const bytes = new TextEncoder().encode(body);
    expect(verifyWebhookSignature({ secret: SECRET, body: bytes, headers: delivery(), now: NOW }).valid).toBe(true);
    const headers = new Headers(delivery());
    expect(verifyWebhookSignature({ secret: SECRET, body, headers, now: NOW }).valid).toBe(true);
  });

  it('refuses a changed body or another secret', () => {
    const changed = body.replace('succeeded', 'failed');
    expect(verifyWebhookSignature({ secret: SECRET, body: changed, headers: delivery(), now: NOW })).toEqual({
      valid: false,
      reason: 'mismatch',
    });
    const other = delivery({ secret: 'whsec_another-secret' });
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: other, now: NOW })).toMatchObject({
      reason: 'mismatch',
    });
  });

  it('refuses a replayed (old) or future timestamp outside the tolerance, even with a valid signature', () => {
    const old = delivery({ at: NOW - 301_000 });
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: old, now: NOW })).toMatchObject({ reason: 'stale' });
    const future = delivery({ at: NOW + 301_000 });
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: future, now: NOW }).valid).toBe(false);
    const recent = delivery({ at: NOW - 299_000 });
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: recent, now: NOW }).valid).toBe(true);
    const tight = { secret: SECRET, body, headers: recent, now: NOW, toleranceSeconds: 60 };
    expect(verifyWebhookSignature(tight)).toMatchObject({ reason: 'stale' });
  });

  it('refuses missing or malformed headers', () => {
    const { 'x-osm-onboarding-signature': signature } = delivery();
    const noTimestamp = { 'x-osm-onboarding-signature': signature };
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: noTimestamp, now: NOW })).toMatchObject({
      reason: 'missing-headers',
    });
    const short = { ...delivery(), 'x-osm-onboarding-signature': 'sha256=abcd' };
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: short, now: NOW })).toMatchObject({
      reason: 'malformed',
    });
    const md5 = { ...delivery(), 'x-osm-onboarding-signature': signature.replace('sha256=', 'md5=') };
    expect(verifyWebhookSignature({ secret: SECRET, body, headers: md5, now: NOW })).toMatchObject({
      reason: 'malformed',
    });
  });
});
