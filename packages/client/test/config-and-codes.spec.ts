// createOsmClient refuses, with OsmConfigError, a base URL that is not an absolute http(s) URL or that carries
// credentials, and a token that cannot be sent in a header (its message never repeats either); and OsmApiError's
// code is typed as the service's ErrorCode union plus the client's synthetic `HTTP_<status>` (`npm run typecheck`
// compiles the type assertions here; vitest runs the rest).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createOsmClient,
  followEvents,
  OsmApiError,
  OsmConfigError,
  unwrap,
  type OsmErrorCode,
  type ServiceErrorCode,
} from '../src/index.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A local server that records the Authorization header of every request and answers 200 `{ items: [] }`. */
async function listen(seen: (string | undefined)[]): Promise<string> {
  server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[],"pageInfo":{"hasNextPage":false}}');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function refusal(fn: () => unknown): OsmConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OsmConfigError);
    return err as OsmConfigError;
  }
  throw new Error('not refused');
}

const SECRET = 'osmo_SECRETSECRET';

describe('createOsmClient refuses a base URL or token no request can be made with', () => {
  it.each([
    ['notaurl', 'must be an absolute http:// or https:// URL'],
    ['127.0.0.1:3000', 'must be an absolute http:// or https:// URL'],
    ['localhost:3000', 'must start with http:// or https://'],
    ['ftp://files.example.com', 'must start with http:// or https://'],
    [`http://user:${SECRET}@127.0.0.1:3710`, 'must not carry credentials'],
    [`https://${SECRET}@osm.example.com`, 'must not carry credentials'],
    ['http://127.0.0.1:3710/?debug=1', 'must not have a query or fragment'],
    ['http://127.0.0.1:3710/#top', 'must not have a query or fragment'],
  ])('baseUrl %s', (baseUrl, rule) => {
    const err = refusal(() => createOsmClient({ baseUrl }));
    expect(err.option).toBe('baseUrl');
    expect(err.message).toBe(`baseUrl ${err.rule}`);
    expect(err.rule).toContain(rule);
    expect(err.message).not.toContain(SECRET);
  });

  it.each([
    [`${SECRET}\nx`, 'contains a line break (at character 18)'],
    [`${SECRET}\r\n`, 'contains a line break (at character 18)'],
    [`Bearer ${SECRET}`, 'contains white space (at character 7)'],
    [`${SECRET}\x00`, 'contains a control character (at character 18)'],
    [`${SECRET}é`, 'contains a non-ASCII character (at character 18)'],
  ])('token %j', (token, rule) => {
    const err = refusal(() => createOsmClient({ baseUrl: 'http://127.0.0.1:3710', token }));
    expect(err.option).toBe('token');
    expect(err.rule).toContain(rule);
    expect(err.message).not.toContain(SECRET);
  });

  it('takes an http(s) URL (trailing slashes dropped) and sends a visible-ASCII token, none when empty', async () => {
    const seen: (string | undefined)[] = [];
    const url = await listen(seen);
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_~+/=';
    const client = createOsmClient({ baseUrl: `${url}//`, token: jwt });
    expect(client.baseUrl).toBe(url);
    await unwrap(client.api.GET('/v1/onboardings'));
    await unwrap(createOsmClient({ baseUrl: url, token: '' }).api.GET('/v1/onboardings'));
    expect(seen).toEqual([`Bearer ${jwt}`, undefined]);
  });

  it('a token function that returns a bad token fails the call with OsmConfigError, before any request', async () => {
    const seen: (string | undefined)[] = [];
    const url = await listen(seen);
    const client = createOsmClient({ baseUrl: url, token: async () => `${SECRET}\n` });
    const call = unwrap(client.api.GET('/v1/onboardings'));
    await expect(call).rejects.toBeInstanceOf(OsmConfigError);
    await expect(call).rejects.not.toThrow(SECRET);
    // The follower does not take it for a lost stream to retry: it fails at once.
    const events = followEvents(client, '6a3761c2-0000-4000-8000-000000000001', { retryMs: 1 });
    await expect(events.next()).rejects.toMatchObject({ name: 'OsmConfigError', option: 'token' });
    expect(seen).toEqual([]);
  });
});

describe("OsmApiError's code", () => {
  it("is the service's code, or HTTP_<status> for an answer without the service's error body", () => {
    const own = OsmApiError.from(404, { error: { code: 'REQUEST_NOT_FOUND', message: 'no such request' } });
    expect(own.code).toBe('REQUEST_NOT_FOUND');
    const proxy = OsmApiError.from(502, '<html>Bad Gateway</html>');
    expect(proxy.code).toBe('HTTP_502');
    expect(proxy.body).toEqual({ code: 'HTTP_502', message: '<html>Bad Gateway</html>' });

    expectTypeOf(own.code).toEqualTypeOf<OsmErrorCode>();
    expectTypeOf(own.body.code).toEqualTypeOf<OsmErrorCode>();
    expectTypeOf<'REQUEST_NOT_FOUND'>().toExtend<ServiceErrorCode>();
    expectTypeOf<'HTTP_502'>().toExtend<OsmErrorCode>();
    // A misspelt code does not compile (the comparisons below would with `code: string`).
    // @ts-expect-error 'REQUEST_NOT_FOUNDD' is no code
    expect(own.code === 'REQUEST_NOT_FOUNDD').toBe(false);
    // @ts-expect-error 'HTTP_5xx' is no code either
    expect(proxy.body.code === 'HTTP_5xx').toBe(false);
    expect(proxy.code === 'HTTP_502' && own.code === 'REQUEST_NOT_FOUND').toBe(true);
  });
});
