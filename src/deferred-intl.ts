// Owns one memory measure of the two long-running processes (API and worker): a date formatter that a module builds
// while it loads is built for real only when it is first used. main.ts and worker.ts load the rest of the process
// through `withDeferredDateFormats`.
//
// Why: @nestjs/common's ConsoleLogger module builds an `Intl.DateTimeFormat` when it is imported, for timestamps
// that only its console output prints (the processes log through pino). Building one loads ICU's locale and time
// zone data: in alternated scratch runs of an ingest load (REST and GraphQL at 100 and 50 connections;
// docs/performance.md, ninth round) the API's peak RSS was 200–202 MB with the formatter deferred and 215–220 MB
// without. Outside the window (after the process has started) `Intl.DateTimeFormat` is the built-in again, so nothing
// the service does at run time changes.

type DateTimeFormatConstructor = typeof Intl.DateTimeFormat;

/**
 * A constructor like `original` whose instances create the real formatter on first use (any property read: `format`,
 * `formatToParts`, `resolvedOptions()`, …). Instances keep the formatter's prototype (`instanceof` holds). Called
 * without `new`, or as a subclass's base, it is the original.
 */
export function deferredDateTimeFormat(original: DateTimeFormatConstructor): DateTimeFormatConstructor {
  const deferred: DateTimeFormatConstructor = new Proxy(original, {
    construct(target, args: ConstructorParameters<DateTimeFormatConstructor>, newTarget) {
      if (newTarget !== deferred) return Reflect.construct(target, args, newTarget) as object;
      let real: Intl.DateTimeFormat | undefined;
      const formatter = () => (real ??= new target(...args));
      return new Proxy(Object.create(target.prototype) as Intl.DateTimeFormat, {
        get(_, property) {
          const f = formatter();
          const value: unknown = Reflect.get(f, property, f);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(f) : value;
        },
        has: (_, property) => Reflect.has(formatter(), property),
      });
    },
  });
  return deferred;
}

/** Runs `load` (the process's import()) with module-built date formatters deferred; restores the built-in after. */
export async function withDeferredDateFormats<T>(load: () => Promise<T>): Promise<T> {
  const original = Intl.DateTimeFormat;
  Intl.DateTimeFormat = deferredDateTimeFormat(original);
  try {
    return await load();
  } finally {
    Intl.DateTimeFormat = original;
  }
}
