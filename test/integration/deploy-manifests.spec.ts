// deploy/ as an operator uses it (deploy/README.md, "The image" and "Install"): after the README's
// `kustomize edit set image` step, `kubectl kustomize` of each kustomization gives every workload in deploy/ (the
// API and worker Deployments, the migration Job) the registry's image; no manifest is left outside a kustomization
// (it would keep `osm-onboarding:0.1.0`, Docker Hub's library/ on a real cluster). And the containers request the
// memory that docs/operations.md tells operators to plan. The `set image` edit is applied as kustomize writes it
// (an `images:` entry with newName and newTag); `kubectl kustomize` is the real kustomize built into kubectl.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { dump, load, loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { findBinary, itWith } from '../support/binaries.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DEPLOY = join(ROOT, 'deploy');
const run = promisify(execFile);

interface Image {
  name: string;
  newName?: string;
  newTag?: string;
}
interface Obj {
  kind: string;
  metadata: { name: string };
  spec?: any;
}
interface Container {
  name: string;
  image: string;
  resources?: { requests?: { memory?: string }; limits?: { memory?: string } };
}

/** Every file under `dir`, recursively, relative to `dir`. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) =>
    statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)).map((g) => join(f, g)) : [f],
  );
/** The kustomization directories under deploy/, relative to the repository root (`deploy`, `deploy/migrate`). */
const kustomizations = () =>
  filesUnder(DEPLOY)
    .filter((f) => f.endsWith('kustomization.yaml'))
    .map((f) => relative(ROOT, join(DEPLOY, f, '..')))
    .sort();
const podSpec = (o: Obj) => (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec);
const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'];
const containersOf = (objects: Obj[]): (Container & { owner: string })[] =>
  objects
    .filter((o) => WORKLOADS.includes(o.kind))
    .flatMap((o) =>
      [...(podSpec(o).initContainers ?? []), ...podSpec(o).containers].map((c: Container) => ({
        ...c,
        owner: `${o.kind}/${o.metadata.name}`,
      })),
    );
/** Every object of every manifest file under deploy/ (kustomization files aside). */
const rawObjects = (): Obj[] =>
  filesUnder(DEPLOY)
    .filter((f) => f.endsWith('.yaml') && !f.endsWith('kustomization.yaml'))
    .flatMap((f) => loadAll(readFileSync(join(DEPLOY, f), 'utf8')) as Obj[])
    .filter(Boolean);
const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;

/** Quantity → bytes (Mi, Gi, M, G, or plain bytes). */
function bytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  if (!m) throw new Error(`unexpected quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

describe('deploy/', () => {
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  it("names the same image, tagged with the package version, in every kustomization's images", () => {
    expect(kustomizations()).toEqual(['deploy', 'deploy/migrate']);
    for (const dir of kustomizations()) {
      const k = load(readFileSync(join(ROOT, dir, 'kustomization.yaml'), 'utf8')) as { images: Image[] };
      expect(k.images, dir).toEqual([{ name: 'osm-onboarding', newTag: version }]);
    }
  });

  itWith(['kubectl'])(
    "gives every workload the registry's image once the README's `kustomize edit set image` step has run",
    async () => {
      // The README's step: the directories it edits, and the image it sets.
      const step =
        /^for dir in ([^;]+); do \(cd \$dir && kustomize edit set image osm-onboarding=\$image\); done$/m.exec(readme);
      expect(step, 'the set-image step in deploy/README.md').not.toBeNull();
      const edited = step![1].trim().split(/\s+/);
      expect(edited.sort()).toEqual(kustomizations());
      expect(readme).toContain('image=registry.example.com/platform/osm-onboarding:$version');
      const image = `registry.example.com/platform/osm-onboarding:${version}`;

      const copy = mkdtempSync(join(tmpdir(), 'deploy-'));
      cpSync(DEPLOY, join(copy, 'deploy'), { recursive: true });
      for (const dir of edited) {
        const file = join(copy, dir, 'kustomization.yaml');
        const k = load(readFileSync(file, 'utf8')) as { images?: Image[] };
        const [newName, newTag] = image.split(/:(?=[^:/]+$)/);
        k.images = [
          ...(k.images ?? []).filter((i) => i.name !== 'osm-onboarding'),
          { name: 'osm-onboarding', newName, newTag },
        ];
        writeFileSync(file, dump(k));
      }
      const kubectl = findBinary('kubectl')!;
      const built: Obj[] = [];
      for (const dir of edited) {
        const { stdout } = await run(kubectl, ['kustomize', join(copy, dir)]);
        built.push(...(loadAll(stdout) as Obj[]).filter(Boolean));
      }

      // Nothing in deploy/ is outside a kustomization (a manifest left out keeps its image as written)…
      expect(built.map(key).sort()).toEqual(rawObjects().map(key).sort());
      // …and every container of every workload runs the registry's image.
      const containers = containersOf(built);
      expect(containers.map((c) => c.owner).sort()).toEqual([
        'Deployment/osm-onboarding-api',
        'Deployment/osm-onboarding-worker',
        'Job/osm-onboarding-migrate',
      ]);
      for (const c of containers) expect(c.image, c.owner).toBe(image);
    },
    30_000,
  );

  it('requests the memory that docs/operations.md plans per container, and limits it above the V8 heap cap', () => {
    const operations = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const plan = /plan on ~(\d+)–(\d+) MB per API or worker container/.exec(operations);
    expect(plan, 'the memory plan in docs/operations.md').not.toBeNull();
    const [low, high] = [Number(plan![1]) * 1e6, Number(plan![2]) * 1e6];
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(dockerfile)![1]) * 2 ** 20;
    const deployments = rawObjects().filter((o) => o.kind === 'Deployment');
    expect(deployments).toHaveLength(2);
    for (const c of containersOf(deployments)) {
      const request = bytes(c.resources!.requests!.memory!);
      const limit = bytes(c.resources!.limits!.memory!);
      expect(request, `${c.owner} requests`).toBeGreaterThanOrEqual(low);
      expect(limit, `${c.owner} limit`).toBeGreaterThanOrEqual(Math.max(high, request, oldSpace * 2));
    }
  });
});
