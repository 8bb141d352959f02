// The import rules of docs/architecture.md, checked on the source text so they cannot regress: no step imports
// another step, mesh/ stays pure, the modules below do not reach back up. Reads files only (no I/O beyond src/).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

interface Edge {
  /** The importing file, relative to the repo root (`src/mesh/cidr.ts`). */
  from: string;
  /** A repo-relative path for a relative import (`src/kubernetes/kube-error.ts`), else the package name. */
  to: string;
}

/** Every `import … from 'x'`, `export … from 'x'`, `import 'x'` and `import('x')` in a source text. */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(?\s*['"]([^'"]+)['"]/g];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

function edgesOf(file: string, source: string): Edge[] {
  return importSpecifiers(source).map((spec) => ({
    from: file,
    to: spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts') : spec,
  }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

const edges = sourceFiles(SRC).flatMap((f) => edgesOf(f, readFileSync(join(ROOT, f), 'utf8')));

interface Rule {
  name: string;
  from: (file: string) => boolean;
  to: (target: string) => boolean;
}

const under = (folder: string) => (path: string) => path.startsWith(folder);
const isStep = (path: string) => path.endsWith('.step.ts');

export const RULES: Rule[] = [
  { name: 'a step imports no other step', from: isStep, to: isStep },
  {
    name: 'mesh/ (pure osm-edge rules) imports nothing from kubernetes/, onboarding/ or Nest',
    from: under('src/mesh/'),
    to: (t) => under('src/kubernetes/')(t) || under('src/onboarding/')(t) || t.startsWith('@nestjs/'),
  },
  {
    name: 'common/ imports no feature folder',
    from: under('src/common/'),
    to: (t) => t.startsWith('src/') && !under('src/common/')(t) && !under('src/generated/')(t),
  },
  { name: 'config/ does not import approvals/', from: under('src/config/'), to: under('src/approvals/') },
  {
    name: 'observability/ does not import the cluster gateway',
    from: under('src/observability/'),
    to: under('src/kubernetes/'),
  },
  {
    name: 'kubernetes/ (the gateway) imports no feature folder',
    from: under('src/kubernetes/'),
    to: (t) =>
      ['src/onboarding/', 'src/approvals/', 'src/batches/', 'src/namespaces/', 'src/webhooks/'].some((f) =>
        t.startsWith(f),
      ),
  },
];

function violations(rule: Rule, all: Edge[]): string[] {
  return all.filter((e) => e.from !== e.to && rule.from(e.from) && rule.to(e.to)).map((e) => `${e.from} → ${e.to}`);
}

describe('import rules (docs/architecture.md)', () => {
  it('reads the imports it checks', () => {
    // Guards the checker itself: a parser that found nothing would pass every rule.
    expect(importSpecifiers(`import { a } from './a.js';\nimport type {\n  B,\n} from "../b.js";`)).toEqual([
      './a.js',
      '../b.js',
    ]);
    expect(importSpecifiers(`export { c } from './c.js';\nconst d = await import('./d.js');`)).toEqual([
      './c.js',
      './d.js',
    ]);
    const registry = edges.filter((e) => e.from === 'src/onboarding/steps/step-registry.ts');
    expect(registry.some((e) => e.to === 'src/onboarding/steps/namespace.step.ts')).toBe(true);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('flags a step that imports a step', () => {
    const fake = edgesOf(
      'src/onboarding/steps/metrics.step.ts',
      "import { readNamespace } from './namespace.step.js';",
    );
    expect(violations(RULES[0], fake)).toEqual([
      'src/onboarding/steps/metrics.step.ts → src/onboarding/steps/namespace.step.ts',
    ]);
    expect(violations(RULES[1], edgesOf('src/mesh/x.ts', "import { A } from '../kubernetes/kube-error.js';"))).toEqual([
      'src/mesh/x.ts → src/kubernetes/kube-error.ts',
    ]);
  });

  it('writes request rows only in the repository and lifecycle layer', () => {
    // Request rows change through one guarded statement per transition (onboarding/lifecycle/), never inline in a
    // service; the repository inserts them, the audit repository bumps their event counter.
    const allowed = [
      'src/onboarding/lifecycle/',
      'src/onboarding/onboarding.repository.ts',
      'src/audit/audit.repository.ts',
    ];
    const write =
      /\b(?:UPDATE\s+onboarding_request|INSERT\s+INTO\s+onboarding_request|DELETE\s+FROM\s+onboarding_request)\b|\.onboardingRequest\.(?:create|update|upsert|delete)/i;
    expect(write.test('await tx.onboardingRequest.update({ where })')).toBe(true);
    expect(write.test('UPDATE onboarding_request SET status = 1')).toBe(true);
    const writers = sourceFiles(SRC).filter((f) => write.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(writers.length).toBeGreaterThan(0);
    expect(writers.filter((f) => !allowed.some((a) => f.startsWith(a)))).toEqual([]);
  });

  for (const rule of RULES) {
    it(rule.name, () => {
      expect(violations(rule, edges)).toEqual([]);
    });
  }
});
