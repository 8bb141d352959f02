// The runtime the project runs on: the tests themselves (this vitest worker, and every API/worker process the
// integration tests spawn with process.execPath) must run on Node 24, the version pinned by the `node`
// devDependency, engines and the Dockerfile; CI fails here if npm's PATH ever falls back to the machine's Node.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REQUIRED_NODE_MAJOR, unsupportedNode } from '../../src/node-version.js';

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

  it("refuses an older Node in the processes and in the npm scripts alike, at engines' major", async () => {
    // scripts/check-node.mjs is plain JavaScript (it runs before anything is built), loaded here by its URL.
    const script = (await import(pathToFileURL(resolve(ROOT, 'scripts/check-node.mjs')).href)) as {
      REQUIRED_MAJOR: number;
      refusal: (version: string, execPath: string) => string;
    };
    expect(pkg.engines.node).toBe(`>=${REQUIRED_NODE_MAJOR}`);
    expect(script.REQUIRED_MAJOR).toBe(REQUIRED_NODE_MAJOR);
    expect(unsupportedNode(`v${REQUIRED_NODE_MAJOR}.0.0`, '/x/node')).toBeUndefined();
    expect(unsupportedNode(process.version, process.execPath)).toBeUndefined();
    for (const old of ['v20.20.2', `v${REQUIRED_NODE_MAJOR - 1}.99.0`]) {
      const message = unsupportedNode(old, '/usr/bin/node');
      expect(message?.startsWith(`${script.refusal(old, '/usr/bin/node')} `), message).toBe(true);
      expect(message).not.toContain('\n');
    }
  });
});
