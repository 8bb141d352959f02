// Unauthenticated abuse must be cheap to refuse (issue 10, items 4 and 7): thousands of distinct bad
// tokens cost no unbounded memory and no database lookup for a malformed one, and an address that keeps
// failing is refused (429 with Retry-After, coded) on every transport: REST, GraphQL over HTTP, SSE and
// the WebSocket handshake.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { INestApplication } from '@nestjs/common';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { imageApi } from '../support/entry-process.js';
import { ADMIN_TOKEN, gql, http, stackEnv, startApi, wsHandshake } from '../support/harness.js';

const BAD_TOKENS = 5000;
// Warm-up: twice the cache bound (half the tokens are well-formed and cached), so the baseline is taken with the
// unknown-token cache full and the heap at its working size; what the flood adds on top is what it keeps.
const WARM_UP = 2000;
const CACHE_MAX = 1000;

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

/** A distinct bad token: well-formed (`osmo_` + 43 base64url, looked up once) or malformed (never looked up). */
function badToken(i: number): { token: string; wellFormed: boolean } {
  const random = randomBytes(32).toString('base64url');
  switch (i % 4) {
    case 0:
      return { token: `osmo_${random.slice(0, 40)}`, wellFormed: false }; // too short
    case 1:
      return { token: `osmo_${random.slice(0, 42)}!`, wellFormed: false }; // outside the alphabet
    default:
      return { token: `osmo_${random}`, wellFormed: true };
  }
}

/** Runs `count` calls, `concurrency` at a time; their statuses and codes. */
async function flood(base: string, from: number, count: number, concurrency = 16) {
  const results: { status: number; code?: string }[] = [];
  let wellFormed = 0;
  let next = from;
  const end = from + count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < end) {
        const t = badToken(next++);
        if (t.wellFormed) wellFormed++;
        const r = await http(base, 'GET', '/v1/onboardings?limit=1', undefined, { authorization: `Bearer ${t.token}` });
        results.push({ status: r.status, code: r.body?.error?.code });
      }
    }),
  );
  return { results, wellFormed };
}

describe('unauthenticated load against a running API process', () => {
  let emulator: Emulator;
  let child: ChildProcess;
  let base: string;

  beforeAll(async () => {
    emulator = await startEmulator();
    const env = await stackEnv(emulator, {
      ROLE: 'api',
      // The warm-up and the 5,000 are within budget; the next failure is not.
      AUTH_FAILURES_PER_MINUTE: String(WARM_UP + BAD_TOKENS),
      AUTH_CACHE_MAX_ENTRIES: String(CACHE_MAX),
      RATE_LIMIT_PER_MINUTE: '0',
    });
    // As the image runs it (the Dockerfile's NODE_OPTIONS and MALLOC_ARENA_MAX): with a heap cap V8 collects as it
    // goes; without one it defers collection and RSS would measure garbage not yet collected rather than memory kept.
    ({ child, base } = await imageApi(env));
  });
  afterAll(async () => {
    child?.kill('SIGTERM');
    await emulator?.close();
  });

  it(`answers ${BAD_TOKENS} bad tokens with 401 (RSS < +50 MB, malformed: no lookup), then 429`, async () => {
    // Warm-up: the code paths, pools and caches exist (the cache full) before the baseline is taken.
    expect((await http(base, 'GET', '/v1/onboardings?limit=1')).status).toBe(200);
    const warm = await flood(base, 0, WARM_UP);
    expect(warm.results.every((r) => r.status === 401)).toBe(true);
    const before = rssMb(child.pid!);
    const lookupsBefore = metric((await http(base, 'GET', '/metrics')).body, 'osm_onboarding_auth_token_lookups_total');

    const t0 = Date.now();
    const { results, wellFormed } = await flood(base, WARM_UP, BAD_TOKENS);
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds, 'the failure budget is per minute: the flood must fit in one').toBeLessThan(55);
    expect(results.filter((r) => r.status !== 401 || r.code !== 'UNAUTHENTICATED')).toEqual([]);

    const grownMb = rssMb(child.pid!) - before;
    expect(grownMb).toBeLessThan(50);
    const metrics = (await http(base, 'GET', '/metrics')).body as string;
    // Only the well-formed tokens reached Postgres; the unknown-token cache stayed within its bound.
    expect(metric(metrics, 'osm_onboarding_auth_token_lookups_total') - lookupsBefore).toBe(wellFormed);
    expect(metric(metrics, 'osm_onboarding_auth_token_cache_entries{cache="unknown"}')).toBeLessThanOrEqual(CACHE_MAX);

    // One more failure is over the budget; from then on the address is refused before any lookup,
    // even with a valid token, on every transport.
    const over = await http(base, 'GET', '/v1/onboardings?limit=1', undefined, {
      authorization: `Bearer ${badToken(2).token}`,
    });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('RATE_LIMITED');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    const lookups = metric((await http(base, 'GET', '/metrics')).body, 'osm_onboarding_auth_token_lookups_total');
    for (const token of [badToken(3).token, ADMIN_TOKEN]) {
      const rest = await http(base, 'GET', '/v1/onboardings?limit=1', undefined, { authorization: `Bearer ${token}` });
      expect(rest.status).toBe(429);
      expect(rest.body.error.code).toBe('RATE_LIMITED');
    }
    const graphql = await http(
      base,
      'POST',
      '/graphql',
      { query: '{ __typename }' },
      { authorization: `Bearer ${badToken(2).token}` },
    );
    expect(graphql.status).toBe(429);
    expect(graphql.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    expect(Number(graphql.headers.get('retry-after'))).toBeGreaterThan(0);
    const sse = await fetch(`${base}/v1/onboardings/00000000-0000-4000-8000-000000000000/events`, {
      headers: { authorization: `Bearer ${badToken(2).token}`, accept: 'text/event-stream' },
    });
    expect(sse.status).toBe(429);
    expect((await sse.json()).error.code).toBe('RATE_LIMITED');
    const upgrade = await wsUpgradeStatus(base);
    expect(upgrade.status).toBe(429);
    expect(Number(upgrade.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(upgrade.body).error.code).toBe('RATE_LIMITED');
    expect(metric((await http(base, 'GET', '/metrics')).body, 'osm_onboarding_auth_token_lookups_total')).toBe(lookups);
  }, 120_000);
});

/** The HTTP answer to a WebSocket upgrade on /graphql that the server refuses. */
function wsUpgradeStatus(base: string) {
  return new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    ws.on('open', () => reject(new Error('the upgrade was accepted')));
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
    });
  });
}

describe('failed WebSocket handshakes count against the address', () => {
  let emulator: Emulator;
  let api: { app: INestApplication; url: string };

  beforeAll(async () => {
    emulator = await startEmulator();
    api = await startApi(await stackEnv(emulator, { ROLE: 'api', AUTH_FAILURES_PER_MINUTE: '2' }));
  });
  afterAll(async () => {
    await api?.app.close();
    await emulator?.close();
  });

  const handshake = (token: string) => wsHandshake(api.url, token);

  it('refuses bad connection_init with 4403 within the budget, 4429 past it, then 429 at the upgrade', async () => {
    const bad = `osmo_${randomBytes(32).toString('base64url')}`;
    expect(await handshake(bad)).toBe(4403);
    expect(await handshake(bad)).toBe(4403);
    expect(await handshake(bad)).toBe(4429);
    expect(await handshake(ADMIN_TOKEN)).toBe(429);
    const g = await gql(api.url, '{ __typename }');
    expect(g.status).toBe(429);
  });
});
