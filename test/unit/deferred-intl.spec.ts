// src/deferred-intl.ts: a date formatter built while the process loads is built for real on first use only, acts as
// the built-in one once used, and the built-in constructor is back once the load is over.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { deferredDateTimeFormat, withDeferredDateFormats } from '../../src/deferred-intl.js';

const BUILT_IN = Intl.DateTimeFormat;

/** The built-in constructor behind a counter of the formatters it builds. */
function counted(): { ctor: typeof Intl.DateTimeFormat; built: () => number } {
  let n = 0;
  const ctor = new Proxy(BUILT_IN, {
    construct(target, args, newTarget) {
      n++;
      return Reflect.construct(target, args, newTarget) as object;
    },
    apply(target, self, args) {
      n++;
      return Reflect.apply(target, self, args) as unknown;
    },
  });
  return { ctor, built: () => n };
}

const OPTIONS: Intl.DateTimeFormatOptions = { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: 'UTC' };
const WHEN = new Date('2026-12-05T21:00:00Z');

afterEach(() => {
  Intl.DateTimeFormat = BUILT_IN;
});

describe('deferredDateTimeFormat', () => {
  it('builds nothing until the formatter is used, then formats as the built-in one', () => {
    const { ctor, built } = counted();
    const Deferred = deferredDateTimeFormat(ctor);
    const f = new Deferred('en-US', OPTIONS);
    expect(built()).toBe(0);
    expect(f).toBeInstanceOf(BUILT_IN);
    const expected = new BUILT_IN('en-US', OPTIONS);
    expect(f.format(WHEN)).toBe(expected.format(WHEN));
    expect(built()).toBe(1);
    expect(f.formatToParts(WHEN)).toEqual(expected.formatToParts(WHEN));
    expect(f.resolvedOptions()).toEqual(expected.resolvedOptions());
    // `format` is a bound function, as the built-in's getter returns: it can be passed around.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- what is tested: the method used unbound
    expect([WHEN].map(f.format)).toEqual([expected.format(WHEN)]);
    expect(built()).toBe(1); // one real formatter per deferred one
  });

  it('is the built-in when called without new or extended', () => {
    const { ctor, built } = counted();
    const Deferred = deferredDateTimeFormat(ctor);
    const plain = (Deferred as unknown as (l: string, o: Intl.DateTimeFormatOptions) => Intl.DateTimeFormat)(
      'en-US',
      OPTIONS,
    );
    expect(built()).toBe(1);
    expect(plain.format(WHEN)).toBe(new BUILT_IN('en-US', OPTIONS).format(WHEN));
    class Sub extends Deferred {}
    const sub = new Sub('en-US', OPTIONS);
    expect(built()).toBe(2);
    expect(sub).toBeInstanceOf(Sub);
    expect(sub.format(WHEN)).toBe(plain.format(WHEN));
  });
});

describe('withDeferredDateFormats', () => {
  it('defers the formatters a module builds while it loads, and restores the built-in after', async () => {
    const { ctor, built } = counted();
    Intl.DateTimeFormat = ctor;
    const dir = mkdtempSync(join(tmpdir(), 'deferred-intl-'));
    const file = join(dir, 'builds-one.mjs');
    writeFileSync(file, `export const stamp = new Intl.DateTimeFormat('en-US', ${JSON.stringify(OPTIONS)});\n`);
    const mod = (await withDeferredDateFormats(() => import(pathToFileURL(file).href))) as {
      stamp: Intl.DateTimeFormat;
    };
    expect(built()).toBe(0);
    expect(Intl.DateTimeFormat).toBe(ctor);
    expect(mod.stamp.format(WHEN)).toBe(new BUILT_IN('en-US', OPTIONS).format(WHEN));
    expect(built()).toBe(1);
    // After the load, a formatter is built at once again.
    new Intl.DateTimeFormat('en-US');
    expect(built()).toBe(2);
  });

  it('restores the built-in when the load fails', async () => {
    await expect(withDeferredDateFormats(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(Intl.DateTimeFormat).toBe(BUILT_IN);
  });
});
