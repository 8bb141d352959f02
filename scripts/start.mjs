#!/usr/bin/env node
// `npm start`: build, migrate, then run the API with the worker in the same process (ROLE=all).
// `npm run demo`: the same against the project's Kubernetes API emulator seeded with a sample
// osm-edge install — a SIMULATED cluster, for trying the API without one.
import './check-node.mjs';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const demo = process.argv.includes('--demo');
const env = { ...process.env };

function run(cmd, args, extraEnv = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...env, ...extraEnv } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!existsSync(resolve(root, 'src/generated/prisma/client.ts'))) run('npm', ['run', '--silent', 'db:generate']);
run('npm', ['run', '--silent', 'build']);
run(process.execPath, ['dist/src/migrate.js']);

const children = [];
function stopAll(signal) {
  for (const c of children) if (c.exitCode === null) c.kill(signal);
}
process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));

async function startEmulator() {
  mkdirSync(resolve(root, '.emulator'), { recursive: true });
  const kubeconfig = resolve(root, '.emulator/kubeconfig');
  const port = env.EMULATOR_PORT ?? '6443';
  const child = spawn(
    process.execPath,
    [resolve(root, 'node_modules/tsx/dist/cli.mjs'), 'test/support/emulator/cli.ts', '--port', port, '--kubeconfig-out', kubeconfig, '--injector-lag-ms', '200'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env },
  );
  children.push(child);
  await new Promise((ok, fail) => {
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      if (d.toString().includes('listening')) ok();
    });
    child.on('exit', (code) => fail(new Error(`emulator exited with ${code}`)));
  });
  return kubeconfig;
}

if (demo) {
  env.KUBECONFIG = await startEmulator();
  env.KUBE_IN_CLUSTER = 'false';
  env.OSM_ONBOARDING_ADMIN_TOKEN ??= 'demo-admin-token-not-for-production';
  env.RESTART_SETTLE_MS ??= '500';
  console.log('demo: the cluster is SIMULATED by the Kubernetes API emulator (seeded with osm-edge v1.3.9 and the bookstore sample)');
  console.log(`demo: call the API with  -H 'Authorization: Bearer ${env.OSM_ONBOARDING_ADMIN_TOKEN}'`);
}
const api = spawn(process.execPath, ['dist/src/main.js'], { cwd: root, stdio: 'inherit', env: { ROLE: 'all', ...env } });
children.push(api);
api.on('exit', (code) => {
  stopAll('SIGTERM');
  process.exit(code ?? 0);
});
