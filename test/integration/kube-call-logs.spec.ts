// The Kubernetes call log lines (ClusterGateway): a failed call is a warning, a write at info, a read at debug; a GET
// answered 404 (how a step learns an object is absent) is a read, not a warning (an outside audit counted 1,447 such
// warnings in a run of plans with SMI objects).
import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { ClusterGateway } from '../../src/kubernetes/cluster-gateway.js';
import { gatewayFor } from '../support/step-context.js';
import { startEmulator, type Emulator } from '../support/emulator/index.js';

let emu: Emulator;
let gateway: ClusterGateway;

beforeAll(async () => {
  emu = await startEmulator();
  ({ gateway } = await gatewayFor(emu, { LOG_LEVEL: 'debug' }));
});
afterAll(() => emu?.close());

it('logs a GET answered 404 at debug, and a failed write as a warning', async () => {
  const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const debug = vi.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  const messages = (spy: typeof warn) => spy.mock.calls.map(([line]) => (line as { msg: string }).msg);
  try {
    const kube = gateway.client(gateway.defaultCluster());
    await expect(kube.getNamespace('nowhere')).rejects.toMatchObject({ reason: 'NOT_FOUND' });
    await expect(kube.patchNamespace('nowhere', { metadata: { labels: { a: 'b' } } }, 'merge')).rejects.toMatchObject({
      reason: 'NOT_FOUND',
    });
    expect(messages(debug)).toEqual([expect.stringMatching(/^kubernetes: get namespace nowhere → 404 in \d+ ms$/)]);
    expect(messages(warn)).toEqual([expect.stringMatching(/^kubernetes: patch namespace nowhere → 404 in \d+ ms$/)]);
  } finally {
    warn.mockRestore();
    debug.mockRestore();
  }
});
