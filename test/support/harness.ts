import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { inject } from 'vitest';
import { testDatabaseUrl } from './database.js';
import { createClient, Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createApiApp, createWorkerContext } from '../../src/app.js';
import { loadConfig, type AppConfig } from '../../src/config/config.js';
import { startEmulator, type Emulator } from './emulator/index.js';

/** The bootstrap admin token every test stack is started with (OSM_ONBOARDING_ADMIN_TOKEN). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Stack {
  emulator: Emulator;
  config: AppConfig;
  env: Record<string, string>;
  url: string;
  app: INestApplication;
  close(): Promise<void>;
}

/** Environment for one isolated stack: its own queue prefix, the run's database, the emulator's kubeconfig. */
export async function stackEnv(
  emulator: Emulator,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'osm-onboarding-'));
  const kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, emulator.kubeconfig({ contexts: ['emulator', 'staging'] }));
  return {
    NODE_ENV: 'test',
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: inject('redisUrl'),
    KUBECONFIG: kubeconfig,
    QUEUE_PREFIX: `test-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    OSM_ONBOARDING_ADMIN_TOKEN: ADMIN_TOKEN,
    HOST: '127.0.0.1',
    PORT: '0',
    HEARTBEAT_MS: '500',
    WORKER_METRICS_PORT: '0',
    RESTART_SETTLE_MS: '50',
    POLL_MS: '25',
    SWEEP_INTERVAL_MS: '1000',
    STEP_BACKOFF_MS: '20',
    MESH_CACHE_TTL_MS: '1000',
    // No drift scan on a timer: tests run it when they want (DriftScanner.scan).
    DRIFT_SCAN_INTERVAL_MS: '0',
    // The request-time read of the target gets a generous deadline on a busy test machine, so a refusal
    // does not turn into "accepted, the worker decides" at random (early-refusals.spec.ts tests the deadline).
    PRECHECK_TIMEOUT_MS: '10000',
    // The suite runs on either HTTP platform (HTTP_PLATFORM=express|fastify npx vitest run …); else the default.
    ...(process.env.HTTP_PLATFORM ? { HTTP_PLATFORM: process.env.HTTP_PLATFORM } : {}),
    ...extra,
  };
}

export async function startApi(
  env: Record<string, string>,
): Promise<{ app: INestApplication; url: string; config: AppConfig }> {
  const config = loadConfig(env);
  const app = await createApiApp(config);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}`, config };
}

export async function startWorker(env: Record<string, string>): Promise<INestApplicationContext> {
  return createWorkerContext(loadConfig({ ...env, ROLE: 'worker' }));
}

/** Emulator + API with the worker in the same process (ROLE=all), as `npm start` runs it. */
export async function startStack(opts: { emulator?: Emulator; env?: Record<string, string> } = {}): Promise<Stack> {
  const emulator = opts.emulator ?? (await startEmulator());
  const env = await stackEnv(emulator, { ROLE: 'all', ...opts.env });
  const { app, url, config } = await startApi(env);
  return {
    emulator,
    config,
    env,
    url,
    app,
    async close() {
      await app.close();
      if (!opts.emulator) await emulator.close();
    },
  };
}

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function http<T = any>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const res = await fetch(base + path, {
    method,
    // Authenticated as the bootstrap admin unless the test passes its own (or an empty) authorization.
    headers: Object.fromEntries(
      Object.entries({
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      }).filter(([, v]) => v !== ''),
    ),
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export async function gql<T = any>(
  base: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<{ data: T; errors: any; status: number }> {
  const res = await http(base, 'POST', '/graphql', { query, variables }, headers);
  return { ...res.body, status: res.status };
}

/**
 * Polls GET /v1/onboardings/:id until its status is one of `statuses`. The pause grows from 50 ms to 500 ms, so a
 * long wait stays far under the stack's default rate limit (600 calls a minute per token); a 429 waits its
 * Retry-After, and any other answer than 200 fails at once with that answer instead of reading as "no status yet".
 */
export async function waitForStatus(base: string, id: string, statuses: string[], timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 50; ; pause = Math.min(500, Math.round(pause * 1.5))) {
    const { status, body, headers } = await http(base, 'GET', `/v1/onboardings/${id}`);
    if (status === 200 && statuses.includes(body.status)) return body;
    if (status !== 200 && status !== 429) throw new Error(`GET request ${id}: ${status} ${JSON.stringify(body)}`);
    const last = status === 200 ? body.status : `rate-limited (${JSON.stringify(body)})`;
    if (Date.now() > deadline) throw new Error(`request ${id} still ${last} after ${timeoutMs} ms`);
    const wait = status === 429 ? Number(headers.get('retry-after') ?? 1) * 1000 : pause;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(wait, deadline - Date.now() + 1))));
  }
}

export function wsClient(base: string, token: string | null = ADMIN_TOKEN): Client {
  return createClient({
    url: base.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** Collects a subscription's events until it completes (or errors). */
export function collectProgress(
  client: Client,
  requestId: string,
  after = 0,
): Promise<{ events: any[]; error?: unknown }> {
  return new Promise((resolve) => {
    const events: any[] = [];
    client.subscribe(
      {
        query:
          `subscription($id: ID!, $after: Int) { onboardingProgress(requestId: $id, after: $after) { requestId ` +
          `cursor type step message data at actor } }`,
        variables: { id: requestId, after },
      },
      {
        next: (msg) => {
          if (msg.errors) resolve({ events, error: msg.errors });
          else events.push((msg.data as any).onboardingProgress);
        },
        error: (error) => resolve({ events, error }),
        complete: () => resolve({ events }),
      },
    );
  });
}

/**
 * A graphql-ws handshake with `token` in connection_init: the HTTP status when the upgrade is refused, else the
 * close code (4403, 4429, 4500…) the server ends the socket with.
 */
export const wsHandshake = (url: string, token: string) =>
  new Promise<number>((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    ws.on('close', (code) => resolve(code));
  });

/** A REST answer's status and error code, to compare with `[status, code]` in one assertion. */
export const refusal = (res: { status: number; body: { error?: { code?: string } } }) => [
  res.status,
  res.body.error?.code,
];

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

/** Reads a Server-Sent Events stream to its end (or until `stopAfter` events), returning the events. */
export async function readSse(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  stopAfter = Infinity,
): Promise<{ status: number; events: { id: string; event: string; data: any }[] }> {
  const controller = new AbortController();
  const res = await fetch(base + path, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
    signal: controller.signal,
  });
  const events: { id: string; event: string; data: any }[] = [];
  if (!res.ok || !res.body) return { status: res.status, events };
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((l) => !l.startsWith(':'))
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
        );
        if (fields.data) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) });
        if (events.length >= stopAfter) {
          controller.abort();
          return { status: res.status, events };
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
  return { status: res.status, events };
}
