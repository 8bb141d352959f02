#!/usr/bin/env node
// `npm start`: build, migrate, then run the API with the worker in the same process (ROLE=all).
// `npm run demo`: the same against the project's Kubernetes API emulator seeded with a sample osm-edge install —
// a SIMULATED cluster, for trying the API without one — on 127.0.0.1, with a demo approval policy and a local
// webhook receiver that prints every signed delivery. The demo's database and Redis keys are reset at each
// start, like the emulator's in-memory cluster, so the request history always matches the cluster; a demo holds
// its database and Redis prefix while it runs (Postgres advisory locks), so a second demo on the same ones is
// refused instead of resetting the first one's state under it.
// On a terminal the service's JSON logs are printed through pino-pretty; piped, they stay JSON.
// `--no-build` skips the build (the tests run it against the build `npm test` just made).
import './check-node.mjs';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const demo = process.argv.includes('--demo');
const build = !process.argv.includes('--no-build');
const env = { ...process.env };
const say = (line) => console.log(`${demo ? 'demo' : 'start'}: ${line}`);
const fail = (line) => {
  console.error(`${demo ? 'demo' : 'start'}: ${line}`);
  process.exit(1);
};

const DEMO_TOKEN = 'demo-admin-token-not-for-production';
// Held for approval in the demo: only what changes the whole mesh (permissive mode); everything else, the
// README's examples included, runs at once. APPROVAL_POLICY overrides it.
const DEMO_POLICY = { rules: [{ name: 'demo: permissive mode is mesh-wide', when: ['permissive'], approvals: 1 }] };

if (demo) {
  env.HOST ??= '127.0.0.1';
  env.OSM_ONBOARDING_ADMIN_TOKEN ??= DEMO_TOKEN;
  env.RESTART_SETTLE_MS ??= '500';
  env.APPROVAL_POLICY ??= JSON.stringify(DEMO_POLICY);
  env.WEBHOOK_ALLOW_PRIVATE_TARGETS ??= 'true'; // the receiver is on 127.0.0.1
  env.QUEUE_PREFIX ??= 'osm-onboarding-demo';
  env.DATABASE_URL = demoDatabaseUrl(env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/osm_onboarding');
}
const baseDatabaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/osm_onboarding';
const host = env.HOST ?? '0.0.0.0';
const apiPort = Number(env.PORT ?? 3000);
const emulatorPort = Number(env.EMULATOR_PORT ?? 6443);
const webhookPort = Number(env.DEMO_WEBHOOK_PORT ?? 3001);

/** The demo's own database, beside the one `npm start` uses: `<name>_demo` on the same server. */
function demoDatabaseUrl(base) {
  const url = new URL(base);
  const name = decodeURIComponent(url.pathname.slice(1)) || 'osm_onboarding';
  url.pathname = `/${name.endsWith('_demo') ? name : `${name}_demo`}`;
  return url.toString();
}

/** Refuses a busy port in one line, before anything is built or started. */
async function assertPortFree(port, bindHost, variable, what) {
  if (!port) return;
  const busy = await new Promise((done) => {
    const probe = createServer();
    probe.once('error', (err) => done(err.code === 'EADDRINUSE' ? true : err));
    probe.listen(port, bindHost, () => probe.close(() => done(false)));
  });
  if (busy === true) {
    const example = `${variable}=${port + 100} npm run ${demo ? 'demo' : 'start'}`;
    fail(`port ${port} on ${bindHost} (${what}) is in use; set ${variable} to a free port, e.g. ${example}`);
  }
  if (busy) fail(`cannot listen on ${bindHost}:${port} (${what}, ${variable}): ${busy.message}`);
}

await assertPortFree(apiPort, host, 'PORT', 'the API');
if (demo) {
  await assertPortFree(emulatorPort, '127.0.0.1', 'EMULATOR_PORT', 'the Kubernetes API emulator');
  await assertPortFree(webhookPort, '127.0.0.1', 'DEMO_WEBHOOK_PORT', 'the demo webhook receiver');
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const START_HINT = 'start it (e.g. docker compose up -d postgres redis)';

const demoDatabaseName = () => decodeURIComponent(new URL(env.DATABASE_URL).pathname.slice(1));
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Claims the demo's database and Redis prefix for as long as this script runs: a session-level advisory lock on
 * each (taken on a connection to the server's `postgres` database, kept open, and so released however this process
 * ends). Refused, in one line naming what to change, when another demo holds either, or when the demo database
 * still has connections (a service left running on it: a demo whose script was killed, or `npm start` pointed at
 * it). A demo that crashed leaves neither, and the next one starts fresh. Returns the connection (kept open).
 */
async function claimDemoState() {
  const { default: pg } = await import('pg');
  const target = new URL(env.DATABASE_URL);
  const name = demoDatabaseName();
  const admin = new URL(target);
  admin.pathname = '/postgres';
  const client = new pg.Client({
    connectionString: admin.toString(),
    connectionTimeoutMillis: 5_000,
    application_name: 'osm-onboarding demo (scripts/start.mjs)',
  });
  client.on('error', (err) => say(`the connection holding the demo's locks failed: ${err.message}`));
  let holder;
  try {
    await client.connect();
    const redis = new URL(redisUrl);
    const keys = [
      `osm-onboarding demo database ${name}`,
      `osm-onboarding demo redis ${redis.host}${redis.pathname} ${env.QUEUE_PREFIX}`,
    ];
    const locked = [];
    for (const key of keys) {
      const { rows } = await client.query('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [key]);
      locked.push(rows[0].ok);
    }
    if (locked.includes(false)) {
      holder = `another demo is running on the database ${name} or the Redis prefix ${env.QUEUE_PREFIX}`;
    }
    // A backend that just exited may be listed for a moment: look again for up to 3 s before refusing.
    for (let tries = 0; !holder; tries++) {
      const { rows } = await client.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      if (rows[0].n === 0) break;
      if (tries < 12) await new Promise((r) => setTimeout(r, 250));
      else holder = `the database ${name} has ${rows[0].n} open connection(s) (a service or client still on it)`;
    }
  } catch (err) {
    fail(`cannot reach Postgres at ${target.host} (${err.message}); ${START_HINT} or set DATABASE_URL`);
  }
  if (holder) {
    const other = new URL(baseDatabaseUrl);
    if (other.password) other.password = '***';
    const base = decodeURIComponent(other.pathname.slice(1)).replace(/_demo$/, '') || 'osm_onboarding';
    other.pathname = `/${base}2`;
    fail(
      `${holder}; resetting it would break that demo: stop it, or give this one its own database and prefix, ` +
        `e.g. DATABASE_URL=${other} QUEUE_PREFIX=${env.QUEUE_PREFIX}2 npm run demo`,
    );
  }
  return client;
}

/** Drops the demo database (on the connection holding the demo's locks) and the demo's Redis keys. */
async function resetDemoState(client) {
  const { Redis } = await import('ioredis');
  try {
    await client.query(`DROP DATABASE IF EXISTS "${demoDatabaseName().replace(/"/g, '""')}" WITH (FORCE)`);
  } catch (err) {
    fail(`cannot reset the demo database on ${new URL(env.DATABASE_URL).host} (${err.message})`);
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.QUEUE_PREFIX}:*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch (err) {
    const where = new URL(redisUrl);
    where.password = '';
    fail(`cannot reach Redis at ${where.host} (${err.message}); ${START_HINT} or set REDIS_URL`);
  } finally {
    redis.disconnect();
  }
}

if (!existsSync(resolve(root, 'src/generated/prisma/client.ts'))) run('npm', ['run', '--silent', 'db:generate']);
const demoLocks = demo ? await claimDemoState() : undefined;
if (build) {
  say(`building the service (npm ${demo ? 'run demo' : 'start'} -- --no-build skips this when dist/ is current)…`);
  run('npm', ['run', '--silent', 'build']);
}
if (demo) await resetDemoState(demoLocks);
run(process.execPath, ['dist/src/migrate.js']);

// The children run in process groups of their own (`detached`): a terminal's Ctrl-C reaches only this script, which
// passes exactly one signal on. In one group with it, the service got the terminal's SIGINT and then this script's,
// and a second signal means "exit now, no drain" (src/reliability/shutdown.ts).
const children = [];
let api;
const running = (c) => c.exitCode === null && c.signalCode === null;
function stopAll(signal) {
  for (const c of children) if (running(c)) c.kill(signal);
}
/** The service drains first; the emulator stops once the service has exited (api.on('exit') below). */
function stop(signal) {
  if (api && running(api)) api.kill(signal);
  else stopAll(signal);
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
// Whatever way this script ends, no child outlives it: each child's whole group (the emulator runs under tsx).
process.on('exit', () => {
  for (const c of children) {
    try {
      if (running(c)) process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

async function startEmulator() {
  mkdirSync(resolve(root, '.emulator'), { recursive: true });
  // One file per emulator port: two demos on different ports (the test suite runs two at once) never read
  // each other's cluster address.
  const kubeconfig = resolve(root, `.emulator/kubeconfig-${emulatorPort}`);
  process.on('exit', () => rmSync(kubeconfig, { force: true }));
  const tsx = resolve(root, 'node_modules/tsx/dist/cli.mjs');
  const args = ['--port', String(emulatorPort), '--kubeconfig-out', kubeconfig, '--injector-lag-ms', '200'];
  const child = spawn(process.execPath, [tsx, 'test/support/emulator/cli.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
    detached: true,
  });
  children.push(child);
  await new Promise((ok, failed) => {
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      if (d.toString().includes('listening')) ok();
    });
    child.on('exit', (code) => failed(new Error(`emulator exited with ${code}`)));
  });
  return kubeconfig;
}

/**
 * The demo's chatops bot: receives the service's webhook deliveries, checks each signature
 * (HMAC-SHA256 of `<timestamp>.<body>` with the secret the demo registered) and prints the event's summary.
 */
function startWebhookReceiver(secret) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const timestamp = String(req.headers['x-osm-onboarding-timestamp'] ?? '');
      const given = Buffer.from(String(req.headers['x-osm-onboarding-signature'] ?? ''));
      const hmac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
      const expected = Buffer.from(`sha256=${hmac}`);
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      const valid = given.length === expected.length && timingSafeEqual(given, expected) && fresh;
      let event = {};
      try {
        event = JSON.parse(body.toString('utf8'));
      } catch {
        // printed as unreadable below
      }
      const delivery = String(req.headers['x-osm-onboarding-delivery'] ?? '?').slice(0, 8);
      const what = `${req.headers['x-osm-onboarding-event'] ?? '?'} (delivery ${delivery}…)`;
      console.log(
        valid
          ? `webhook: signature ok · ${what} · ${event.summary ?? '(no summary)'}`
          : `webhook: REJECTED, ${fresh ? 'bad signature' : 'stale timestamp'} · ${what}`,
      );
      res.writeHead(valid ? 204 : 401).end();
    });
  });
  return new Promise((ok, failed) => {
    server.once('error', failed);
    server.listen(webhookPort, '127.0.0.1', () => ok(server));
  });
}

/** Pipes the child's JSON log lines through pino-pretty on a terminal (a devDependency: absent → JSON). */
async function logSink() {
  if (!process.stdout.isTTY) return undefined;
  try {
    const { default: pretty } = await import('pino-pretty');
    return pretty({
      colorize: true,
      translateTime: 'SYS:HH:MM:ss',
      singleLine: true,
      ignore: 'pid,hostname,context,req,res,responseTime,httpRequestId',
      // `[Context] message`; an access-log line as `METHOD url → status in N ms`.
      messageFormat: (log, key) => {
        const where = log.context ? `[${log.context}] ` : '';
        if (!log.req || !log.res) return `${where}${log[key]}`;
        return `${where}${log.req.method} ${log.req.url} → ${log.res.statusCode} in ${log.responseTime} ms`;
      },
    });
  } catch {
    return undefined;
  }
}

const apiUrl = `http://127.0.0.1:${apiPort}`;
/**
 * Until the API is ready and reports Postgres and Redis `ok` (/readyz stays 200 while they are down: it reports
 * them without requiring them), which the webhook registration and the README's examples need.
 */
async function waitForApi(child) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(3_000) });
      const checks = res.ok ? (await res.json()).checks : undefined;
      if (checks?.postgres === 'ok' && checks?.redis === 'ok') return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

const receiverUrl = `http://127.0.0.1:${webhookPort}/webhook`;
async function registerWebhook(secret) {
  const res = await fetch(`${apiUrl}/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.OSM_ONBOARDING_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: receiverUrl, eventTypes: ['request.*', 'step.failed'], secret }),
  });
  if (!res.ok) throw new Error(`POST /v1/webhooks answered ${res.status}: ${await res.text()}`);
}

let webhookSecret;
if (demo) {
  env.KUBECONFIG = await startEmulator();
  env.KUBE_IN_CLUSTER = 'false';
  webhookSecret = `whsec_demo_${randomBytes(18).toString('hex')}`;
  await startWebhookReceiver(webhookSecret);
}

const sink = await logSink();
api = spawn(process.execPath, ['dist/bundle/main.mjs'], {
  cwd: root,
  stdio: ['ignore', sink ? 'pipe' : 'inherit', 'inherit'],
  env: { ROLE: 'all', ...env },
  detached: true,
});
children.push(api);
if (sink) api.stdout.pipe(sink);
api.on('exit', async (code) => {
  const others = children.filter((c) => c !== api && running(c));
  for (const c of others) c.kill('SIGTERM');
  await Promise.race([
    Promise.all(others.map((c) => new Promise((done) => c.once('exit', done)))),
    new Promise((done) => setTimeout(done, 3000)),
  ]);
  process.exit(code ?? 0);
});

if (demo) {
  if (!(await waitForApi(api))) fail(`the API did not become ready, with Postgres and Redis, on ${apiUrl}/readyz`);
  await registerWebhook(webhookSecret).catch((err) => say(`webhook receiver not registered: ${err.message}`));
  const token = env.OSM_ONBOARDING_ADMIN_TOKEN;
  const policy = env.APPROVAL_POLICY === JSON.stringify(DEMO_POLICY) ? 'the demo policy' : 'your APPROVAL_POLICY';
  const name = decodeURIComponent(new URL(env.DATABASE_URL).pathname.slice(1));
  for (const line of [
    `ready on ${apiUrl} (REST /v1, GraphQL /graphql, docs /docs), bound to ${host}`,
    `the cluster is SIMULATED: the Kubernetes API emulator on 127.0.0.1:${emulatorPort} runs osm-edge v1.3.9`,
    '  and the bookstore sample; nothing touches a real cluster',
    `  kubectl reaches it too: KUBECONFIG=${relative(root, env.KUBECONFIG)} kubectl get namespaces`,
    `admin token:  export T='Authorization: Bearer ${token}'`,
    `approvals (${policy}): a request that turns on permissive mode (mesh-wide) waits in PENDING_APPROVAL`,
    '  for one approver other than its requester; everything else, the README examples included, runs at once',
    `webhooks: request.* and step.failed events are POSTed to ${receiverUrl} and printed`,
    '  here as "webhook: signature ok · …" once their HMAC signature is checked',
    `fresh start: the database ${name}, the Redis keys ${env.QUEUE_PREFIX}:* and the simulated cluster`,
    '  are reset at every start, so the request history always matches the cluster',
  ]) {
    say(line);
  }
}
