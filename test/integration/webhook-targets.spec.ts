// POST /v1/webhooks with WEBHOOK_ALLOW_PRIVATE_TARGETS unset (outside audit): the URLs that were accepted (201) and
// led deliveries into the API host are refused with 422 on `url`, naming no address: documentation ranges (the API
// host's own eth0 was 192.0.2.2), this host's own interface addresses, IPv6 forms carrying an internal IPv4
// address, and trailing-dot internal names. No DNS: every URL is an IP literal or a name refused before any lookup.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startStack, type Stack } from '../support/harness.js';

describe('webhooks: targets refused at creation while private targets are not allowed', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
    expect(s.config.webhooks.allowPrivateTargets).toBe(false);
  });
  afterAll(() => s?.close());

  async function create(url: string) {
    const r = await http(s.url, 'POST', '/v1/webhooks', { url, eventTypes: ['request.*'] });
    // A URL the check lets through must not stay subscribed: other files' events would be delivered to it.
    if (r.status === 201) await http(s.url, 'DELETE', `/v1/webhooks/${r.body.webhook.id}`);
    return r;
  }

  async function expectRefused(url: string, message: RegExp) {
    const r = await create(url);
    expect(r.status, url).toBe(422);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.fields).toEqual([{ field: 'url', message: expect.stringMatching(message) }]);
    expect(JSON.stringify(r.body), url).not.toContain(new URL(url).hostname.replace(/^\[|\]$/g, ''));
  }

  it('refuses TEST-NET addresses, IPv6 embeddings of internal IPv4 addresses and our own addresses', async () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .filter((a): a is NonNullable<typeof a> => a !== undefined && !a.address.includes('%'))
      .map((a) => (a.family === 'IPv6' ? `http://[${a.address}]:3405/x` : `http://${a.address}:3405/x`));
    expect(own.length).toBeGreaterThan(0);
    for (const url of [
      'http://192.0.2.2:3405/x',
      'http://198.51.100.7/',
      'http://203.0.113.9/',
      'http://[::127.0.0.1]/',
      'http://[64:ff9b::127.0.0.1]/',
      'http://[::ffff:0:127.0.0.1]/',
      'http://[2002:7f00:1::]/',
      ...own,
    ]) {
      await expectRefused(url, /^must not target an address that is not globally routable/);
    }
  });

  it('refuses internal names written with a trailing dot, like without', async () => {
    for (const url of ['http://localhost./', 'http://a.localhost./', 'http://metadata.google.internal./']) {
      await expectRefused(url, /^must not target an internal host/);
    }
  });
});
