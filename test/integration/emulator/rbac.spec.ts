import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWith } from '../../support/binaries.js';
import { kubectlFor, type Kubectl } from '../../support/kubectl.js';
import { startEmulator, type Emulator, type KubeObject } from '../../support/emulator/index.js';

// Authentication and RBAC as kube-apiserver 1.32 does them: the admin token is system:masters, ServiceAccount tokens
// come from the TokenRequest subresource, and everything such a token does is authorized by the stored roles and
// bindings (plugin/pkg/auth/authorizer/rbac), with 403 Statuses as responsewriters.Forbidden writes them.

const RBAC = 'rbac.authorization.k8s.io/v1';
const NS = 'rbac-a';
const OTHER = 'rbac-b';
const SA = 'robot';
const USER = `system:serviceaccount:${NS}:${SA}`;

describe('emulator RBAC: ServiceAccount tokens, roles and bindings, 403 Statuses (client-node)', () => {
  let emu: Emulator;
  let token: string;

  /** A raw request as the ServiceAccount (or with `as`), answering status and parsed body. */
  const call = async (method: string, path: string, body?: unknown, as = token) => {
    const res = await fetch(emu.url + path, {
      method,
      headers: {
        authorization: `Bearer ${as}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = res.headers.get('content-type')?.startsWith('application/json');
    return { status: res.status, body: text && json ? JSON.parse(text) : text || undefined };
  };
  const admin = (method: string, path: string, body?: unknown) => call(method, path, body, emu.token);
  const apply = (obj: KubeObject) => emu.store.create(obj);
  const clusterRole = (name: string, rules: unknown[]) =>
    apply({ apiVersion: RBAC, kind: 'ClusterRole', metadata: { name }, rules });
  const role = (namespace: string, name: string, rules: unknown[]) =>
    apply({ apiVersion: RBAC, kind: 'Role', metadata: { name, namespace }, rules });
  const bind = (name: string, roleRef: { kind: string; name: string }, subjects: unknown[], namespace?: string) =>
    apply({
      apiVersion: RBAC,
      kind: namespace ? 'RoleBinding' : 'ClusterRoleBinding',
      metadata: namespace ? { name, namespace } : { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
      subjects,
    });
  const review = async (attrs: Record<string, unknown>, as = token) =>
    (await call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { spec: attrs }, as)).body.status;

  beforeAll(async () => {
    emu = await startEmulator({ seed: 'empty' });
    for (const name of [NS, OTHER]) apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    for (const namespace of [NS, OTHER]) {
      apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace } });
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pinned', namespace }, data: { a: '1' } });
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace }, data: { a: '1' } });
    }
    token = emu.tokenFor({ namespace: NS, serviceAccount: SA });
  });
  afterAll(async () => {
    await emu?.close();
  });

  it('issues tokens through the TokenRequest subresource, as client-node calls it', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(emu.kubeconfig());
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const tr = await core.createNamespacedServiceAccountToken({
      namespace: NS,
      name: SA,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    expect(tr.kind).toBe('TokenRequest');
    expect(tr.spec?.expirationSeconds).toBe(600);
    const claims = JSON.parse(Buffer.from(tr.status!.token!.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ sub: USER, 'kubernetes.io': { namespace: NS, serviceaccount: { name: SA } } });
    expect(claims.exp - claims.iat).toBe(600);
    // The token works: its user has system:basic-user's SelfSubjectAccessReview.
    expect((await review({ nonResourceAttributes: { path: '/api', verb: 'get' } }, tr.status!.token)).allowed).toBe(
      true,
    );

    const missing = await admin('POST', `/api/v1/namespaces/${NS}/serviceaccounts/nobody/token`, {});
    expect(missing).toMatchObject({
      status: 404,
      body: { reason: 'NotFound', message: 'serviceaccounts "nobody" not found' },
    });
    const short = await admin('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`, {
      spec: { expirationSeconds: 599 },
    });
    expect(short.status).toBe(422);
    expect(short.body.message).toBe(
      `TokenRequest.authentication.k8s.io "${SA}" is invalid: spec.expirationSeconds: Invalid value: 599: ` +
        'may not specify a duration less than 10 minutes',
    );
    expect((await admin('GET', `/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`)).status).toBe(405);
    // A ServiceAccount without RBAC may not ask for tokens of another.
    const other = await call('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${SA}/token`, {});
    expect(other.body.message).toBe(
      `serviceaccounts "${SA}" is forbidden: User "${USER}" cannot create resource "serviceaccounts/token" in API ` +
        `group "" in the namespace "${NS}"`,
    );
  });

  it('the admin token is system:masters: everything, and its reviews are allowed without a reason', async () => {
    expect((await admin('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles')).status).toBe(200);
    expect(await review({ resourceAttributes: { verb: 'escalate', resource: 'anything' } }, emu.token)).toEqual({
      allowed: true,
    });
    emu.requests.clear();
    await admin('GET', '/api/v1/namespaces');
    await call('GET', '/api');
    expect(emu.requests.all().map((e) => e.user)).toEqual(['kubernetes-admin', USER]);
  });

  it('refuses with the 403 Status kube-apiserver writes: named, collection, cluster scope, subresource', async () => {
    expect(await call('GET', `/api/v1/namespaces/${NS}/configmaps/pinned`)).toEqual({
      status: 403,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          `configmaps "pinned" is forbidden: User "${USER}" cannot get resource "configmaps" in API group "" in the ` +
          `namespace "${NS}"`,
        reason: 'Forbidden',
        details: { name: 'pinned', kind: 'configmaps' },
        code: 403,
      },
    });
    const list = await call('GET', '/apis/apps/v1/deployments');
    expect(list.body.message).toBe(
      `deployments.apps is forbidden: User "${USER}" cannot list resource "deployments" in API group "apps" at the ` +
        'cluster scope',
    );
    expect(list.body.details).toEqual({ group: 'apps', kind: 'deployments' });
    const status = await call('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/web/status`, {});
    expect(status.body.message).toBe(
      `deployments.apps "web" is forbidden: User "${USER}" cannot patch resource "deployments/status" in API group ` +
        `"apps" in the namespace "${NS}"`,
    );
    expect(status.body.details).toEqual({ name: 'web', group: 'apps', kind: 'deployments' });
    // A namespace is its own namespace (RequestInfo), and a path nothing serves is still authorized first.
    expect((await call('GET', `/api/v1/namespaces/${NS}`)).body.message).toBe(
      `namespaces "${NS}" is forbidden: User "${USER}" cannot get resource "namespaces" in API group "" in the ` +
        `namespace "${NS}"`,
    );
    expect((await call('GET', '/apis/example.com/v1/widgets')).body.message).toContain(
      'cannot list resource "widgets" in API group "example.com" at the cluster scope',
    );
    expect(await call('GET', '/metrics')).toMatchObject({
      status: 403,
      body: { message: `forbidden: User "${USER}" cannot get path "/metrics"`, details: {} },
    });
  });

  it('discovery, version and OpenAPI are open to every authenticated user (system:discovery)', async () => {
    for (const path of ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/version', '/openapi/v3', '/openapi/v3/api/v1'])
      expect([path, (await call('GET', path)).status]).toEqual([path, 200]);
    expect((await call('POST', '/api', {})).status).toBe(403);
  });

  it('a RoleBinding grants in its namespace, a ClusterRoleBinding everywhere; verbs as kube maps them', async () => {
    role(NS, 'cm-read', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }]);
    // A ServiceAccount subject without a namespace is the binding's namespace's.
    bind('cm-read', { kind: 'Role', name: 'cm-read' }, [{ kind: 'ServiceAccount', name: SA }], NS);
    expect((await call('GET', `/api/v1/namespaces/${NS}/configmaps/other`)).status).toBe(200);
    expect((await call('GET', `/api/v1/namespaces/${NS}/configmaps`)).status).toBe(200);
    expect((await call('GET', `/api/v1/namespaces/${OTHER}/configmaps/other`)).status).toBe(403);
    // list and watch are different verbs: the watch parameter decides.
    const watch = await call('GET', `/api/v1/namespaces/${NS}/configmaps?watch=true&timeoutSeconds=1`);
    expect(watch.body.message).toContain(`cannot watch resource "configmaps"`);
    expect((await call('DELETE', `/api/v1/namespaces/${NS}/configmaps`)).body.message).toContain(
      'cannot deletecollection resource "configmaps"',
    );
    expect(await review({ resourceAttributes: { namespace: NS, verb: 'get', resource: 'configmaps' } })).toEqual({
      allowed: true,
      reason: `RBAC: allowed by RoleBinding "cm-read/${NS}" of Role "cm-read" to ServiceAccount "${SA}/${NS}"`,
    });

    // The groups of a ServiceAccount token: system:serviceaccounts:<ns>.
    clusterRole('cm-watch', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }]);
    bind('cm-watch', { kind: 'ClusterRole', name: 'cm-watch' }, [
      { kind: 'Group', name: `system:serviceaccounts:${NS}`, apiGroup: 'rbac.authorization.k8s.io' },
    ]);
    expect((await call('GET', `/api/v1/namespaces/${OTHER}/configmaps/other`)).status).toBe(200);
    const otherToken = emu.tokenFor({ namespace: OTHER, serviceAccount: SA });
    expect((await call('GET', `/api/v1/namespaces/${OTHER}/configmaps/other`, undefined, otherToken)).status).toBe(403);
  });

  it('resourceNames pin objects: another name or a list is refused, a list of the one name is not', async () => {
    clusterRole('pinned', [
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['pinned'], verbs: ['get', 'list'] },
    ]);
    bind('pinned', { kind: 'ClusterRole', name: 'pinned' }, [{ kind: 'ServiceAccount', name: SA, namespace: NS }]);
    apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pinned', namespace: NS } });
    expect((await call('GET', `/api/v1/namespaces/${NS}/secrets/pinned`)).status).toBe(200);
    expect((await call('GET', `/api/v1/namespaces/${NS}/secrets/other`)).status).toBe(403);
    expect((await call('GET', `/api/v1/namespaces/${NS}/secrets`)).status).toBe(403);
    // RequestInfo takes a metadata.name field selector as the request's name.
    const one = await call('GET', `/api/v1/namespaces/${NS}/secrets?fieldSelector=metadata.name%3Dpinned`);
    expect(one.status).toBe(200);
    expect(one.body.items.map((s: KubeObject) => s.metadata.name)).toEqual(['pinned']);
  });

  it('subresources are their own resources: deployments does not grant deployments/status, */status does', async () => {
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      },
    };
    apply(deploy);
    role(NS, 'deploy', [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] }]);
    bind('deploy', { kind: 'Role', name: 'deploy' }, [{ kind: 'ServiceAccount', name: SA }], NS);
    const path = `/apis/apps/v1/namespaces/${NS}/deployments/web`;
    expect((await call('GET', path)).status).toBe(200);
    expect((await call('GET', `${path}/status`)).status).toBe(403);
    expect((await call('GET', `${path}/scale`)).status).toBe(403);
    role(NS, 'status', [{ apiGroups: ['apps'], resources: ['*/status'], verbs: ['get'] }]);
    bind('status', { kind: 'Role', name: 'status' }, [{ kind: 'ServiceAccount', name: SA }], NS);
    expect((await call('GET', `${path}/status`)).status).toBe(200);
    expect((await call('GET', `${path}/scale`)).status).toBe(403);
    // pods/log (not served by the emulator) as a review asks it.
    const log = { namespace: NS, verb: 'get', resource: 'pods', subresource: 'log', name: 'x' };
    expect((await review({ resourceAttributes: log })).allowed).toBe(false);
    role(NS, 'logs', [{ apiGroups: [''], resources: ['pods/log'], verbs: ['get'] }]);
    bind('logs', { kind: 'Role', name: 'logs' }, [{ kind: 'ServiceAccount', name: SA }], NS);
    expect((await review({ resourceAttributes: log })).allowed).toBe(true);
    expect((await review({ resourceAttributes: { ...log, subresource: '' } })).allowed).toBe(false);
  });

  it('nonResourceURLs rules, and a binding to a missing role named in the refusal', async () => {
    bind('ghost', { kind: 'ClusterRole', name: 'ghost' }, [{ kind: 'ServiceAccount', name: SA, namespace: NS }]);
    const refused = await call('GET', '/healthz/etcd');
    expect(refused.body.message).toBe(
      `forbidden: User "${USER}" cannot get path "/healthz/etcd": RBAC: clusterrole.rbac.authorization.k8s.io ` +
        '"ghost" not found',
    );
    clusterRole('ghost', [{ nonResourceURLs: ['/healthz/*'], verbs: ['get'] }]);
    // Authorized, then not served: the 404 comes after RBAC.
    expect(await call('GET', '/healthz/etcd')).toEqual({ status: 404, body: '404 page not found\n' });
    expect((await call('GET', '/livez/etcd')).status).toBe(403);
  });

  it('a token stops working when its ServiceAccount is deleted (401)', async () => {
    apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'short-lived', namespace: NS } });
    const t = emu.tokenFor({ namespace: NS, serviceAccount: 'short-lived' });
    expect((await call('GET', '/api', undefined, t)).status).toBe(200);
    expect((await admin('DELETE', `/api/v1/namespaces/${NS}/serviceaccounts/short-lived`)).status).toBe(200);
    expect((await call('GET', '/api', undefined, t)).status).toBe(401);
    apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'short-lived', namespace: NS } });
    expect((await call('GET', '/api', undefined, t)).status).toBe(401); // another uid
  });
});

describeWith(['kubectl'])('emulator RBAC checked with the real kubectl', () => {
  let emu: Emulator;
  let admin: Kubectl;
  let sa: Kubectl;

  beforeAll(async () => {
    emu = await startEmulator(); // the osm-edge CRDs: kubectl resolves meshconfigs through discovery
    admin = await kubectlFor(emu, 'emulator-rbac-admin-');
    sa = await kubectlFor(emu, 'emulator-rbac-sa-');
  });
  afterAll(async () => {
    await emu?.close();
    await admin?.close();
    await sa?.close();
  });

  it('kubectl apply -f deploy/rbac.yaml, then auth can-i and get as the worker ServiceAccount', async () => {
    const deploy = resolve(import.meta.dirname, '../../../deploy');
    for (const file of ['namespace.yaml', 'rbac.yaml']) {
      const run = await admin.run('apply', '-f', join(deploy, file));
      expect(run.code, run.stderr).toBe(0);
    }
    expect((await admin.run('get', 'clusterrole', 'osm-onboarding-worker', '-o', 'name')).stdout.trim()).toBe(
      'clusterrole.rbac.authorization.k8s.io/osm-onboarding-worker',
    );
    const token = emu.tokenFor({ namespace: 'osm-onboarding', serviceAccount: 'osm-onboarding-worker' });
    await emu.writeKubeconfig(sa.kubeconfig, { token });
    const canI = async (...args: string[]) => {
      const run = await sa.run('auth', 'can-i', ...args);
      return `${run.stdout.trim()} (${run.code})`;
    };
    expect(await canI('patch', 'namespaces')).toBe('yes (0)');
    expect(await canI('delete', 'namespaces')).toBe('no (1)');
    expect(await canI('watch', 'deployments.apps', '-n', 'bookstore')).toBe('yes (0)');
    expect(await canI('patch', 'deployments.apps', '--subresource', 'status', '-n', 'bookstore')).toBe('no (1)');
    expect(await canI('patch', 'meshconfigs.config.openservicemesh.io/osm-mesh-config', '-n', 'osm-system')).toBe(
      'yes (0)',
    );
    expect(await canI('patch', 'meshconfigs.config.openservicemesh.io/other', '-n', 'osm-system')).toBe('no (1)');
    expect((await sa.run('get', 'ns', '-o', 'name')).stdout).toContain('namespace/osm-onboarding');
    const denied = await sa.run('get', 'secrets', '-n', 'osm-onboarding');
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toBe(
      'Error from server (Forbidden): secrets is forbidden: User ' +
        '"system:serviceaccount:osm-onboarding:osm-onboarding-worker" cannot list resource "secrets" in API group "" ' +
        'in the namespace "osm-onboarding"',
    );
    await writeFile(
      join(sa.dir, 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n',
    );
    const create = await sa.run('apply', '-f', join(sa.dir, 'cm.yaml'));
    expect(create.code).toBe(1);
    expect(create.stderr).toContain('cannot get resource "configmaps" in API group "" in the namespace "default"');
  });
});
