// The bundled entry point (dist/bundle/main.mjs, built by scripts/bundle.mjs), run as the image runs it, on
// each HTTP platform: the surfaces whose code is loaded only when first used (import()) or that find files at
// run time, which the in-process suite (run from the TypeScript sources) cannot see break in a bundle: the HTTP
// platform adapter, the Swagger UI assets from node_modules, the GraphiQL page, GraphQL through Apollo, and
// a request run to the end by the worker in the same process (ROLE=all, as `npm start`).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { gql, http, stackEnv, waitForStatus } from '../support/harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

for (const platform of ['fastify', 'express'] as const) {
  describe(`the bundled service on ${platform}`, () => {
    let emulator: Emulator;
    let child: ChildProcess;
    let base: string;

    beforeAll(async () => {
      emulator = await startEmulator();
      const env = await stackEnv(emulator, { ROLE: 'all', HTTP_PLATFORM: platform, GRAPHIQL: 'true' });
      child = spawn(process.execPath, ['dist/bundle/main.mjs'], {
        cwd: ROOT,
        env: { ...process.env, ...env, NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      base = await new Promise<string>((ok, fail) => {
        let out = '';
        const seen = (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
          if (m) ok(m[1]);
        };
        child.stdout!.on('data', seen);
        child.stderr!.on('data', seen);
        child.on('exit', (code) => fail(new Error(`dist/bundle/main.mjs exited with ${code}: ${out}`)));
      });
    }, 60_000);
    afterAll(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await emulator?.close();
    });

    it('serves the docs page and its Swagger UI assets from node_modules', async () => {
      const page = await fetch(`${base}/docs`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('swagger-ui');
      const css = await fetch(`${base}/docs/assets/swagger-ui.css`);
      expect(css.status).toBe(200);
      expect((await css.text()).length).toBeGreaterThan(10_000);
    });

    it('serves the GraphiQL page and answers GraphQL', async () => {
      const page = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('osm-onboarding GraphiQL');
      const { data, errors } = await gql(base, '{ onboardingRequests(first: 1) { edges { node { id } } } }');
      expect(errors).toBeUndefined();
      expect(Array.isArray(data.onboardingRequests.edges)).toBe(true);
    });

    it('onboards a namespace from REST to the end', async () => {
      const res = await http(base, 'POST', '/v1/onboardings', { namespace: 'bookbuyer', restart: { mode: 'all' } });
      expect(res.status).toBe(202);
      const done = await waitForStatus(base, res.body.id, ['SUCCEEDED', 'FAILED'], 30_000);
      expect(done.status).toBe('SUCCEEDED');
      const ns = await fetch(`${emulator.url}/api/v1/namespaces/bookbuyer`, {
        headers: { authorization: `Bearer ${emulator.token}` },
      }).then((r) => r.json() as Promise<{ metadata: { labels: Record<string, string> } }>);
      expect(ns.metadata.labels['openservicemesh.io/monitored-by']).toBe('osm');
    });
  });
}
