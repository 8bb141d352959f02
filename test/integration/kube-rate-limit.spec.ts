import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type AppConfig } from '../../src/config/config.js';
import { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { RedisService } from '../../src/redis/redis.service.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';
import { TcpProxy } from '../faults/tcp-proxy.js';

// K8S_QPS/K8S_BURST is a budget per cluster: two replicas (two gateways, each with its own Redis
// connection) share it through Redis, unless K8S_RATE_LIMIT_SCOPE=process.
describe('the per-cluster Kubernetes call budget, shared by replicas through Redis', () => {
  let emulator: Emulator;
  let kubeconfig: string;
  const redises: RedisService[] = [];

  beforeAll(async () => {
    emulator = await startEmulator();
    const dir = await mkdtemp(join(tmpdir(), 'rate-'));
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, emulator.kubeconfig());
  });
  afterAll(async () => {
    await Promise.all(redises.map((r) => r.onModuleDestroy()));
    await emulator?.close();
  });

  function replica(env: Record<string, string>): { gateway: ClusterGateway; config: AppConfig; redis: RedisService } {
    const config = loadConfig({
      KUBECONFIG: kubeconfig,
      REDIS_URL: inject('redisUrl'),
      K8S_QPS: '20',
      K8S_BURST: '5',
      ...env,
    });
    const redis = new RedisService(config);
    redises.push(redis);
    return { gateway: new ClusterGateway(config, redis), config, redis };
  }

  /** 100 GETs, half through each replica, all at once; the wall time. */
  async function hundredCalls(a: ClusterGateway, b: ClusterGateway): Promise<number> {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).client(a.defaultCluster()).getNamespace('default')),
    );
    return (performance.now() - t0) / 1000;
  }

  it('two replicas together stay within K8S_QPS (20/s, burst 5): 100 calls take at least 4 windows', async () => {
    const prefix = `rl-${randomBytes(3).toString('hex')}`;
    const a = replica({ QUEUE_PREFIX: prefix });
    const b = replica({ QUEUE_PREFIX: prefix });
    await Promise.all([a, b].map(({ redis }) => redis.client.ping())); // both connections up
    const before = emulator.requests.all().length;
    const shared = await hundredCalls(a.gateway, b.gateway);
    expect(emulator.requests.all().length - before).toBe(100);
    // 25 in the first second (20 + the burst of 5), then 20 per second: the last batch starts at 4 s.
    expect(shared).toBeGreaterThanOrEqual(3.8);

    // Per process: each replica has the full budget (50 calls each: 25 + 20 + 5 → about 2 s).
    const p = `rl-${randomBytes(3).toString('hex')}`;
    const c = replica({ QUEUE_PREFIX: p, K8S_RATE_LIMIT_SCOPE: 'process' });
    const d = replica({ QUEUE_PREFIX: p, K8S_RATE_LIMIT_SCOPE: 'process' });
    const perProcess = await hundredCalls(c.gateway, d.gateway);
    expect(perProcess).toBeGreaterThanOrEqual(1.9);
    expect(perProcess).toBeLessThan(shared);
  });

  it('leases the budget: one command per 10 calls at K8S_QPS=100 when busy, none used past its window', async () => {
    const prefix = `rl-${randomBytes(3).toString('hex')}`;
    const { gateway, redis } = replica({ QUEUE_PREFIX: prefix, K8S_QPS: '100', K8S_BURST: '10' });
    const kube = gateway.client(gateway.defaultCluster());
    await redis.client.ping();
    const counter = async () => {
      const [key] = (await redis.client.keys(`${prefix}:k8s-rate:*`)).filter((k) => !k.includes(':burst'));
      return key ? Number(await redis.client.get(key)) : 0;
    };
    // The window (1 s) starts with its first command: these calls all fall in it. A process new to the budget takes
    // 1; used up within its window, the next lease is the full 10 (a tenth of the window's 100).
    for (let i = 0; i < 3; i++) await kube.getNamespace('default');
    expect(await counter()).toBe(11);
    // 25 callers at once: the 8 in hand, then one lease at a time for the rest: 2 more leases (3 left in hand).
    await Promise.all(Array.from({ length: 25 }, () => kube.getNamespace('default')));
    expect(await counter()).toBe(31);
    // Past its window a lease is gone: the next call takes a new one from the new window, sized by the last window's
    // 28 calls (10). A process that kept using its old calls would call without counting them anywhere.
    await new Promise((r) => setTimeout(r, 1100));
    expect(await counter()).toBe(0); // the window's key expired with it
    await kube.getNamespace('default');
    expect(await counter()).toBe(10);
    // After a quiet window a process takes what one call needs: 1 (an API replica's occasional read holds none).
    await new Promise((r) => setTimeout(r, 2100));
    await kube.getNamespace('default');
    expect(await counter()).toBe(1);
  });

  it('leases the burst too: once the window is used up, a few commands for the burst, not two per call', async () => {
    const prefix = `rl-${randomBytes(3).toString('hex')}`;
    const { gateway, redis } = replica({ QUEUE_PREFIX: prefix, K8S_QPS: '100', K8S_BURST: '30' });
    const kube = gateway.client(gateway.defaultCluster());
    await redis.client.ping();
    // What the limiter sends on its connection (the scripts' own commands run inside Redis and are not counted):
    // the asks charged to the burst. Recorded where ioredis writes each command, not with MONITOR, whose feed of
    // every test file's commands races ioredis' own switch into and out of monitoring mode.
    const client = redis.client;
    const send = client.sendCommand.bind(client);
    const burstAsks: string[][] = [];
    client.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: unknown) => {
      const args = command.args.map(String);
      if (args.some((a) => a.startsWith(`${prefix}:`) && a.includes(':burst'))) burstAsks.push(args);
      return send(command, stream as never);
    }) as Redis['sendCommand'];
    try {
      const before = emulator.requests.all().length;
      const t0 = performance.now();
      const done: number[] = [];
      await Promise.all(
        Array.from({ length: 140 }, () => kube.getNamespace('default').then(() => done.push(performance.now() - t0))),
      );
      expect(emulator.requests.all().length - before).toBe(140);
      // 100 calls of the window (10 leases of 10), then the burst: an ask of 1 finds the window used up and learns
      // what the burst has left (29), then leases of 10, 10 and 9. Two Redis commands per call would be 30 asks.
      expect(burstAsks.length).toBeGreaterThanOrEqual(2);
      expect(burstAsks.length).toBeLessThanOrEqual(6);
      // The budget holds: 130 calls in the first window, the 10 over it wait for the next (1 s after its first ask).
      done.sort((a, b) => a - b);
      expect(done[129]).toBeLessThan(done[139]);
      expect(done[139]).toBeGreaterThanOrEqual(900);
    } finally {
      client.sendCommand = send;
    }
  });

  it('without Redis each replica falls back to its own bucket instead of failing or stalling', async () => {
    const lonely = replica({ REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: `rl-${randomBytes(3).toString('hex')}` });
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => lonely.gateway.client(lonely.gateway.defaultCluster()).getNamespace('default')),
    );
    expect(results.every((n) => n.metadata?.name === 'default')).toBe(true);
    // The burst of 5 plus 5 more at 20/s (~250 ms), not a Redis command timeout (1 s) per call.
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('when Redis goes silent on a live connection, calls go on within the process budget (insurance)', async () => {
    // A proxy of this test's own in front of the shared Redis: silenced, the connection stays open (the client is
    // still `ready`) and every rate-limit command times out (1 s). The Redis limiters then answer from their
    // insurance limiters; without them the command's error would fail the Kubernetes call.
    const proxy = await TcpProxy.start(inject('redisUrl'));
    try {
      const prefix = `rl-${randomBytes(3).toString('hex')}`;
      const r = replica({
        REDIS_URL: proxy.url(inject('redisUrl')),
        QUEUE_PREFIX: prefix,
        K8S_QPS: '2',
        K8S_BURST: '1',
      });
      const direct = replica({ QUEUE_PREFIX: prefix }).redis.client; // the shared budget, not through the proxy
      const kube = r.gateway.client(r.gateway.defaultCluster());
      await r.redis.client.ping();
      // 2 per second plus a burst of 1 (a minute long): three calls spend the burst in Redis.
      for (let i = 0; i < 3; i++) await kube.getNamespace('default');
      const [burstKey] = await direct.keys(`${prefix}:k8s-rate:*:burst:*`);
      expect(await direct.get(burstKey)).toBe('1');

      proxy.silence();
      const before = emulator.requests.all().length;
      // The process's own budget is fresh: three calls, each once its Redis command timed out.
      const results = await Promise.all(Array.from({ length: 3 }, () => kube.getNamespace('default')));
      expect(results.map((n) => n.metadata?.name)).toEqual(['default', 'default', 'default']);
      expect(emulator.requests.all().length - before).toBe(3);
      // Still "connected" throughout: these calls took the insurance path, not the not-connected fallback.
      expect(r.redis.client.status).toBe('ready');
      // And the shared budget did not see them (its burst, spent, would have held them for a minute).
      expect(await direct.get(burstKey)).toBe('1');
    } finally {
      await proxy.close();
    }
  });

  it('the namespace view takes at most K8S_VIEW_SHARE of the budget, and from within it', async () => {
    // K8S_QPS=10 with a burst of 1; the view's share of a half: 5 calls a second, a burst of 1.
    const { gateway } = replica({
      QUEUE_PREFIX: `rl-${randomBytes(3).toString('hex')}`,
      K8S_RATE_LIMIT_SCOPE: 'process',
      K8S_QPS: '10',
      K8S_BURST: '1',
      K8S_VIEW_SHARE: '0.5',
    });
    const cluster = gateway.defaultCluster();
    const t0 = performance.now();
    const done = (calls: Promise<unknown>[]) => Promise.all(calls).then(() => (performance.now() - t0) / 1000);
    // 30 view reads and 12 of a request's, all at once.
    const [view, request] = await Promise.all([
      done(Array.from({ length: 30 }, () => gateway.viewClient(cluster).getNamespace('default'))),
      done(Array.from({ length: 12 }, () => gateway.client(cluster).getNamespace('default'))),
    ]);
    // The view: 6 in the first second, then 5 a second: its last call waits for the sixth window.
    expect(view).toBeGreaterThanOrEqual(4.8);
    // The request's calls get the other half at least (the first second's 11 less the view's 6, then 5 a second):
    // done by the third window, where one budget for both would have served them among the view's 42 calls.
    expect(request).toBeLessThan(view - 2);
  });
});
