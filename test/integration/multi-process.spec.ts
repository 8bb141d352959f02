import { spawn, ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { collectProgress, http, stackEnv, startApi, uniqueName, wsClient } from '../support/harness.js';
import { createNamespace, namespaceMeta } from '../support/kube.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The worker as its own OS process, started from the build like `npm run start:worker`. */
function spawnWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['dist/bundle/worker.mjs'], {
    cwd: ROOT,
    env: { ...process.env, ...env, ROLE: 'worker' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolveStarted, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker started')) resolveStarted(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${out}`)));
  });
}

describe('API and worker in separate processes, two API instances', () => {
  let emulator: Emulator;
  let apiA: { app: INestApplication; url: string };
  let apiB: { app: INestApplication; url: string };
  let worker: ChildProcess;

  beforeAll(async () => {
    emulator = await startEmulator();
    const env = await stackEnv(emulator);
    apiA = await startApi({ ...env, ROLE: 'api' });
    apiB = await startApi({ ...env, ROLE: 'api' });
    worker = await spawnWorker(env);
  });
  afterAll(async () => {
    worker?.kill('SIGTERM');
    await Promise.all([apiA?.app.close(), apiB?.app.close()]);
    await emulator?.close();
  });

  it('a request made on instance A streams every event to a subscriber on instance B', async () => {
    const ns = uniqueName('cross');
    await createNamespace(emulator, ns);
    const created = await http(apiA.url, 'POST', '/v1/onboardings', { namespace: ns });
    expect(created.status).toBe(202);
    const client = wsClient(apiB.url);
    try {
      const { events, error } = await collectProgress(client, created.body.id);
      expect(error).toBeUndefined();
      expect(events.map((e) => e.cursor)).toEqual(events.map((_, i) => i + 1));
      expect(events.at(-1).type).toBe('request.succeeded');
      expect(events.find((e) => e.type === 'request.started').data.worker).toMatch(new RegExp(`:${worker.pid}:`));
    } finally {
      await client.dispose();
    }
    expect((await namespaceMeta(emulator, ns)).labels['openservicemesh.io/monitored-by']).toBe('osm');
    const fromB = await http(apiB.url, 'GET', `/v1/onboardings/${created.body.id}`);
    expect(fromB.body.status).toBe('SUCCEEDED');
  });
});
