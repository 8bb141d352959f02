// The runtime the project runs on: the tests themselves (this vitest worker, and every API/worker process the
// integration tests spawn with process.execPath) must run on Node 24, the version pinned by the `node`
// devDependency, engines and the Dockerfile; CI fails here if npm's PATH ever falls back to the machine's Node.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};

describe('runtime', () => {
  it('runs on Node >= 24 (the pinned node devDependency, found first on the npm script PATH)', () => {
    const major = Number(process.versions.node.split('.')[0]);
    expect(major, `process.execPath = ${process.execPath}`).toBeGreaterThanOrEqual(24);
    expect(process.versions.node).toBe(pkg.devDependencies.node);
  });

  it('engines, the node devDependency and both Dockerfile stages name the same Node', () => {
    expect(pkg.engines.node).toBe('>=24');
    expect(pkg.devDependencies.node).toMatch(/^24\.\d+\.\d+$/);
    const froms = [...readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    const image = `node:${pkg.devDependencies.node}-bookworm-slim`;
    expect(froms).toEqual([image, image]);
  });
});
