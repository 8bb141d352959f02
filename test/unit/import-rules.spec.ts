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
  {
    // config/ is the ground floor: a schema a feature needs (SLACK_USER_MAP) lives in config/, its plain shapes
    // (roles, scope pattern) in common/.
    name: 'config/ imports no feature folder',
    from: under('src/config/'),
    to: (t) => t.startsWith('src/') && !['src/config/', 'src/common/', 'src/generated/'].some((f) => t.startsWith(f)),
  },
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
  {
    // Who the caller is reaches the gateway through the CALLER_IS_ADMIN token (common/), provided by auth/.
    name: 'kubernetes/ (the gateway) does not import auth/',
    from: under('src/kubernetes/'),
    to: under('src/auth/'),
  },
  {
    // Re-apply and the drift scan are registered by namespaces/namespaces.module.ts, not by the requests' module.
    name: 'onboarding/ does not import namespaces/',
    from: under('src/onboarding/'),
    to: under('src/namespaces/'),
  },
  {
    // approvals/ builds on the requests (service, lifecycle) and owns its edges; whether a request waits is the
    // onboarding module's own rule (onboarding/approval-policy.ts).
    name: 'onboarding/ does not import approvals/',
    from: under('src/onboarding/'),
    to: under('src/approvals/'),
  },
  {
    // The trail every part records into sits below auth/; the export (an edge with roles) is audit-export/.
    name: 'audit/ (the trail) imports nothing of auth/ or docs/',
    from: under('src/audit/'),
    to: (t) => under('src/auth/')(t) || under('src/docs/')(t),
  },
  {
    // A batch stream's cursor is the event stream's business (events/batch-cursor.ts); batches/ parses it.
    name: 'events/ (the progress stream) imports no feature folder',
    from: under('src/events/'),
    to: (t) =>
      ['src/onboarding/', 'src/approvals/', 'src/batches/', 'src/namespaces/', 'src/webhooks/'].some((f) =>
        t.startsWith(f),
      ),
  },
];

/** For each rule after the first two, an import it was written against (the arrow it forbids, as it once was). */
const FORMER_ARROWS: Record<string, [file: string, source: string]> = {
  'common/ imports no feature folder': ['src/common/x.ts', "import { A } from '../onboarding/onboarding.service.js';"],
  'config/ imports no feature folder': [
    'src/config/config.ts',
    "import { SlackUserMapSchema } from '../integrations/slack/slack-users.js';",
  ],
  'observability/ does not import the cluster gateway': [
    'src/observability/metrics.service.ts',
    "import { ClusterGateway } from '../kubernetes/cluster-gateway.js';",
  ],
  'kubernetes/ (the gateway) imports no feature folder': [
    'src/kubernetes/x.ts',
    "import { RequestRunner } from '../onboarding/request-runner.service.js';",
  ],
  'kubernetes/ (the gateway) does not import auth/': [
    'src/kubernetes/cluster-gateway.ts',
    "import { callerIsAdmin } from '../auth/caller-context.js';",
  ],
  'onboarding/ does not import namespaces/': [
    'src/onboarding/onboarding.module.ts',
    "import { DriftScanner } from '../namespaces/drift-scanner.service.js';",
  ],
  'onboarding/ does not import approvals/': [
    'src/onboarding/api/onboarding.controller.ts',
    "import { ApprovalService } from '../../approvals/approval.service.js';",
  ],
  'audit/ (the trail) imports nothing of auth/ or docs/': [
    'src/audit/audit-export.controller.ts',
    "import { CurrentActor } from '../auth/auth.guard.js';",
  ],
  'events/ (the progress stream) imports no feature folder': [
    'src/events/progress.service.ts',
    "import { encodeBatchCursor } from '../batches/batch-cursor.js';",
  ],
};

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

  it('has a former arrow for every rule, and each rule flags it', () => {
    // Proves every rule can fail: fed the import it was written against, it reports exactly that edge.
    expect(Object.keys(FORMER_ARROWS).sort()).toEqual(
      RULES.slice(2)
        .map((r) => r.name)
        .sort(),
    );
    for (const rule of RULES.slice(2)) {
      const [file, source] = FORMER_ARROWS[rule.name];
      const fake = edgesOf(file, source);
      expect(violations(rule, fake), rule.name).toEqual([`${file} → ${fake[0].to}`]);
    }
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
