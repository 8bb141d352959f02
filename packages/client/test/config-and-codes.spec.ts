// OsmApiError's code is typed as the service's ErrorCode union plus the client's synthetic `HTTP_<status>`
// (`npm run typecheck` compiles the type assertions here; vitest runs the rest).
import { describe, expect, expectTypeOf, it } from 'vitest';
import { OsmApiError, type OsmErrorCode, type ServiceErrorCode } from '../src/index.js';

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
