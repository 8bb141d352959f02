// Counts the docs state about the repository, checked against the files they count: the vitest projects `npm test`
// runs (docs/development.md) and the size of the installed tree that `npx` reads (docs/api.md, from the lock file).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import config from '../../vitest.config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');
const NUMBERS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];

describe('counts in the docs', () => {
  it("docs/development.md names each of vitest's projects, and says how many there are", () => {
    const projects = (config.test?.projects as { test: { name: string } }[]).map((p) => p.test.name);
    const tests = read('docs/development.md').split('## Tests')[1];
    expect(tests).toContain(`runs vitest once over ${NUMBERS[projects.length]} projects`);
    for (const name of projects) expect(tests).toMatch(new RegExp(`^- \\*\\*${name}\\*\\* \\(`, 'm'));
  });

  it("docs/api.md's size of node_modules is the lock file's, within 10 %", () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { link?: boolean }> };
    const installed = Object.entries(lock.packages).filter(([path, p]) => path.includes('node_modules/') && !p.link);
    const said = /`node_modules`, ~([\d,]+) packages/.exec(read('docs/api.md'))?.[1];
    expect(said).toBeDefined();
    expect(Math.abs(Number(said!.replace(/,/g, '')) / installed.length - 1)).toBeLessThan(0.1);
  });
});
