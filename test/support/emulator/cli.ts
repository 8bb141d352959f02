// `npm run emulator -- --port 6443 --kubeconfig-out .emulator/kubeconfig [--seed osm|empty]
//  [--injector-lag-ms N] [--latency-ms N] [--pod-start-ms N] [--token T] [--contexts a,b]`
// Runs the emulator until SIGINT/SIGTERM.

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmulator } from './index.js';

function numberFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '6443' },
      'kubeconfig-out': { type: 'string', default: '.emulator/kubeconfig' },
      seed: { type: 'string', default: 'osm' },
      'injector-lag-ms': { type: 'string' },
      'latency-ms': { type: 'string' },
      'pod-start-ms': { type: 'string' },
      token: { type: 'string' },
      contexts: { type: 'string' },
    },
    strict: true,
  });
  if (values.seed !== 'osm' && values.seed !== 'empty')
    throw new Error(`--seed must be osm or empty, got ${values.seed}`);
  const emulator = await startEmulator({
    port: numberFlag(values.port, 'port'),
    seed: values.seed,
    token: values.token,
    injectorLagMs: numberFlag(values['injector-lag-ms'], 'injector-lag-ms'),
    podStartMs: numberFlag(values['pod-start-ms'], 'pod-start-ms'),
  });
  const latency = numberFlag(values['latency-ms'], 'latency-ms');
  if (latency) emulator.faults.setLatency(latency);
  const path = resolve(values['kubeconfig-out'] ?? '.emulator/kubeconfig');
  const contexts = values.contexts
    ? values.contexts
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean)
    : undefined;
  await emulator.writeKubeconfig(path, { contexts });
  console.log(`emulator listening on ${emulator.url}; kubeconfig written to ${path} (SIMULATED cluster)`);

  const stop = (signal: string): void => {
    console.error(`emulator: ${signal}, shutting down`);
    void emulator.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`emulator: ${(err as Error).message}`);
  process.exit(1);
});
