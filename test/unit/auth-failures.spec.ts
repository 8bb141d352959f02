// Authentication failures without a network: which JWKS errors are the identity provider's (a dependency away, never
// counted against the caller) and which are the token's, and the blocks other API instances announce over Redis.
import { errors } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthFailureLimiter } from '../../src/auth/auth-failure-limiter.js';
import { isKeySetUnavailable } from '../../src/auth/jwt-verifier.js';
import { loadConfig } from '../../src/config/config.js';
import type { RedisService } from '../../src/redis/redis.service.js';

describe('JWKS errors', () => {
  it('tells a key set that could not be fetched from a token it refuses, by jose error class', () => {
    const unavailable = [
      new TypeError('fetch failed'), // a network error: connection refused, reset, DNS
      new errors.JWKSTimeout(),
      new errors.JOSEError('Expected 200 OK from the JSON Web Key Set HTTP response'),
      new errors.JOSEError('Failed to parse the JSON Web Key Set HTTP response as JSON'),
      new errors.JWKSInvalid('JSON Web Key Set malformed'),
    ];
    for (const err of unavailable) expect(isKeySetUnavailable(err), err.message).toBe(true);
    const tokensFault = [
      new errors.JWKSNoMatchingKey(),
      new errors.JWKSMultipleMatchingKeys(),
      new errors.JOSENotSupported('Unsupported "alg" value for a JSON Web Key Set'),
    ];
    for (const err of tokensFault) expect(isKeySetUnavailable(err), err.message).toBe(false);
  });
});

describe('blocks announced by other instances', () => {
  afterEach(() => vi.useRealTimers());

  function limiter() {
    let onMessage: (message: string) => void = () => undefined;
    const redis = {
      client: {},
      subscribe: (_channel: string, handler: (message: string) => void) => {
        onMessage = handler;
        return Promise.resolve();
      },
      publish: () => Promise.resolve(1),
    } as unknown as RedisService;
    const config = loadConfig({ ...process.env, AUTH_FAILURES_PER_MINUTE: '3', QUEUE_PREFIX: 'unit' });
    const l = new AuthFailureLimiter(redis, config);
    l.onModuleInit();
    return { l, announce: (message: string) => onMessage(message) };
  }

  it('refuses the address at once, for as long as announced, and no longer', () => {
    vi.useFakeTimers();
    const { l, announce } = limiter();
    expect(l.blockedFor('203.0.113.7')).toBe(0);
    announce(JSON.stringify({ address: '203.0.113.7', ms: 42_500 }));
    expect(l.blockedFor('203.0.113.7')).toBe(43);
    expect(() => l.assertAllowed('203.0.113.7')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    expect(l.blockedFor('203.0.113.8')).toBe(0);
    vi.advanceTimersByTime(42_000);
    expect(l.blockedFor('203.0.113.7')).toBe(1);
    vi.advanceTimersByTime(600);
    expect(l.blockedFor('203.0.113.7')).toBe(0);
    expect(() => l.assertAllowed('203.0.113.7')).not.toThrow();
  });

  it('ignores malformed announcements, and never blocks longer than the window allows', () => {
    const { l, announce } = limiter();
    for (const bad of ['nope', 'null', '{}', '{"address":"a"}', '{"address":"a","ms":-5}', '{"address":7,"ms":9}']) {
      announce(bad);
    }
    expect(l.blockedFor('a')).toBe(0);
    announce(JSON.stringify({ address: 'b', ms: 3_600_000 }));
    expect(l.blockedFor('b')).toBeLessThanOrEqual(120);
    // A shorter announcement never shortens a block already known.
    announce(JSON.stringify({ address: 'b', ms: 1000 }));
    expect(l.blockedFor('b')).toBeGreaterThan(60);
  });
});
