// One cluster's authentication is computed once and reused by the calls of the next second
// (src/kubernetes/cluster-client.ts, AUTH_REUSE_MS), and credentials that changed meanwhile still work: a 401 answered
// to reused credentials is tried once more with fresh ones. Real KubeConfig, real emulator over TLS; the KubeConfig's
// own method is only counted (it still runs). An exec credential plugin's credential, which client-node keeps, is
// asked for again when the API server refuses it (a real plugin: a shell script).
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { dump, load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClusterClient } from '../../src/kubernetes/cluster-client.js';
import { KubeError } from '../../src/kubernetes/kube-error.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';

describe('Kubernetes API authentication, reused', () => {
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(async () => {
    await emulator?.close();
  });

  function client(): { client: ClusterClient; kc: k8s.KubeConfig; authentications: () => number } {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(emulator.kubeconfig());
    const spy = vi.spyOn(kc, 'applySecurityAuthentication');
    const c = new ClusterClient('emulator', kc, {
      requestTimeoutMs: 5_000,
      connectionIdleMs: 60_000,
      limiter: { take: () => Promise.resolve() },
      fieldManager: 'osm-onboarding-test',
    });
    return { client: c, kc, authentications: () => spy.mock.calls.length };
  }

  /** The user's bearer token, as a rotated credential would change it (KubeConfig keeps the object it loaded). */
  const setToken = (kc: k8s.KubeConfig, token: string) => {
    (kc.getCurrentUser() as { token?: string }).token = token;
  };

  /**
   * A client whose first call was refused with a wrong token it now keeps for the second that follows, and the right
   * token back in its KubeConfig (a credential that changed after it was read).
   */
  async function refusedThenRotated() {
    const made = client();
    const good = (made.kc.getCurrentUser() as { token?: string }).token!;
    setToken(made.kc, 'rotated-away');
    const since = Date.now();
    // Fresh credentials the server refuses: the 401 is the answer, with no second try.
    await expect(made.client.getNamespace('default')).rejects.toMatchObject({ reason: 'UNAUTHORIZED' });
    setToken(made.kc, good);
    return { ...made, since };
  }

  const statuses = (since: number) =>
    emulator.requests
      .all()
      .filter((e) => e.at >= since && e.resource === 'namespaces')
      .map((e) => e.status);

  it('authenticates once for the calls of one second, and again after it', async () => {
    const { client: c, authentications } = client();
    for (let i = 0; i < 10; i++) await c.getNamespace('default');
    // Ten calls well within a second of the first (an emulator call takes a few ms).
    expect(authentications()).toBe(1);
    await new Promise((r) => setTimeout(r, 1_100));
    await c.getNamespace('default');
    expect(authentications()).toBe(2);
  });

  it('a changed credential, reused: the refused call is sent again with fresh credentials', async () => {
    const { client: c, since, authentications } = await refusedThenRotated();
    expect(statuses(since)).toEqual([401]);
    // The right token now; the next call (within the second) reuses the refused one, gets a 401, and goes again.
    const ns = await c.getNamespace('default');
    expect(ns.metadata?.name).toBe('default');
    expect(statuses(since)).toEqual([401, 401, 200]);
    expect(authentications()).toBe(2);
    // The fresh credentials are kept for the calls that follow.
    await c.getNamespace('default');
    expect(statuses(since)).toEqual([401, 401, 200, 200]);
    expect(authentications()).toBe(2);
  });

  it('a watch refused with reused credentials drops them: the next call authenticates afresh', async () => {
    const { client: c, since, authentications } = await refusedThenRotated();
    // A watch is not sent again (its caller watches again), but its refusal forgets the credentials it carried.
    await expect(c.watchNamespaces({ deadline: Date.now() + 5_000, onEvent: () => true })).rejects.toMatchObject({
      reason: 'UNAUTHORIZED',
    });
    await c.getNamespace('default');
    expect(statuses(since)).toEqual([401, 401, 200]);
    expect(authentications()).toBe(2);
  });

  it('a write refused with reused credentials is sent once more with fresh ones, and no more', async () => {
    const { client: c, kc, authentications } = client();
    setToken(kc, 'not-the-token');
    const since = Date.now();
    await expect(c.getNamespace('default')).rejects.toMatchObject({ reason: 'UNAUTHORIZED' });
    // A write (never retried for a transient failure) within the second: its reused credentials are refused, then
    // its fresh ones too (the token is still wrong), and the 401 is the answer.
    const err = await c
      .patchNamespace('default', { metadata: { labels: { probe: 'x' } } }, 'merge')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).reason).toBe('UNAUTHORIZED');
    expect(statuses(since)).toEqual([401, 401, 401]);
    expect(authentications()).toBe(2);
  });

  describe('an exec credential plugin', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'exec-credential-'));
      for (const name of ['first', 'second'])
        emulator.store.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'default' } });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /**
     * A kubeconfig whose user runs a plugin that prints the token in `<dir>/token` as an ExecCredential without an
     * expirationTimestamp (client-node then keeps it for good), and counts its runs in `<dir>/runs`.
     */
    function execClient(): ClusterClient {
      const plugin = join(dir, 'plugin.sh');
      writeFileSync(
        plugin,
        [
          '#!/bin/sh',
          `echo run >> '${dir}/runs'`,
          `credential='{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'`,
          `printf '%s"status":{"token":"%s"}}' "$credential" "$(cat '${dir}/token')"`,
          '',
        ].join('\n'),
      );
      chmodSync(plugin, 0o755);
      const config = load(emulator.kubeconfig()) as { users: { user: Record<string, unknown> }[] };
      config.users[0].user = {
        exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' },
      };
      const kc = new k8s.KubeConfig();
      kc.loadFromString(dump(config));
      return new ClusterClient('emulator', kc, {
        requestTimeoutMs: 5_000,
        connectionIdleMs: 60_000,
        limiter: { take: () => Promise.resolve() },
        fieldManager: 'osm-onboarding-test',
      });
    }
    const runs = () => readFileSync(join(dir, 'runs'), 'utf8').trim().split('\n').length;

    it('a kept credential the API server refuses: the plugin runs again and the call goes through', async () => {
      writeFileSync(join(dir, 'token'), emulator.tokenFor({ namespace: 'default', serviceAccount: 'first' }));
      const c = execClient();
      // RBAC grants these ServiceAccounts nothing: a 403 says the token was accepted, a 401 that it was refused.
      const authenticated = () =>
        c.getNamespace('default').then(
          () => 'ok',
          (e: unknown) => (e as KubeError).reason,
        );
      expect(await authenticated()).toBe('FORBIDDEN');
      expect(runs()).toBe(1);
      // Well past AUTH_REUSE_MS: client-node still answers from its kept credential, without running the plugin.
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await authenticated()).toBe('FORBIDDEN');
      expect(runs()).toBe(1);
      // The credential is revoked (its ServiceAccount deleted) and the plugin now gives another one.
      writeFileSync(join(dir, 'token'), emulator.tokenFor({ namespace: 'default', serviceAccount: 'second' }));
      emulator.store.delete({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'default', name: 'first' });
      const since = Date.now();
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await authenticated()).toBe('FORBIDDEN');
      expect(statuses(since)).toEqual([401, 403]);
      expect(runs()).toBe(2);
    });
  });
});
