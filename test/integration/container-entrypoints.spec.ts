// The image's small entry points, run from the build as the container runs them: the HEALTHCHECK
// (dist/src/healthcheck.js) against a real API and a real worker process, and compose's first-start admin
// token (dist/src/admin-token.js).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { stackEnv, startApi } from '../support/harness.js';
import { freePort } from '../support/free-port.js';

const ROOT = resolve(import.meta.dirname, '../..');

function runNode(script: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    const clean = { PATH: process.env.PATH ?? '', ...env };
    execFile(process.execPath, [script], { cwd: ROOT, env: clean, timeout: 20_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

const METRICS_TOKEN = 'metrics-token-for-the-scraper';

describe('the image health check, and METRICS_TOKEN', () => {
  let emulator: Emulator;
  let api: { app: INestApplication; url: string };
  let worker: ChildProcess | undefined;
  let metricsPort: number;

  beforeAll(async () => {
    emulator = await startEmulator();
    const env = { ...(await stackEnv(emulator)), METRICS_TOKEN };
    api = await startApi({ ...env, ROLE: 'api' });
    metricsPort = await freePort();
    const child = spawn(process.execPath, ['dist/bundle/worker.mjs'], {
      cwd: ROOT,
      env: { ...process.env, ...env, ROLE: 'worker', WORKER_METRICS_PORT: String(metricsPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker = child;
    await new Promise<void>((ok, fail) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()).includes('worker started') && ok());
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => fail(new Error(`worker exited with ${code}: ${out}`)));
    });
  });
  afterAll(async () => {
    worker?.kill('SIGTERM');
    await api?.app.close();
    await emulator?.close();
  });

  it('passes on the API (PORT) and the worker (ROLE=worker, WORKER_METRICS_PORT), fails on a dead port', async () => {
    const apiPort = new URL(api.url).port;
    expect(await runNode('dist/src/healthcheck.js', { PORT: apiPort })).toMatchObject({ code: 0 });
    const onWorker = { ROLE: 'worker', WORKER_METRICS_PORT: String(metricsPort) };
    expect(await runNode('dist/src/healthcheck.js', onWorker)).toMatchObject({ code: 0 });
    const dead = await runNode('dist/src/healthcheck.js', { PORT: String(await freePort()) });
    expect(dead.code).toBe(1);
    expect(dead.out).toMatch(/healthcheck: http:\/\/127\.0\.0\.1:\d+\/healthz: fetch failed/);
  });
  it('asks for METRICS_TOKEN on /metrics of the API and of the worker; /healthz stays open', async () => {
    const workerUrl = `http://127.0.0.1:${metricsPort}`;
    for (const base of [api.url, workerUrl]) {
      const open = await fetch(`${base}/metrics`);
      expect(open.status, base).toBe(401);
      expect(await open.text()).not.toContain('osm_onboarding');
      const wrong = await fetch(`${base}/metrics`, {
        headers: { authorization: 'Bearer metrics-token-for-the-scrapes' },
      });
      expect(wrong.status).toBe(401);
      const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('osm_onboarding_');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    }
    const refused = await fetch(`${api.url}/metrics`);
    expect((await refused.json()).error.code).toBe('UNAUTHENTICATED');
  });
});

describe('compose admin-token init', () => {
  it('generates a token once into the file (mode 0600), keeps it later, and defers to the environment', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'admin-token-')), 'admin-token');
    const first = await runNode('dist/src/admin-token.js', { OSM_ONBOARDING_ADMIN_TOKEN_FILE: file });
    expect(first.code).toBe(0);
    const token = (await readFile(file, 'utf8')).trim();
    expect(token).toMatch(/^osmo-admin-[A-Za-z0-9_-]{32}$/);
    expect(first.out).toContain(`export T='Authorization: Bearer ${token}'`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const again = await runNode('dist/src/admin-token.js', { OSM_ONBOARDING_ADMIN_TOKEN_FILE: file });
    expect(again).toMatchObject({ code: 0 });
    expect(again.out).toContain(`kept from an earlier start in ${file}`);
    expect(again.out).not.toContain(token);
    expect((await readFile(file, 'utf8')).trim()).toBe(token);

    const env = { OSM_ONBOARDING_ADMIN_TOKEN: 'from-the-shell-0123456789', OSM_ONBOARDING_ADMIN_TOKEN_FILE: file };
    expect((await runNode('dist/src/admin-token.js', env)).out).toContain('set in the environment; nothing generated');
    const neither = await runNode('dist/src/admin-token.js', {});
    expect(neither.code).toBe(1);
    expect(neither.out).toContain('set OSM_ONBOARDING_ADMIN_TOKEN, or OSM_ONBOARDING_ADMIN_TOKEN_FILE');
  });
});

describe('a kubeconfig the service cannot act with', () => {
  /** One cluster `c` and one context `c`; `cluster` is the cluster the context names, `current` the current one. */
  const kubeconfig = (o: { cluster?: string; current?: string }) =>
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
      'users: [{name: u, user: {token: t}}]',
      `contexts: [{name: c, context: {cluster: ${o.cluster ?? 'c'}, user: u}}]`,
      `current-context: ${o.current ?? 'c'}`,
      '',
    ].join('\n');
  // Only what loadConfig needs: the processes refuse the kubeconfig before they connect to anything.
  const base = {
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/test',
    REDIS_URL: 'redis://127.0.0.1:6379',
    OSM_ONBOARDING_ADMIN_TOKEN: 'kubeconfig-check-0123456789abcdef',
    PORT: '0',
  };

  it('stops both processes at start with one line naming KUBECONFIG, never the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
    const secret = 'sekret-token-that-must-not-be-printed';
    const cases: [string, string | undefined, RegExp][] = [
      ['missing.yaml', undefined, /missing\.yaml: cannot read it \(ENOENT\)$/m],
      ['empty.yaml', '', /empty\.yaml: not a YAML document \(expected a document, but the input is empty\)$/m],
      [
        'broken.yaml',
        `users:\n- name: u\n  user: {token: "${secret}"\n`,
        /broken\.yaml: not a YAML document \(.+ at line \d+\)$/m,
      ],
      [
        'no-contexts.yaml',
        `apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n`,
        /no-contexts\.yaml has no contexts/,
      ],
    ];
    for (const [file, text, reason] of cases) {
      const path = join(dir, file);
      if (text !== undefined) await writeFile(path, text, { mode: 0o600 });
      // Both entry points check the same way: the worker is run for the first case, the API for each.
      const entries = [['dist/bundle/main.mjs', 'api']];
      if (file === cases[0][0]) entries.push(['dist/bundle/worker.mjs', 'worker']);
      for (const [entry, role] of entries) {
        const run = await runNode(entry, { ...base, ROLE: role, KUBECONFIG: path });
        expect(run.code, `${entry} with ${file}: ${run.out}`).toBe(1);
        expect(run.out).toMatch(/^Invalid configuration: KUBECONFIG: /m);
        expect(run.out).toMatch(reason);
        expect(run.out).not.toContain(secret);
        expect(run.out).not.toMatch(/^\s+at /m); // no stack trace
      }
    }
  });

  it('stops both processes at start with one line when REDIS_URL selects a database Redis lacks', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'kubeconfig-')), 'ok.yaml');
    await writeFile(path, kubeconfig({}), { mode: 0o600 });
    for (const [entry, role] of [
      ['dist/bundle/main.mjs', 'api'],
      ['dist/bundle/worker.mjs', 'worker'],
    ]) {
      // ioredis only emits Redis's refusal of SELECT and goes on in database 0 (an outside audit found the keys there).
      const missing = await runNode(entry, {
        ...base,
        ROLE: role,
        KUBECONFIG: path,
        REDIS_URL: `${base.REDIS_URL}/99`,
      });
      expect(missing.code, `${entry}: ${missing.out}`).toBe(1);
      expect(missing.out).toMatch(/^Invalid configuration: REDIS_URL: selects database 99, which this Redis does not/m);
      expect(missing.out).not.toMatch(/^\s+at /m);
      const word = await runNode(entry, { ...base, ROLE: role, KUBECONFIG: path, REDIS_URL: `${base.REDIS_URL}/abc` });
      expect(word.code).toBe(1);
      expect(word.out).toMatch(/^Invalid configuration: REDIS_URL: the database \(path\) must be a number/m);
      expect(word.out).not.toMatch(/^\s+at /m);
    }
  });

  it('starts, as kubectl would, with a dangling current-context or cluster, and logs both', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'kubeconfig-')), 'dangling.yaml');
    await writeFile(path, kubeconfig({ current: 'nowhere', cluster: 'elsewhere' }), { mode: 0o600 });
    const child = spawn(process.execPath, ['dist/bundle/main.mjs'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...base, ROLE: 'api', HOST: '127.0.0.1', KUBECONFIG: path },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    try {
      await new Promise<void>((ok, fail) => {
        // The warnings come through the logger, which may write them after the "listening" line.
        const read = (d: Buffer) => {
          out += d.toString();
          if (out.includes('listening on') && out.includes('its requests will fail')) ok();
        };
        child.stdout.on('data', read);
        child.stderr.on('data', read);
        child.on('exit', (code) => fail(new Error(`API exited with ${code}: ${out}`)));
      });
    } finally {
      child.kill('SIGKILL');
    }
    expect(out).toMatch(/current-context .?"nowhere.?" names no context/);
    expect(out).toMatch(/context .?"c.?" names cluster .?"elsewhere.?", which is not defined/);
  });

  it('refuses KUBE_IN_CLUSTER outside a pod, and in a pod without a service account token', async () => {
    const outside = await runNode('dist/bundle/worker.mjs', { ...base, ROLE: 'worker', KUBE_IN_CLUSTER: 'true' });
    expect(outside.code, outside.out).toBe(1);
    expect(outside.out).toMatch(/^Invalid configuration: KUBE_IN_CLUSTER: not in a pod: KUBERNETES_SERVICE_HOST/m);
    // This machine mounts no service account: the token file client-node reads in a pod is absent.
    const pod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const noToken = await runNode('dist/bundle/main.mjs', { ...base, ROLE: 'api', KUBE_IN_CLUSTER: 'true', ...pod });
    expect(noToken.code, noToken.out).toBe(1);
    expect(noToken.out).toMatch(/^Invalid configuration: KUBE_IN_CLUSTER: no service account token at \/\S+\/token /m);
  });
});
