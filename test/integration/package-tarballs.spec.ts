// The tarballs of the workspace packages (packages/client, packages/backstage-scaffolder-module), packed as their
// READMEs' install sections say (`npm pack ./packages/<name>`) from a checkout whose dist/ was never built (dist/ is
// git-ignored): each package's `prepack` builds it, so the tarball holds the JavaScript and the declarations its
// `exports` point at. Packed from a copy of the package (the repository's tsconfig.json beside it, node_modules
// linked), so the working tree's own dist/ is neither used nor touched.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'osm-pack-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm pack of a workspace package from an unbuilt checkout', () => {
  cpSync(resolve(ROOT, 'tsconfig.json'), join(scratch, 'tsconfig.json'));
  symlinkSync(resolve(ROOT, 'node_modules'), join(scratch, 'node_modules'));

  for (const name of ['client', 'backstage-scaffolder-module']) {
    it(`${name}: the tarball holds dist/ (built by prepack)`, async () => {
      const from = resolve(ROOT, 'packages', name);
      cpSync(from, join(scratch, 'packages', name), {
        recursive: true,
        filter: (path) => !/[/\\](dist|test|node_modules)$/.test(path.slice(from.length)),
      });
      const { stdout } = await run('npm', ['pack', '--dry-run', '--json', `./packages/${name}`], {
        cwd: scratch,
        env: { ...process.env, npm_config_update_notifier: 'false' },
      });
      const [packed] = JSON.parse(stdout) as { files: { path: string }[] }[];
      const files = packed.files.map((f) => f.path);
      expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'package.json']));
    }, 60_000);
  }
});
