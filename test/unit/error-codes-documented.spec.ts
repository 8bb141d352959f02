// docs/api.md names every error code the service answers with (DOMAIN_ERROR_CODES, which is also the typed client's
// OsmErrorCode union): a caller meeting a code finds what it means in the API's own reference.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOMAIN_ERROR_CODES } from '../../src/common/domain-error.js';

describe('the error codes in docs/api.md', () => {
  it('names every code the service answers with', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/api.md'), 'utf8');
    expect(DOMAIN_ERROR_CODES.length).toBeGreaterThan(50);
    expect(DOMAIN_ERROR_CODES.filter((code) => !doc.includes(`\`${code}\``))).toEqual([]);
  });
});
