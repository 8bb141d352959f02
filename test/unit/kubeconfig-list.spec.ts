// A KUBECONFIG list is merged as kubectl merges it (cluster-gateway.ts, loadKubeconfigList): a missing file is
// skipped, the first definition of a name wins, the first current-context wins. client-node refused the first two
// (ENOENT, "Duplicate cluster") and kept the last current-context.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKubeconfig } from '../../src/kubernetes/cluster-gateway.js';

const file = (cluster: string, server: string, current?: string) =>
  [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: ${cluster}, cluster: {server: "${server}"}}]`,
    `users: [{name: ${cluster}-user, user: {token: t}}]`,
    `contexts: [{name: ${cluster}, context: {cluster: ${cluster}, user: ${cluster}-user}}]`,
    ...(current ? [`current-context: ${current}`] : []),
    '',
  ].join('\n');

describe('a KUBECONFIG list', () => {
  it('skips missing files, keeps the first definition of a name and the first current-context', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-list-'));
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    await writeFile(a, file('prod', 'https://prod.example:6443', 'prod'));
    await writeFile(b, file('prod', 'https://other.example:6443', 'staging'));
    const c = join(dir, 'c.yaml');
    await writeFile(c, file('staging', 'https://staging.example:6443', 'staging'));
    const kc = loadKubeconfig({
      inCluster: false,
      kubeconfigPath: [join(dir, 'missing.yaml'), a, b, c].join(':'),
    } as Parameters<typeof loadKubeconfig>[0]);
    expect(kc.getContexts().map((x) => x.name)).toEqual(['prod', 'staging']);
    expect(kc.getCluster('prod')?.server).toBe('https://prod.example:6443');
    expect(kc.getCurrentContext()).toBe('prod');
  });

  it('is refused, naming KUBECONFIG, when none of its files exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubeconfig-list-'));
    expect(() =>
      loadKubeconfig({
        inCluster: false,
        kubeconfigPath: [join(dir, 'x.yaml'), join(dir, 'y.yaml')].join(':'),
      } as Parameters<typeof loadKubeconfig>[0]),
    ).toThrow(/KUBECONFIG: .* has no contexts/);
  });
});
