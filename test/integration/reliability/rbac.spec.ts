import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { loadAllYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  seedAppNamespace,
  startEmulator,
  type Emulator,
  type KubeObject,
  type RequestLogEntry,
} from '../../support/emulator/index.js';
import { http, stackEnv, startApi, startWorker, waitForStatus } from '../../support/harness.js';
import { report } from '../../support/report.js';

// Least privilege, checked: the ClusterRoles in deploy/ must allow every Kubernetes call the service
// makes in a full-featured onboarding + offboarding (every step on, both API-server access methods,
// every SMI kind created and then updated, a dry run, the namespace status endpoint, readiness), and
// must not grant anything those calls do not use, except the rules justified in deploy/rbac.yaml with
// a `# unexercised: <verb> <group>/<resource>: <why>` comment.
// Enforced, too: deploy/namespace.yaml and deploy/rbac.yaml are applied to the emulator, the API (ROLE=api) runs with
// the osm-onboarding-api ServiceAccount's token and the worker (ROLE=worker) with osm-onboarding-worker's, and the
// emulator authorizes every call as kube-apiserver's RBAC authorizer does (a call the roles deny is a 403).

const NAMESPACE = 'osm-onboarding';
const API_USER = `system:serviceaccount:${NAMESPACE}:osm-onboarding-api`;
const WORKER_USER = `system:serviceaccount:${NAMESPACE}:osm-onboarding-worker`;

const DEPLOY = resolve(import.meta.dirname, '../../../deploy');

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Call {
  verb: string;
  group: string;
  resource: string;
  name?: string;
  user?: string;
}

const manifests = () =>
  readdirSync(DEPLOY)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => loadAllYaml(readFileSync(join(DEPLOY, f), 'utf8')))
    .filter(Boolean);

const roleRules = (name: string): Rule[] => {
  const role = manifests().find((m) => m.kind === 'ClusterRole' && m.metadata?.name === name);
  if (!role) throw new Error(`ClusterRole ${name} not found in deploy/`);
  return role.rules as Rule[];
};

const callOf = (e: RequestLogEntry): Call => ({
  verb: e.verb,
  group: e.apiGroup ?? '',
  resource: e.subresource ? `${e.resource}/${e.subresource}` : e.resource!,
  name: e.name,
  user: e.user,
});

const key = (c: { verb: string; group: string; resource: string }) => `${c.verb} ${c.group || 'core'}/${c.resource}`;

/**
 * Calls only the API role makes: the namespace informer's watch (src/onboarding/namespace-informer.ts). The worker's
 * role need not allow them.
 */
const API_ONLY = new Set(['watch core/namespaces']);

/** RBAC's own matching: group, resource, verb, and (for named requests) resourceNames. */
export function allows(rules: Rule[], c: Call): boolean {
  return rules.some(
    (r) =>
      (r.apiGroups ?? []).some((g) => g === '*' || g === c.group) &&
      (r.resources ?? []).some((x) => x === '*' || x === c.resource) &&
      r.verbs.some((v) => v === '*' || v === c.verb) &&
      (!r.resourceNames?.length || (c.name !== undefined && r.resourceNames.includes(c.name))),
  );
}

/** Every (verb, group/resource) a rule grants. */
export function grants(rules: Rule[]): string[] {
  return rules.flatMap((r) =>
    (r.apiGroups ?? []).flatMap((g) =>
      (r.resources ?? []).flatMap((res) => r.verbs.map((v) => key({ verb: v, group: g, resource: res }))),
    ),
  );
}

/** `# unexercised: <verb> <group>/<resource>: <why>` comments in deploy/rbac.yaml. */
function justified(): Map<string, string> {
  const text = readFileSync(join(DEPLOY, 'rbac.yaml'), 'utf8');
  const out = new Map<string, string>();
  for (const m of text.matchAll(/#\s*unexercised:\s*([a-z]+)\s+([a-z0-9.-]+\/[a-z0-9/]+):\s*(.+)$/gm))
    out.set(`${m[1]} ${m[2]}`, m[3].trim());
  return out;
}

/** Every SMI kind; `v` changes every spec, so a second onboarding updates each object in place. */
const SMI = (ns: string, v: number) => ({
  httpRouteGroups: [{ name: 'routes', spec: { matches: [{ name: 'all', pathRegex: `/v${v}/.*`, methods: ['GET'] }] } }],
  tcpRoutes: [{ name: 'tcp', spec: { matches: { ports: [8080 + v] } } }],
  trafficTargets: [
    {
      name: 'allow-app',
      spec: {
        destination: { kind: 'ServiceAccount', name: 'app-0' },
        sources: [{ kind: 'ServiceAccount', name: `app-${v % 2}`, namespace: ns }],
        rules: [{ kind: 'HTTPRouteGroup', name: 'routes', matches: ['all'] }],
      },
    },
  ],
  trafficSplits: [
    {
      name: 'split',
      spec: {
        service: 'app-0',
        backends: [
          { service: 'app-0', weight: 100 - v },
          { service: 'app-1', weight: v },
        ],
      },
    },
  ],
});

describe('least privilege: deploy/ ClusterRoles against the calls a full onboarding + offboarding makes', () => {
  let emulator: Emulator;
  let api: { app: INestApplication; url: string } | undefined;
  let worker: INestApplicationContext | undefined;
  let s: { url: string };
  let log: RequestLogEntry[] = [];
  let calls: Call[] = [];

  beforeAll(async () => {
    emulator = await startEmulator();
    for (const file of ['namespace.yaml', 'rbac.yaml'])
      for (const obj of loadAllYaml(readFileSync(join(DEPLOY, file), 'utf8')).filter(Boolean))
        emulator.store.create(obj as KubeObject);
    // Each process with its own ServiceAccount's kubeconfig (the same contexts stackEnv writes).
    const env = await stackEnv(emulator);
    const dir = await mkdtemp(join(tmpdir(), 'osm-onboarding-rbac-'));
    const kubeconfigFor = async (serviceAccount: string) => {
      const path = join(dir, `${serviceAccount}.kubeconfig`);
      const token = emulator.tokenFor({ namespace: NAMESPACE, serviceAccount });
      await writeFile(path, emulator.kubeconfig({ contexts: ['emulator', 'staging'], token }), { mode: 0o600 });
      return path;
    };
    api = await startApi({ ...env, ROLE: 'api', KUBECONFIG: await kubeconfigFor('osm-onboarding-api') });
    worker = await startWorker({ ...env, KUBECONFIG: await kubeconfigFor('osm-onboarding-worker') });
    s = api;
    for (const ns of ['rbac-ip', 'rbac-egress']) seedAppNamespace(emulator.store, ns, { deployments: 2 });
    await emulator.idle();
    emulator.requests.clear();

    const run = async (path: string, body: Record<string, unknown>, want = 'SUCCEEDED') => {
      const r = await http(s.url, 'POST', path, body);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const done = await waitForStatus(s.url, r.body.id, ['SUCCEEDED', 'FAILED', 'CANCELLED'], 60_000);
      expect(done.status, JSON.stringify(done.steps?.filter((x: any) => x.status === 'FAILED'))).toBe(want);
      return done;
    };
    const full = (ns: string, v: number, access: Record<string, unknown>, metrics = true) => ({
      namespace: ns,
      prerequisites: { enabled: true, acceptErrors: [] },
      apiServerAccess: access,
      trafficPolicy: { mode: 'smi', smi: SMI(ns, v) },
      metrics,
      appProtocols: [
        { service: 'app-0', port: 'http', appProtocol: 'http' },
        { service: 'app-1', port: 'http', appProtocol: 'tcp' },
      ],
      restart: { mode: 'all' },
      verify: { timeoutSeconds: 60 },
    });
    // A dry run (the planner reads what every step reads), then the real thing, with both access methods.
    const plan = await http(s.url, 'POST', '/v1/onboardings/plan', full('rbac-ip', 1, { method: 'ip-exclusion' }));
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    await run('/v1/onboardings', full('rbac-ip', 1, { method: 'ip-exclusion' }));
    await run('/v1/onboardings', full('rbac-egress', 1, { method: 'egress', serviceAccounts: ['app-0'] }, false));
    // Onboarding again with other specs updates the SMI objects and the Egress in place (update); metrics, off the
    // first time, now annotates the pods that already run a sidecar (patch pods).
    await run('/v1/onboardings', full('rbac-egress', 2, { method: 'egress', serviceAccounts: ['app-0', 'app-1'] }));
    const status = await http(s.url, 'GET', '/v1/clusters/emulator/namespaces');
    expect(status.status, JSON.stringify(status.body)).toBe(200);
    expect((await http(s.url, 'GET', '/readyz')).status).toBe(200);
    for (const ns of ['rbac-ip', 'rbac-egress']) {
      await run('/v1/offboardings', {
        namespace: ns,
        restart: { mode: 'all' },
        deleteOwnedPolicies: true,
        removeApiServerExclusion: true,
      });
    }
    log = emulator.requests.all();
    calls = log
      // discovery (/api, /apis, /version) is granted to every authenticated user by system:discovery
      .filter((e) => e.resource)
      .map(callOf);
  }, 240_000);
  afterAll(async () => {
    await worker?.close();
    await api?.app.close();
    await emulator?.close();
  });

  it('enforced: every call of each process, made with its own ServiceAccount token, is allowed by RBAC', () => {
    const users = new Set(log.map((e) => e.user));
    expect(users).toEqual(new Set([API_USER, WORKER_USER]));
    const refused = log
      .filter((e) => e.status === 403 || e.status === 401)
      .map((e) => `${e.status} ${e.user} ${e.verb} ${e.path}${e.query}`);
    expect(refused).toEqual([]);
  });

  it('the worker ClusterRole allows every call, and every rule it grants is used (or justified)', () => {
    const rules = roleRules('osm-onboarding-worker');
    // The worker's own calls, and the API's reads (which the worker's rules must also allow, as before the split).
    const workerCalls = calls.filter((c) => !API_ONLY.has(key(c)));
    expect(workerCalls.filter((c) => c.user === WORKER_USER).length).toBeGreaterThan(0);
    const observed = new Map(workerCalls.map((c) => [key(c), c]));
    const list = [...observed.keys()].sort();
    const text = `observed Kubernetes calls (verb group/resource):\n  ${list.join('\n  ')}`;
    report('rbac-observed-calls', `rbac: ${list.length} distinct Kubernetes calls observed`, text);
    const denied = workerCalls.filter((c) => !allows(rules, c)).map((c) => `${key(c)}${c.name ? ` (${c.name})` : ''}`);
    expect([...new Set(denied)]).toEqual([]);
    const why = justified();
    const unused = grants(rules).filter((g) => !observed.has(g) && !why.has(g));
    expect(unused).toEqual([]);
    // A justification must name a rule that exists and is really not exercised.
    for (const j of why.keys()) {
      expect(grants(rules), `justified ${j} is not granted`).toContain(j);
      expect(observed.has(j), `justified ${j} is exercised after all`).toBe(false);
    }
  });

  it("the API ClusterRole is read-only and allows every read, and the namespace informer's watch", () => {
    const api = roleRules('osm-onboarding-api');
    expect(grants(api).filter((g) => !/^(get|list|watch) /.test(g))).toEqual([]);
    // The informer ran: its watch was observed, so the grant is exercised.
    for (const k of API_ONLY) expect(calls.filter((c) => c.user === API_USER).map(key)).toContain(k);
    // The API process makes reads only.
    expect([
      ...new Set(calls.filter((c) => c.user === API_USER && !/^(get|list|watch)$/.test(c.verb)).map(key)),
    ]).toEqual([]);
    const reads = calls.filter((c) => c.verb === 'get' || c.verb === 'list' || API_ONLY.has(key(c)));
    expect([...new Set(reads.filter((c) => !allows(api, c)).map(key))]).toEqual([]);
    // Beyond the worker's reads, the API is granted only the informer's calls.
    const worker = roleRules('osm-onboarding-worker');
    expect(grants(api).filter((g) => !grants(worker).includes(g) && !API_ONLY.has(g))).toEqual([]);
  });

  it(
    'the manifests run both roles as non-root with a read-only root filesystem, probes and their own ' +
      'ServiceAccount',
    () => {
      const all = manifests();
      const deployments = all.filter((m) => m.kind === 'Deployment');
      expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['osm-onboarding-api', 'osm-onboarding-worker']);
      for (const d of deployments) {
        const pod = d.spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
        expect(pod.automountServiceAccountToken).toBe(true);
        const sa = all.find((m) => m.kind === 'ServiceAccount' && m.metadata.name === pod.serviceAccountName);
        expect(sa, `ServiceAccount ${pod.serviceAccountName}`).toBeDefined();
        for (const c of pod.containers) {
          expect(c.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          });
          expect(c.livenessProbe.httpGet.path).toBe('/healthz');
          expect(c.readinessProbe.httpGet.path).toBe('/readyz');
        }
        expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
          Number(pod.containers[0].env.find((e: any) => e.name === 'SHUTDOWN_GRACE_MS').value),
        );
      }
      const worker = deployments.find((d) => d.metadata.name === 'osm-onboarding-worker').spec.template.spec
        .containers[0];
      expect(worker.ports).toContainEqual(expect.objectContaining({ containerPort: 9464 }));
      for (const [sa, role] of [
        ['osm-onboarding-api', 'osm-onboarding-api'],
        ['osm-onboarding-worker', 'osm-onboarding-worker'],
      ]) {
        const binding = all.find((m) => m.kind === 'ClusterRoleBinding' && m.roleRef?.name === role);
        expect(binding?.subjects).toEqual([{ kind: 'ServiceAccount', name: sa, namespace: 'osm-onboarding' }]);
      }
      expect(all.some((m) => m.kind === 'NetworkPolicy')).toBe(true);
      expect(all.some((m) => m.kind === 'Service' && m.metadata.name === 'osm-onboarding-api')).toBe(true);
    },
  );
});
