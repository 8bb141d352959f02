// docker-compose.yml's promises (`.ci/run` checks that it is valid with `docker-compose config -q`): one image
// built once and reused, ports published on 127.0.0.1 only, the admin token shared through one volume, and
// the databases usable by `npm run demo` / `npm test` on the host (passwordless `postgres`). And the
// Dockerfile's build: what `npm run build:service` needs is copied in, and the bundles it writes are what runs.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

interface Service {
  image?: string;
  build?: unknown;
  pull_policy?: string;
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { disable?: boolean };
}
const ROOT = resolve(import.meta.dirname, '../..');
const text = readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8');
const compose = load(text) as { services: Record<string, Service> };
const { services } = compose;
const APP = ['migrate', 'admin-token', 'api', 'worker'];

describe('docker-compose.yml', () => {
  it('builds one image once and runs migrate, admin-token, api and worker from it', () => {
    expect(Object.keys(services).sort()).toEqual(['admin-token', 'api', 'migrate', 'postgres', 'redis', 'worker']);
    expect(new Set(APP.map((s) => services[s].image))).toEqual(new Set(['osm-onboarding:local']));
    expect(APP.filter((s) => services[s].build !== undefined)).toEqual(['migrate']);
    for (const s of APP.filter((name) => name !== 'migrate')) expect(services[s].pull_policy, s).toBe('never');
  });

  it('publishes every port on 127.0.0.1 only', () => {
    const ports = Object.values(services).flatMap((s) => s.ports ?? []);
    expect(ports.sort()).toEqual([
      '127.0.0.1:3000:3000',
      '127.0.0.1:5432:5432',
      '127.0.0.1:6379:6379',
      '127.0.0.1:9464:9464',
    ]);
  });

  it('gives api and worker the same admin token and the worker a health check on its metrics port', () => {
    for (const s of ['api', 'worker']) {
      expect(services[s].environment?.OSM_ONBOARDING_ADMIN_TOKEN_FILE, s).toBe('/var/lib/osm-onboarding/admin-token');
      expect(services[s].volumes, s).toContain('admin-token:/var/lib/osm-onboarding:ro');
      expect(services[s].healthcheck, s).toBeUndefined(); // the image's: dist/src/healthcheck.js
    }
    expect(services.worker.environment).toMatchObject({ ROLE: 'worker', WORKER_METRICS_PORT: '9464' });
    const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK .*CMD \["node", "dist\/src\/healthcheck\.js"\]$/m);
  });

  it('serves the host-side quick start: a passwordless postgres superuser and the default database', () => {
    expect(services.postgres.environment).toMatchObject({
      POSTGRES_HOST_AUTH_METHOD: 'trust',
      POSTGRES_DB: 'osm_onboarding',
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  it('copies into its build stage every script that `npm run build:service` runs', () => {
    const build = dockerfile.slice(0, dockerfile.indexOf('RUN npm run build:service'));
    const copied = [...build.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    const scripts = pkg.scripts['build:service'].match(/scripts\/[\w.-]+/g) ?? [];
    expect(scripts).toContain('scripts/bundle.mjs');
    for (const script of scripts) expect(copied, script).toContain(script);
  });

  it('runs the bundled entry points that the build writes', () => {
    expect(pkg.scripts['build:service']).toContain('node scripts/bundle.mjs');
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/bundle\/main\.mjs"\]$/m);
    for (const s of ['api', 'worker']) expect(JSON.stringify(services[s]), s).not.toContain('dist/src/');
  });
});
