// `npm run demo` (scripts/start.mjs --demo) as a user runs it, from the build: a busy port is one clear line;
// the demo binds 127.0.0.1, runs the README's basic example at once, holds a permissive-mode request for
// approval, prints each signed webhook delivery after checking its signature (and refuses a forged one), logs
// JSON when not on a terminal, and starts from a fresh database and cluster every time; a second demo on the same
// database and queue prefix is refused in one line and leaves the running one alone, and a demo killed outright
// (no clean stop) does not keep the next one from starting fresh.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testDatabaseUrl } from '../support/database.js';
import { freePort } from '../support/free-port.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'demo-admin-token-not-for-production';

interface Demo {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function runDemo(env: Record<string, string>): Demo {
  const base = { ...process.env };
  for (const key of ['HOST', 'PORT', 'APPROVAL_POLICY', 'OSM_ONBOARDING_ADMIN_TOKEN', 'LOG_LEVEL', 'NODE_ENV']) {
    delete base[key];
  }
  // A process group of its own, like a terminal's foreground job: Ctrl-C is a SIGINT to the whole group.
  const child = spawn(process.execPath, ['scripts/start.mjs', '--demo', '--no-build'], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm run demo', () => {
  let env: Record<string, string>;
  let demoDb: string;
  let busy: Server | undefined;

  beforeAll(async () => {
    const name = `osm_onboarding_demotest_${randomBytes(4).toString('hex')}`;
    const url = new URL(testDatabaseUrl());
    url.pathname = `/${name}`;
    demoDb = `${name}_demo`; // the demo's own database beside DATABASE_URL's
    env = {
      DATABASE_URL: url.toString(),
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `demotest-${randomBytes(4).toString('hex')}`,
      PORT: String(await freePort()),
      EMULATOR_PORT: String(await freePort()),
      DEMO_WEBHOOK_PORT: String(await freePort()),
    };
  });
  afterAll(async () => {
    busy?.close();
    const admin = new URL(testDatabaseUrl());
    admin.pathname = '/postgres';
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${demoDb} WITH (FORCE)`);
    await client.end();
    // The demo's Redis keys too (a demo resets them at start, not at stop).
    const redis = new Redis(env.REDIS_URL, { lazyConnect: true });
    await redis.connect();
    const keys = await redis.keys(`${env.QUEUE_PREFIX}:*`);
    if (keys.length) await redis.unlink(...keys);
    redis.disconnect();
  });

  it('answers a busy port with one line naming the setting to change', async () => {
    busy = createServer();
    await new Promise<void>((r) => busy!.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    for (const variable of ['PORT', 'EMULATOR_PORT', 'DEMO_WEBHOOK_PORT']) {
      const demo = runDemo({ ...env, [variable]: String(port) });
      expect(await demo.exited).toBe(1);
      const lines = demo.output().trim().split('\n');
      expect(lines).toHaveLength(1);
      const expected =
        `^demo: port ${port} on 127\\.0\\.0\\.1 \\(.+\\) is in use; ` +
        `set ${variable} to a free port, e\\.g\\. ${variable}=${port + 100} npm run demo$`;
      expect(lines[0]).toMatch(new RegExp(expected));
    }
  });

  it('shows approvals and signed webhooks unconfigured, and restarts with history and cluster reset', async () => {
    const api = `http://127.0.0.1:${env.PORT}`;
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const call = async (method: string, path: string, body?: unknown) => {
      const init = { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) };
      const res = await fetch(`${api}${path}`, init);
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    const first = runDemo(env);
    try {
      await until('the demo to be ready', () => (first.output().includes('demo: ready on') ? true : undefined));
      const out = first.output();
      expect(out).toContain(`demo: ready on ${api} (REST /v1, GraphQL /graphql, docs /docs), bound to 127.0.0.1`);
      expect(out).toContain('waits in PENDING_APPROVAL');
      expect(out).toContain(`export T='Authorization: Bearer ${TOKEN}'`);
      // Its kubeconfig is named after its emulator port (two demos at once never read each other's cluster address).
      const kubeconfig = `.emulator/kubeconfig-${env.EMULATOR_PORT}`;
      expect(out).toContain(`KUBECONFIG=${kubeconfig} kubectl get namespaces`);
      expect(readFileSync(resolve(ROOT, kubeconfig), 'utf8')).toMatch(
        new RegExp(`server: https?://127\\.0\\.0\\.1:${env.EMULATOR_PORT}\\n`),
      );
      // Not a terminal: the service's log lines stay JSON.
      const logs = out.split('\n').filter((l) => l.startsWith('{'));
      expect(logs.length).toBeGreaterThan(5);
      for (const line of logs) expect(JSON.parse(line)).toHaveProperty('level');

      // The README's basic example runs at once; a permissive-mode request waits for an approver.
      const basic = await call('POST', '/v1/onboardings', { namespace: 'bookbuyer', restart: { mode: 'all' } });
      expect(basic).toMatchObject({ status: 202, body: { status: 'QUEUED' } });
      const permissive = { namespace: 'bookthief', trafficPolicy: { mode: 'permissive' } };
      const held = await call('POST', '/v1/onboardings', permissive);
      expect(held).toMatchObject({ status: 202, body: { status: 'PENDING_APPROVAL' } });
      await until('bookbuyer to succeed', async () => {
        const r = await call('GET', `/v1/onboardings/${basic.body.id}`);
        return r.body.status === 'SUCCEEDED' ? true : undefined;
      });
      await until('the signed delivery of request.succeeded', () =>
        /webhook: signature ok · request\.succeeded \(delivery [0-9a-f]{8}…\) · .*bookbuyer/.test(first.output())
          ? true
          : undefined,
      );
      expect(first.output()).toMatch(/webhook: signature ok · request\.created .*bookthief/);

      // A second demo on the same database and prefix (its own free ports, as the busy-port advice leads to) is
      // refused in one line, and the running demo keeps its history.
      const ports = { PORT: '', EMULATOR_PORT: '', DEMO_WEBHOOK_PORT: '' };
      for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = String(await freePort());
      const rival = runDemo({ ...env, ...ports });
      const ended = await Promise.race([rival.exited, new Promise((r) => setTimeout(() => r('running'), 30_000))]);
      if (ended === 'running') process.kill(-rival.child.pid!, 'SIGINT'); // it ran: stop it as a user would
      expect(ended).toBe(1);
      const refusal = rival.output().trim().split('\n');
      expect(refusal).toHaveLength(1);
      expect(refusal[0]).toMatch(
        new RegExp(
          `^demo: another demo is running on the database ${demoDb} or the Redis prefix ${env.QUEUE_PREFIX}; .*` +
            `stop it, or give this one its own database and prefix, e\\.g\\. DATABASE_URL=\\S+ ` +
            `QUEUE_PREFIX=${env.QUEUE_PREFIX}2 npm run demo$`,
        ),
      );
      expect(await call('GET', `/v1/onboardings/${basic.body.id}`)).toMatchObject({ body: { status: 'SUCCEEDED' } });
      expect((await call('GET', '/v1/onboardings')).body.items).toHaveLength(2);

      // A forged delivery is refused and reported.
      const forged = await fetch(`http://127.0.0.1:${env.DEMO_WEBHOOK_PORT}/webhook`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-osm-onboarding-timestamp': String(Math.floor(Date.now() / 1000)),
          'x-osm-onboarding-signature': `sha256=${'0'.repeat(64)}`,
          'x-osm-onboarding-event': 'request.succeeded',
        },
        body: JSON.stringify({ summary: 'forged' }),
      });
      expect(forged.status).toBe(401);
      await until('the forged delivery report', () =>
        first.output().includes('webhook: REJECTED, bad signature · request.succeeded') ? true : undefined,
      );
    } finally {
      // Ctrl-C: the service gets one SIGINT and drains (a second one would mean "exit now"), then the emulator stops.
      process.kill(-first.child.pid!, 'SIGINT');
      expect(await first.exited).toBe(0);
    }
    expect(first.output()).toMatch(/SIGINT: draining[\s\S]*stopped cleanly in \d+ ms/);
    expect(first.output()).not.toContain('again: exiting now');

    const second = runDemo(env);
    try {
      await until('the restarted demo', () => (second.output().includes('demo: ready on') ? true : undefined));
      expect((await call('GET', '/v1/onboardings')).body.items).toEqual([]);
      const namespaces = (await call('GET', '/v1/clusters/emulator/namespaces?limit=100')).body.items as {
        name: string;
        monitoredBy: string | null;
      }[];
      expect(namespaces.find((n) => n.name === 'bookbuyer')?.monitoredBy ?? null).toBeNull();
    } finally {
      second.child.kill('SIGINT');
      expect(await second.exited).toBe(0);
    }
  }, 300_000);

  it('starts fresh after a demo that was killed outright (its locks and connections gone with it)', async () => {
    const api = `http://127.0.0.1:${env.PORT}`;
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const crashed = runDemo(env);
    await until('the demo to be ready', () => (crashed.output().includes('demo: ready on') ? true : undefined));
    const body = JSON.stringify({ namespace: 'bookbuyer' });
    expect((await fetch(`${api}/v1/onboardings`, { method: 'POST', headers, body })).status).toBe(202);
    // SIGKILL to the script and to each child's process group (the service, the emulator under tsx): no clean stop.
    const pid = crashed.child.pid!;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    for (const group of [pid, ...children]) process.kill(-group, 'SIGKILL');
    await crashed.exited;
    await until('the killed processes to be gone', () =>
      children.every((c) => !existsSync(`/proc/${c}`)) ? true : undefined,
    );

    const next = runDemo(env);
    try {
      await until('the next demo', () => (next.output().includes('demo: ready on') ? true : undefined));
      const list = await fetch(`${api}/v1/onboardings`, { headers });
      expect(((await list.json()) as { items: unknown[] }).items).toEqual([]);
    } finally {
      next.child.kill('SIGINT');
      expect(await next.exited).toBe(0);
    }
  }, 120_000);
});
