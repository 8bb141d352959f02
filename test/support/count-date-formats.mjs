// Test preload (node --import): counts the Intl.DateTimeFormat objects built for real in this process and prints
// the count when the process exits. Used by test/integration/entry-prelude.spec.ts.
let built = 0;
Intl.DateTimeFormat = new Proxy(Intl.DateTimeFormat, {
  construct(target, args, newTarget) {
    built++;
    return Reflect.construct(target, args, newTarget);
  },
  apply(target, self, args) {
    built++;
    return Reflect.apply(target, self, args);
  },
});
process.once('exit', () => process.stdout.write(`date formats built: ${built}\n`));
