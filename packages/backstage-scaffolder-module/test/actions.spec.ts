// The scaffolder actions as Backstage runs them (createMockActionContext from Backstage's scaffolder test utils)
// against a REAL osm-onboarding service and the Kubernetes API emulator: a task onboards a namespace end to end with
// its progress in the task log; a retried task finds its request instead of creating a second one; a cancelled task
// cancels its request; a blocked plan submits nothing; an offboarding end to end; a dry run submits nothing; a retried
// task that finds its request FAILED retries that request (REJECTED: it does not); a forwarded user token is the
// identity the service records; the module registers the three actions.
import { createServer, request, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { LoggerService } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { scaffolderActionsExtensionPoint, type TemplateAction } from '@backstage/plugin-scaffolder-node';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedAppNamespace } from '../../../test/support/emulator/seed.js';
import {
  ADMIN_TOKEN,
  http,
  readSse,
  startStack,
  uniqueName,
  waitForStatus,
  type Stack,
} from '../../../test/support/harness.js';
import { namespaceMeta } from '../../../test/support/kube.js';
import osmModule, { createOsmOnboardingActions, readOsmOnboardingConfig } from '../src/index.js';

const MONITORED = 'openservicemesh.io/monitored-by';

/** A task log: what the action wrote through ctx.logger, one line per call. */
function taskLog() {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string): void =>
      void lines.push(`${level} ${message}`);
  const logger: LoggerService = {
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    debug: at('debug'),
    child: () => logger,
  };
  return { lines, logger };
}

/** Stands in for Backstage's auth backend: the issuer of user tokens, its JWKS served over HTTP. */
async function startUserTokenIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'backstage-1', alg: 'ES256', use: 'sig' };
  const server: Server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = 'http://backstage.example.test/api/auth';
  /** A user's token as the scaffolder passes it to actions (ctx.secrets.backstageToken). */
  const tokenFor = (user: string, claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'backstage-1' })
      .setSubject(user)
      .setIssuer(issuer)
      .setAudience('osm-onboarding')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  const env = {
    AUTH_JWKS_URL: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`,
    AUTH_JWT_ISSUER: issuer,
    AUTH_JWT_AUDIENCE: 'osm-onboarding',
  };
  return { env, tokenFor, close: () => server.close() };
}

type Actions = Map<string, TemplateAction<any, any, any>>;
const actionsFor = (data: Record<string, string | boolean>): Actions =>
  new Map(
    createOsmOnboardingActions(readOsmOnboardingConfig(mockServices.rootConfig({ data: { osmOnboarding: data } }))).map(
      (a) => [a.id, a],
    ),
  );

describe('the osm:namespace:* scaffolder actions against a running service', () => {
  let s: Stack;
  let actions: Actions;
  let users: Awaited<ReturnType<typeof startUserTokenIssuer>>;

  beforeAll(async () => {
    users = await startUserTokenIssuer();
    s = await startStack({
      env: {
        APPROVAL_POLICY: JSON.stringify({ rules: [{ name: 'gate', namespaces: ['bs-gated-*'], approvals: 1 }] }),
        ...users.env,
      },
    });
    actions = actionsFor({ baseUrl: s.url, token: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await s?.close();
    users?.close();
  });

  function context(
    input: Record<string, string>,
    taskId: string,
    signal?: AbortSignal,
    more: { isDryRun?: boolean; secrets?: Record<string, string>; step?: string } = {},
  ) {
    const log = taskLog();
    const out: Record<string, any> = {};
    const ctx = createMockActionContext({ input, logger: log.logger, task: { id: taskId }, secrets: more.secrets });
    // createMockActionContext takes no signal, step or dry run (the scaffolder's task context has them); outputs are
    // kept.
    const output = (name: string, value: unknown) => void (out[name] = value);
    const step = { id: more.step ?? 'onboard', name: more.step ?? 'Onboard' };
    return { ctx: { ...ctx, signal, step, output, isDryRun: more.isDryRun ?? false }, log, out };
  }

  it('onboards a namespace end to end: the plan and every progress event in the task log', async () => {
    const ns = uniqueName('bs-ok');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const { ctx, log, out } = context({ namespace: ns, restart: 'all' }, uniqueName('task'));

    await actions.get('osm:namespace:onboard')!.handler(ctx);

    expect(out.status).toBe('SUCCEEDED');
    expect(out.link).toBe(`${s.url}/v1/onboardings/${out.requestId}`);
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBe('osm');
    // The plan first, then the submission, then each event the service stored, in order.
    expect(log.lines[0]).toBe(`info plan: onboard emulator/${ns} (mesh osm)`);
    const accepted = log.lines.findIndex((l) => l.startsWith(`info request ${out.requestId} accepted`));
    expect(accepted).toBeGreaterThan(0);
    expect(log.lines.slice(0, accepted)).toContain(
      `info namespace: add namespace ${ns} to mesh osm (injection enabled) (1 write)`,
    );
    const stored = await readSse(s.url, `/v1/onboardings/${out.requestId}/events`);
    const expected = stored.events.map(({ data: e }) => `info ${e.type}${e.step ? ` ${e.step}` : ''}: ${e.message}`);
    expect(expected.length).toBeGreaterThan(8);
    expect(log.lines.slice(accepted + 1)).toEqual(expected);
  });

  it('a retried task (same task id) finds its request again instead of creating a second one', async () => {
    const ns = uniqueName('bs-retry');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const task = uniqueName('task');
    const first = context({ namespace: ns }, task);
    await actions.get('osm:namespace:onboard')!.handler(first.ctx);
    const again = context({ namespace: ns }, task);
    await actions.get('osm:namespace:onboard')!.handler(again.ctx);

    const id = first.out.requestId;
    expect(again.out).toMatchObject({
      requestId: id,
      status: 'SUCCEEDED',
    });
    expect(again.log.lines).toContain(
      `info request ${id} found again (a retried task): SUCCEEDED ${s.url}/v1/onboardings/${id}`,
    );
    const { body: page } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(page.items.map((r: { id: string }) => r.id)).toEqual([id]);

    // Another task is another key: a second request (what the key prevents for a retry).
    const other = context({ namespace: ns }, uniqueName('task'));
    await actions.get('osm:namespace:onboard')!.handler(other.ctx);
    const { body: after } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(after.items).toHaveLength(2);
  });

  it('a step that loops over clusters (each:) makes one request per cluster, found again when retried', async () => {
    const ns = uniqueName('bs-each');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const task = uniqueName('task');
    // The scaffolder runs a looping step's action once per item, with the same task and step ids.
    const iteration = (cluster: string, index: number) => {
      const made = context({ namespace: ns, cluster }, task);
      return { ...made, ctx: { ...made.ctx, each: { key: String(index), value: cluster } } };
    };
    const ids: string[] = [];
    for (const [i, cluster] of ['emulator', 'staging'].entries()) {
      const { ctx, out } = iteration(cluster, i);
      await actions.get('osm:namespace:onboard')!.handler(ctx);
      expect(out.status).toBe('SUCCEEDED');
      ids.push(out.requestId);
    }
    expect(new Set(ids).size).toBe(2);
    const { body: page } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(page.items.map((r: { cluster: string }) => r.cluster).sort()).toEqual(['emulator', 'staging']);
    // The task retried: each iteration finds its own request again.
    const again = iteration('staging', 1);
    await actions.get('osm:namespace:onboard')!.handler(again.ctx);
    expect(again.out.requestId).toBe(ids[1]);
  });

  it('cancelling the task cancels the request (held for approval here) and fails the task', async () => {
    const ns = uniqueName('bs-gated');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const abort = new AbortController();
    const { ctx, log, out } = context({ namespace: ns }, uniqueName('task'), abort.signal);
    const running = actions.get('osm:namespace:onboard')!.handler(ctx);
    const outcome = running.then(
      () => 'succeeded',
      (err: Error) => err.message,
    );
    await vi.waitFor(
      () => expect(log.lines.some((l) => l.startsWith('info request.held') || l.includes('approval'))).toBe(true),
      {
        timeout: 15_000,
      },
    );
    const id = out.requestId;
    expect((await http(s.url, 'GET', `/v1/onboardings/${id}`)).body.status).toBe('PENDING_APPROVAL');
    abort.abort();

    expect(await outcome).toBe(`request ${id} cancelled with the task`);
    expect(log.lines).toContain(`warn the task was cancelled: cancelling request ${id}`);
    expect(log.lines.at(-1)).toMatch(/^info request\.cancelled: /);
    await waitForStatus(s.url, id, ['CANCELLED']);
    expect((await namespaceMeta(s.emulator, ns)).labels[MONITORED]).toBeUndefined();
  });

  it('a blocked plan submits nothing; osm:namespace:plan reports it', async () => {
    const ns = uniqueName('bs-uid');
    seedAppNamespace(s.emulator.store, ns);
    s.emulator.store.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'app-0' }, 'merge', {
      spec: { template: { spec: { securityContext: { runAsUser: 1500 } } } },
    });
    await s.emulator.idle();

    const planned = context({ namespace: ns }, uniqueName('task'));
    await actions.get('osm:namespace:plan')!.handler(planned.ctx);
    const out = planned.out;
    expect(out.blocked).toBe(true);
    expect(out.diagnostics).toContainEqual(expect.objectContaining({ code: 'OSM_RESERVED_UID', level: 'error' }));

    const { ctx, log } = context({ namespace: ns }, uniqueName('task'));
    await expect(actions.get('osm:namespace:onboard')!.handler(ctx)).rejects.toThrow(/plan of emulator\/.* is blocked/);
    expect(log.lines.some((l) => l.startsWith('error prerequisites: error OSM_RESERVED_UID'))).toBe(true);
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
  });

  it('offboards a namespace end to end: its plan and every progress event in the task log', async () => {
    const ns = uniqueName('bs-off');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    await actions.get('osm:namespace:onboard')!.handler(context({ namespace: ns }, uniqueName('task')).ctx);
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBe('osm');
    const { ctx, log, out } = context({ namespace: ns, restart: 'none' }, uniqueName('task'), undefined, {
      step: 'offboard',
    });

    await actions.get('osm:namespace:offboard')!.handler(ctx);

    expect(out.status).toBe('SUCCEEDED');
    expect(out.link).toBe(`${s.url}/v1/onboardings/${out.requestId}`);
    const { body: request } = await http(s.url, 'GET', `/v1/onboardings/${out.requestId}`);
    expect(request).toMatchObject({ kind: 'OFFBOARD', namespace: ns, status: 'SUCCEEDED' });
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBeUndefined();
    expect(log.lines[0]).toBe(`info plan: offboard emulator/${ns} (mesh osm)`);
    const accepted = log.lines.findIndex((l) => l.startsWith(`info request ${out.requestId} accepted`));
    expect(accepted).toBeGreaterThan(0);
    const stored = await readSse(s.url, `/v1/onboardings/${out.requestId}/events`);
    const expected = stored.events.map(({ data: e }) => `info ${e.type}${e.step ? ` ${e.step}` : ''}: ${e.message}`);
    expect(expected.at(-1)).toMatch(/^info request\.succeeded: /);
    expect(log.lines.slice(accepted + 1)).toEqual(expected);
  });

  it('a template dry run plans and logs, and submits nothing (onboard and offboard)', async () => {
    const ns = uniqueName('bs-dry');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    for (const kind of ['onboard', 'offboard'] as const) {
      const { ctx, log, out } = context({ namespace: ns }, uniqueName('task'), undefined, { isDryRun: true });
      await actions.get(`osm:namespace:${kind}`)!.handler(ctx);
      expect(log.lines[0]).toBe(`info plan: ${kind} emulator/${ns} (mesh osm)`);
      expect(log.lines.at(-1)).toBe('info dry run: the plan only, nothing submitted');
      expect(out).toEqual({});
    }
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBeUndefined();
  });

  it('a retried task that finds its request FAILED retries that request: one request, then SUCCEEDED', async () => {
    const ns = uniqueName('bs-failed');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    // The API server refuses the namespace write once: the first run of the task ends FAILED.
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 403, times: 1 });
    const task = uniqueName('task');
    const first = context({ namespace: ns }, task);
    await expect(actions.get('osm:namespace:onboard')!.handler(first.ctx)).rejects.toThrow(
      new RegExp(`^request ${first.out.requestId ?? '[0-9a-f-]+'} FAILED: `),
    );
    const id = first.out.requestId;
    expect((await http(s.url, 'GET', `/v1/onboardings/${id}`)).body.status).toBe('FAILED');

    const again = context({ namespace: ns }, task);
    await actions.get('osm:namespace:onboard')!.handler(again.ctx);

    expect(again.out).toMatchObject({ requestId: id, status: 'SUCCEEDED' });
    expect(again.log.lines).toContain(
      `info request ${id} found again (a retried task): FAILED ${s.url}/v1/onboardings/${id}`,
    );
    expect(again.log.lines).toContain(`info request ${id} retried: QUEUED`);
    const { body: page } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(page.items.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBe('osm');
  });

  it('a retried task that finds its request REJECTED does not retry it: it fails again, one request', async () => {
    const ns = uniqueName('bs-gated-no');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const approver = await http(s.url, 'POST', '/v1/tokens', {
      name: uniqueName('bs-approver'),
      roles: ['approver'],
      scopes: ['*/*'],
    });
    const task = uniqueName('task');
    const first = context({ namespace: ns }, task);
    const running = actions.get('osm:namespace:onboard')!.handler(first.ctx);
    const outcome = running.then(
      () => 'succeeded',
      (err: Error) => err.message,
    );
    await vi.waitFor(() => expect(first.out.requestId).toBeDefined(), { timeout: 15_000 });
    const id = first.out.requestId;
    await waitForStatus(s.url, id, ['PENDING_APPROVAL']);
    const rejected = await http(
      s.url,
      'POST',
      `/v1/onboardings/${id}/reject`,
      { reason: 'not now' },
      {
        authorization: `Bearer ${approver.body.token}`,
      },
    );
    expect(rejected.status).toBe(200);
    expect(await outcome).toMatch(new RegExp(`^request ${id} REJECTED`));

    const again = context({ namespace: ns }, task);
    await expect(actions.get('osm:namespace:onboard')!.handler(again.ctx)).rejects.toThrow(
      new RegExp(`^request ${id} REJECTED`),
    );
    expect(again.log.lines).toContain(
      `info request ${id} found again (a retried task): REJECTED ${s.url}/v1/onboardings/${id}`,
    );
    expect(again.log.lines.some((l) => l.includes('retried:'))).toBe(false);
    const { body: page } = await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`);
    expect(page.items.map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([[id, 'REJECTED']]);
  });

  it("forwards the task initiator's token: the service records the user, not the configured token", async () => {
    const ns = uniqueName('bs-user');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    // The configured token is an admin's: if it were sent, the request would be recorded as the bootstrap admin.
    const forwarding = actionsFor({ baseUrl: s.url, token: ADMIN_TOKEN, forwardUserToken: true });
    const user = 'user:default/alice';
    const backstageToken = await users.tokenFor(user, { osm_roles: ['requester'], osm_scopes: ['emulator/bs-user-*'] });
    const { ctx, out } = context({ namespace: ns }, uniqueName('task'), undefined, { secrets: { backstageToken } });

    await forwarding.get('osm:namespace:onboard')!.handler(ctx);

    expect(out.status).toBe('SUCCEEDED');
    const { body: request } = await http(s.url, 'GET', `/v1/onboardings/${out.requestId}`);
    expect(request.requestedBy).toBe(`oidc:${user}`);
    const { body: audit } = await http(s.url, 'GET', `/v1/onboardings/${out.requestId}/audit`);
    expect(audit.items[0]).toMatchObject({ action: 'request.created', actor: `oidc:${user}` });

    // The user's own scopes hold: a namespace outside them is refused, whatever the configured token may do.
    const other = uniqueName('bs-other');
    seedAppNamespace(s.emulator.store, other);
    await s.emulator.idle();
    const refused = context({ namespace: other }, uniqueName('task'), undefined, { secrets: { backstageToken } });
    await expect(forwarding.get('osm:namespace:onboard')!.handler(refused.ctx)).rejects.toThrow(/FORBIDDEN|scope/i);
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${other}`)).body.items).toEqual([]);

    // No user token on the task: the action refuses rather than fall back to the configured token.
    const anonymous = context({ namespace: ns }, uniqueName('task'));
    await expect(forwarding.get('osm:namespace:onboard')!.handler(anonymous.ctx)).rejects.toThrow(
      'osmOnboarding.forwardUserToken is set but the task carries no Backstage user token',
    );
  });

  it('a bad baseUrl or token fails the action with OsmConfigError naming the setting, never its value', async () => {
    const secret = 'osmo_SECRETSECRET';
    const run = (config: Record<string, string>) =>
      actionsFor(config)
        .get('osm:namespace:onboard')!
        .handler(context({ namespace: 'bs-config' }, uniqueName('task')).ctx)
        .then(
          () => undefined,
          (err: unknown) => err as Error,
        );
    const url = await run({ baseUrl: `http://ci:${secret}@127.0.0.1:3710`, token: ADMIN_TOKEN });
    expect(url).toMatchObject({ name: 'OsmConfigError', option: 'baseUrl' });
    expect(url?.message).toBe('baseUrl must not carry credentials (user:password@); pass a token instead');
    const token = await run({ baseUrl: s.url, token: `${secret}\n` });
    expect(token).toMatchObject({ name: 'OsmConfigError', option: 'token' });
    expect(token?.message).toMatch(/^token contains a line break \(at character 18\)/);
    expect(token?.message).not.toContain(secret);
    expect((await http(s.url, 'GET', '/v1/onboardings?namespace=bs-config')).body.items).toEqual([]);
  });

  it('an empty cluster or meshName is refused by the service, never read as its default', async () => {
    const ns = uniqueName('bs-empty');
    seedAppNamespace(s.emulator.store, ns);
    const empties: Record<string, string>[] = [{ cluster: '' }, { meshName: '' }];
    for (const input of empties) {
      const field = Object.keys(input)[0];
      const { ctx } = context({ namespace: ns, ...input }, uniqueName('task'));
      await expect(actions.get('osm:namespace:onboard')!.handler(ctx)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: expect.stringContaining(field),
      });
    }
    expect((await http(s.url, 'GET', `/v1/onboardings?namespace=${ns}`)).body.items).toEqual([]);
    expect((await namespaceMeta(s.emulator, ns)).labels?.[MONITORED]).toBeUndefined();
  });

  it('links the request under a base URL with a path (a service published under a prefix)', async () => {
    // A reverse proxy that serves the service under /osm, as a portal's gateway might.
    const target = new URL(s.url);
    const proxy = createServer((req, res) => {
      if (!req.url?.startsWith('/osm/')) return void res.writeHead(404).end();
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url.slice(4), headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/osm`;
      const ns = uniqueName('bs-prefix');
      seedAppNamespace(s.emulator.store, ns);
      const { ctx, out } = context({ namespace: ns }, uniqueName('task'));
      await actionsFor({ baseUrl: base, token: ADMIN_TOKEN }).get('osm:namespace:onboard')!.handler(ctx);
      expect(out.status).toBe('SUCCEEDED');
      expect(out.link).toBe(`${base}/v1/onboardings/${out.requestId}`);
      const followed = await fetch(out.link, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(followed.status).toBe(200);
      expect((await followed.json()).id).toBe(out.requestId);
    } finally {
      proxy.closeAllConnections();
      proxy.close();
    }
  });

  it('the backend module registers the three actions with the scaffolder, configured from app-config', async () => {
    const addActions = vi.fn();
    const backend = await startTestBackend({
      extensionPoints: [[scaffolderActionsExtensionPoint, { addActions }]],
      features: [
        osmModule,
        mockServices.rootConfig.factory({ data: { osmOnboarding: { baseUrl: s.url, token: ADMIN_TOKEN } } }),
      ],
    });
    try {
      const ids = addActions.mock.calls.flat().map((a: TemplateAction) => a.id);
      expect(ids).toEqual(['osm:namespace:onboard', 'osm:namespace:offboard', 'osm:namespace:plan']);
    } finally {
      await backend.stop();
    }
  });
});
