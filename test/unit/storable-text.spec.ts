// The scan for text Postgres cannot store (src/common/storable-text.ts): its first look, which allocates nothing and
// passes most input, must never hide a field that the full walk would name.
import { describe, expect, it } from 'vitest';
import { isUnstorableText, unstorableTextFields } from '../../src/common/storable-text.js';

describe('unstorable text', () => {
  it('tells NUL and unpaired surrogates from paired ones', () => {
    expect(['a\u0000b', 'x\ud800', '\udc00y', 'a\ud800\ud800'].map(isUnstorableText)).toEqual([true, true, true, true]);
    expect(['plain', 'emoji \ud83d\ude00', 'é', ''].map(isUnstorableText)).toEqual([false, false, false, false]);
  });

  it('names the field, a key by its object, and passes clean input', () => {
    const body = { ok: 'x', list: [{ port: 'h\u0000' }], nested: { ['k\ud800']: 1 } };
    expect(unstorableTextFields(body).map((f) => f.field)).toEqual(['list.0.port', 'nested']);
    expect(unstorableTextFields({ namespace: 'team-a', n: 1, b: true, z: null })).toEqual([]);
    expect(unstorableTextFields('\u0000', ['Idempotency-Key']).map((f) => f.field)).toEqual(['Idempotency-Key']);
  });

  it('finds a field past the first look’s node budget, and in a cycle', () => {
    const wide = { items: Array.from({ length: 20_000 }, (_, i) => ({ i })), last: 'a\u0000' };
    expect(unstorableTextFields(wide).map((f) => f.field)).toEqual(['last']);
    const cyclic: Record<string, unknown> = { name: 'x\udfff' };
    cyclic.self = cyclic;
    expect(unstorableTextFields(cyclic).map((f) => f.field)).toEqual(['name']);
  });
});
