import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectProgress,
  gql,
  http,
  startStack,
  Stack,
  uniqueName,
  waitForStatus,
  wsClient,
} from '../support/harness.js';
import { createNamespace, namespaceMeta, writesTo } from '../support/kube.js';

const REQUEST_FIELDS =
  'id kind cluster namespace meshName sidecarInjection status requestedBy errorCode lastEventCursor steps { name ' +
  'status result attempts before after }';

describe('onboarding over GraphQL with a graphql-ws subscription', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s.close());

  it('onboards through a mutation; a subscription sees every event in order and completes', async () => {
    const ns = uniqueName('gql');
    await createNamespace(s.emulator, ns);
    const client = wsClient(s.url);
    try {
      const { data, errors } = await gql(
        s.url,
        `mutation($input: OnboardingInput!) { requestOnboarding(input: $input) { ${REQUEST_FIELDS} } }`,
        { input: { namespace: ns, sidecarInjection: 'disabled' } },
      );
      expect(errors).toBeUndefined();
      const id = data.requestOnboarding.id;
      expect(data.requestOnboarding).toMatchObject({ kind: 'ONBOARD', status: 'QUEUED', sidecarInjection: 'disabled' });

      const { events, error } = await collectProgress(client, id);
      expect(error).toBeUndefined();
      expect(events.map((e) => e.cursor)).toEqual(events.map((_, i) => i + 1));
      expect(events.map((e) => [e.type, e.step])).toEqual([
        ['request.created', null],
        ['request.started', null],
        ['step.started', 'prerequisites'],
        ['step.succeeded', 'prerequisites'],
        ['step.started', 'mesh'],
        ['step.succeeded', 'mesh'],
        ['step.started', 'namespace'],
        ['step.applying', 'namespace'],
        ['step.succeeded', 'namespace'],
        ['step.started', 'verify'],
        ['step.succeeded', 'verify'],
        ['request.succeeded', null],
      ]);
      // The namespace step itself costs two API calls (GET + PATCH); the mesh lookup is cached.
      expect(events.find((e) => e.type === 'step.succeeded' && e.step === 'namespace').data).toMatchObject({
        result: 'CHANGED',
        apiCalls: 2,
      });

      const meta = await namespaceMeta(s.emulator, ns);
      expect(meta.labels['openservicemesh.io/monitored-by']).toBe('osm');
      expect(meta.annotations['openservicemesh.io/sidecar-injection']).toBe('disabled');

      // A late subscriber with a cursor gets only what came after it, then completion.
      const late = await collectProgress(client, id, 5);
      expect(late.events.map((e) => e.cursor)).toEqual(events.slice(5).map((e) => e.cursor));
      expect(late.events[0].cursor).toBe(6);

      const audit = await gql(
        s.url,
        `query($id: ID!) { auditEvents(requestId: $id) { cursor actor action step data } }`,
        { id },
      );
      expect(audit.data.auditEvents.map((e: any) => e.action)).toEqual(events.map((e) => e.type));
      expect(audit.data.auditEvents[0].actor).toBe('token:bootstrap-admin');
      expect(audit.data.auditEvents[1].actor).toBe('system:worker');

      const off = await gql(
        s.url,
        `mutation($input: OffboardingInput!) { requestOffboarding(input: $input) { id kind status } }`,
        {
          input: { namespace: ns },
        },
      );
      const offEvents = await collectProgress(client, off.data.requestOffboarding.id);
      expect(offEvents.events.at(-1).type).toBe('request.succeeded');
      expect((await namespaceMeta(s.emulator, ns)).labels['openservicemesh.io/monitored-by']).toBeUndefined();

      const one = await gql(s.url, `query($id: ID!) { onboardingRequest(id: $id) { ${REQUEST_FIELDS} } }`, { id });
      expect(one.data.onboardingRequest.steps.map((st: any) => [st.name, st.result])).toContainEqual([
        'namespace',
        'CHANGED',
      ]);
    } finally {
      await client.dispose();
    }
  });

  it('names the requestId argument when the request is unknown (auditEvents, onboardingProgress)', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const audit = await gql(s.url, 'query($id: ID!) { auditEvents(requestId: $id) { cursor } }', { id: missing });
    expect(audit.errors?.[0].extensions).toMatchObject({
      code: 'REQUEST_NOT_FOUND',
      fields: [expect.objectContaining({ field: 'requestId' })],
    });
    const client = wsClient(s.url);
    try {
      const errors = await new Promise<any>((resolve, reject) => {
        client.subscribe(
          {
            query: 'subscription($id: ID!) { onboardingProgress(requestId: $id) { cursor } }',
            variables: { id: missing },
          },
          { next: (r) => resolve(r.errors), error: (e) => resolve(e), complete: () => reject(new Error('no error')) },
        );
      });
      expect(errors[0].extensions).toMatchObject({
        code: 'REQUEST_NOT_FOUND',
        fields: [expect.objectContaining({ field: 'requestId' })],
      });
    } finally {
      await client.dispose();
    }
  });

  it('subscribing to a finished request replays everything and completes', async () => {
    const ns = uniqueName('replay');
    await createNamespace(s.emulator, ns);
    const { data } = await gql(s.url, `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`, {
      i: { namespace: ns },
    });
    await waitForStatus(s.url, data.requestOnboarding.id, ['SUCCEEDED']);
    const client = wsClient(s.url);
    try {
      const { events } = await collectProgress(client, data.requestOnboarding.id);
      expect(events[0].type).toBe('request.created');
      expect(events.at(-1).type).toBe('request.succeeded');
    } finally {
      await client.dispose();
    }
  });

  it('tells a caller that the answer is a replay (replayed), over HTTP and graphql-ws, like REST', async () => {
    const ns = uniqueName('idem');
    await createNamespace(s.emulator, ns);
    const key = `${ns}-1`;
    const onboard = `mutation($i: OnboardingInput!, $k: String) {
      requestOnboarding(input: $i, idempotencyKey: $k) { id status replayed } }`;
    const first = await gql(s.url, onboard, { i: { namespace: ns }, k: key });
    expect(first.errors).toBeUndefined();
    expect(first.data.requestOnboarding).toMatchObject({ status: 'QUEUED', replayed: false });
    const id = first.data.requestOnboarding.id;

    // The same key and input: the first request comes back, and says so.
    const again = await gql(s.url, onboard, { i: { namespace: ns }, k: key });
    expect(again.data.requestOnboarding).toMatchObject({ id, replayed: true });
    // A REST call with the same key and body is the same request (keys are per caller, across transports).
    const rest = await http(s.url, 'POST', '/v1/onboardings', { namespace: ns }, { 'idempotency-key': key });
    expect(rest.status).toBe(200);
    expect(rest.headers.get('idempotent-replayed')).toBe('true');
    expect(rest.body.id).toBe(id);
    // A query is never a replay; neither is a mutation without a key.
    const read = await gql(s.url, `query($id: ID!) { onboardingRequest(id: $id) { id replayed } }`, { id });
    expect(read.data.onboardingRequest).toEqual({ id, replayed: false });
    await waitForStatus(s.url, id, ['SUCCEEDED']);

    const client = wsClient(s.url);
    try {
      const overWs = (query: string, variables: Record<string, unknown>) =>
        new Promise<any>((resolve, reject) => {
          let result: any;
          client.subscribe(
            { query, variables },
            { next: (r) => (result = r), error: reject, complete: () => resolve(result) },
          );
        });
      const ws = await overWs(onboard, { i: { namespace: ns }, k: key });
      expect(ws.errors).toBeUndefined();
      expect(ws.data.requestOnboarding).toEqual({ id, status: 'SUCCEEDED', replayed: true });

      const offboard = `mutation($i: OffboardingInput!, $k: String) {
        requestOffboarding(input: $i, idempotencyKey: $k) { id kind replayed } }`;
      const off = await overWs(offboard, { i: { namespace: ns }, k: `${ns}-off` });
      expect(off.data.requestOffboarding).toMatchObject({ kind: 'OFFBOARD', replayed: false });
      const offAgain = await gql(s.url, offboard, { i: { namespace: ns }, k: `${ns}-off` });
      expect(offAgain.data.requestOffboarding).toEqual({ ...off.data.requestOffboarding, replayed: true });
      await waitForStatus(s.url, off.data.requestOffboarding.id, ['SUCCEEDED']);

      // Re-apply takes an idempotencyKey too: it is the last onboarding again, then a replay of that.
      await gql(s.url, onboard, { i: { namespace: ns, metrics: true } }).then((r) =>
        waitForStatus(s.url, r.data.requestOnboarding.id, ['SUCCEEDED']),
      );
      const reapply = `mutation($c: String!, $n: String!, $k: String) {
        reapplyOnboarding(cluster: $c, namespace: $n, idempotencyKey: $k) { id replayed } }`;
      const vars = { c: 'emulator', n: ns, k: `${ns}-reapply` };
      const r1 = await overWs(reapply, vars);
      expect(r1.errors).toBeUndefined();
      expect(r1.data.reapplyOnboarding.replayed).toBe(false);
      const r2 = await gql(s.url, reapply, vars);
      expect(r2.data.reapplyOnboarding).toEqual({ id: r1.data.reapplyOnboarding.id, replayed: true });
    } finally {
      await client.dispose();
    }
  });

  it('a document of several mutations: the one refused is null with its error, the others run and answer', async () => {
    // graphql-js runs a document's mutations in order; were their types non-null, one refusal would null the whole
    // answer (created requests unreported) and stop the ones after it (an outside audit).
    const [a, b, c] = [uniqueName('gql-many'), uniqueName('gql-many'), uniqueName('gql-many')];
    for (const ns of [a, b, c]) await createNamespace(s.emulator, ns);
    const busy = await gql(s.url, `mutation { requestOnboarding(input: { namespace: "${b}" }) { id } }`);
    expect(busy.errors).toBeUndefined();
    const many = await gql(
      s.url,
      `mutation {
        a: requestOnboarding(input: { namespace: "${a}" }) { id namespace }
        b: requestOnboarding(input: { namespace: "${b}" }) { id namespace }
        c: requestOnboarding(input: { namespace: "${c}" }) { id namespace }
      }`,
    );
    expect(many.status).toBe(200);
    expect(many.data.a).toMatchObject({ namespace: a });
    expect(many.data.b).toBeNull();
    expect(many.data.c).toMatchObject({ namespace: c });
    expect(many.errors).toEqual([
      expect.objectContaining({ path: ['b'], extensions: expect.objectContaining({ code: 'REQUEST_CONFLICT' }) }),
    ]);
    for (const r of [busy.data.requestOnboarding, many.data.a, many.data.c])
      await waitForStatus(s.url, r.id, ['SUCCEEDED']);
  });

  it('answers bad input with extensions.code naming the field, and writes nothing', async () => {
    const before = writesTo(s.emulator);
    const invalidNs = await gql(s.url, `mutation { requestOnboarding(input: { namespace: "Bad_Name" }) { id } }`);
    expect(invalidNs.errors[0].extensions).toMatchObject({
      code: 'VALIDATION_FAILED',
      fields: [{ field: 'namespace' }],
    });
    const reserved = await gql(s.url, `mutation { requestOnboarding(input: { namespace: "kube-system" }) { id } }`);
    expect(reserved.errors[0].extensions.code).toBe('NAMESPACE_RESERVED');
    const mesh = await gql(
      s.url,
      `mutation { requestOnboarding(input: { namespace: "bookstore", meshName: "nope" }) { id } }`,
    );
    expect(mesh.errors[0].extensions).toMatchObject({ code: 'MESH_NOT_FOUND', fields: [{ field: 'meshName' }] });
    const cluster = await gql(
      s.url,
      `mutation { requestOnboarding(input: { namespace: "bookstore", cluster: "nope" }) { id } }`,
    );
    expect(cluster.errors[0].extensions.code).toBe('CLUSTER_NOT_FOUND');
    const unknownField = await gql(
      s.url,
      `mutation { requestOnboarding(input: { namespace: "a", colour: "red" }) { id } }`,
    );
    expect(unknownField.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(unknownField.errors[0].message).toContain('colour');
    const wrongType = await gql(s.url, `mutation($i: OnboardingInput!) { requestOnboarding(input: $i) { id } }`, {
      i: { namespace: 7 },
    });
    expect(wrongType.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(wrongType.errors[0].message).toContain('namespace');
    const badEnum = await gql(
      s.url,
      `mutation { requestOnboarding(input: { namespace: "a", sidecarInjection: sometimes }) { id } }`,
    );
    expect(badEnum.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const notFound = await gql(s.url, `{ onboardingRequest(id: "00000000-0000-4000-8000-000000000000") { id } }`);
    expect(notFound.errors[0].extensions.code).toBe('REQUEST_NOT_FOUND');
    expect(writesTo(s.emulator)).toBe(before);
  });

  it('pages requests with a connection and filters', async () => {
    const ns = uniqueName('conn');
    await createNamespace(s.emulator, ns);
    for (let i = 0; i < 2; i++) {
      const { data } = await gql(s.url, `mutation($i: OffboardingInput!) { requestOffboarding(input: $i) { id } }`, {
        i: { namespace: ns },
      });
      await waitForStatus(s.url, data.requestOffboarding.id, ['SUCCEEDED']);
    }
    const q =
      `query($f: OnboardingRequestFilter, $after: String) { onboardingRequests(filter: $f, first: 1, after: ` +
      `$after) { edges { cursor node { id namespace kind } } pageInfo { hasNextPage endCursor } } }`;
    const p1 = await gql(s.url, q, { f: { namespace: ns, kind: 'OFFBOARD' } });
    expect(p1.data.onboardingRequests.edges).toHaveLength(1);
    expect(p1.data.onboardingRequests.pageInfo.hasNextPage).toBe(true);
    const p2 = await gql(s.url, q, {
      f: { namespace: ns, kind: 'OFFBOARD' },
      after: p1.data.onboardingRequests.pageInfo.endCursor,
    });
    expect(p2.data.onboardingRequests.edges).toHaveLength(1);
    expect(p2.data.onboardingRequests.pageInfo.hasNextPage).toBe(false);
    expect(p2.data.onboardingRequests.edges[0].node.id).not.toBe(p1.data.onboardingRequests.edges[0].node.id);
    const badCursor = await gql(s.url, q, { f: {}, after: 'garbage' });
    expect(badCursor.errors[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ field: 'after' }] });
  });
});
