// The client's generated types (packages/client/src/generated/openapi.ts) against the OpenAPI document this
// service serves now: a route, field or schema changed without `npm run client:generate` fails here.
// `npm run client:generate` runs this file with UPDATE_CLIENT_TYPES=1, which rewrites the types instead.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateTypes, GENERATED_TYPES } from '../../packages/client/scripts/generate-types.js';
import { http, startStack, type Stack } from '../support/harness.js';

describe('the typed client', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
  });
  afterAll(() => s?.close());

  it('has generated types that match the served OpenAPI document (UPDATE_CLIENT_TYPES=1 rewrites them)', async () => {
    const { status, body: document } = await http(s.url, 'GET', '/docs/openapi.json');
    expect(status).toBe(200);
    const generated = await generateTypes(document);
    if (process.env.UPDATE_CLIENT_TYPES === '1') await writeFile(GENERATED_TYPES, generated);
    const committed = await readFile(GENERATED_TYPES, 'utf8');
    // A readable failure: the first line that differs, not a 5 000-line diff.
    const a = committed.split('\n');
    const b = generated.split('\n');
    const at = a.findIndex((line, i) => line !== b[i]);
    const first = at < 0 ? Math.min(a.length, b.length) : at;
    const where = committed === generated ? '' : `line ${first + 1}: ${a[first]} ≠ ${b[first]}`;
    expect(where, 'run `npm run client:generate` and commit the types').toBe('');
  });
});
