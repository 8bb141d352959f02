#!/usr/bin/env node
// The last build step (`npm run build:service`): bundles the two long-running entry points, tsc's
// dist/src/main.js (API, or API + worker) and dist/src/worker.js, into dist/bundle/main.mjs and
// dist/bundle/worker.mjs, the files the image, compose, deploy/, the demo, the benchmarks and the tests' child
// processes run. Why: V8 keeps every loaded module's source text in the heap. Loaded file by file, the API held
// 85 MB of heap at ready, much of it source: @kubernetes/client-node's generated API classes alone are over 14 MB
// of source, all imported by its entry point. Bundled, only what is reachable is kept, without comments or
// indentation (docs/performance.md, night round of 2026-12-04).
//
// What stays a normal import from node_modules (external), and why:
// - packages that find files next to themselves (__dirname, __filename, import.meta, require.resolve) or
//   require a computed name: in a bundle those would point into dist/bundle (pino's transport worker would
//   resolve to our own worker.mjs). Found by reading each package's sources, not listed by hand;
// - CommonJS packages our code loads with import() (the tracing SDK): a bundled CommonJS module reached by
//   import() exposes only a default export, where Node also gives its named exports;
// - graphql: src/graphql/graphql-js.ts loads its CommonJS build on purpose, and a second copy in the bundle
//   would be "another realm" to it; reflect-metadata: it must run before any decorator, and an import of an
//   external module is evaluated first;
// - Nest's optional packages that are not installed (Nest requires them inside try/catch);
// - and every package an external package depends on, so that no module is loaded twice (once bundled, once
//   from node_modules by an external package), which would split its state (registries, instanceof).
// Everything else, our code included, is bundled. Names are kept (Nest and GraphQL read class names);
// identifiers are not minified, so stack traces stay readable.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const outdir = join(root, 'dist/bundle');
const entryPoints = ['dist/src/main.js', 'dist/src/worker.js'].map((f) => join(root, f));

/** Nest's optional peers, not installed: left as runtime requires that Nest catches. */
const NOT_INSTALLED = [
  '@apollo/gateway',
  '@apollo/subgraph',
  '@fastify/multipart',
  '@fastify/static',
  '@fastify/view',
  '@nestjs/microservices',
  '@nestjs/websockets',
  'class-transformer',
  'class-validator',
  'ts-morph',
];
/** Kept external for a reason a file scan cannot see (see the header). */
const ALWAYS = ['graphql', 'reflect-metadata'];
/** What in a package's sources means it locates files relative to itself, or requires a computed name. */
const LOCATES_FILES = /__dirname|__filename|import\.meta|require\.resolve|require\((?!\s*["'`])/;

const packageOf = (path) => path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1];

function packageJson(name, from) {
  for (let dir = from; ; dir = resolve(dir, '..')) {
    const file = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return { dir: join(dir, 'node_modules', name), pkg: JSON.parse(readFileSync(file, 'utf8')) };
    if (dir === resolve(dir, '..')) return undefined;
  }
}

/** `names` and everything they depend on at run time, transitively (dependencies, optional and peer). */
function closure(names) {
  const seen = new Set();
  const visit = (name, from) => {
    if (seen.has(name)) return;
    seen.add(name);
    const found = packageJson(name, from);
    if (!found) return;
    const { pkg, dir } = found;
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies }))
      visit(dep, dir);
  };
  for (const n of names) visit(n, root);
  return seen;
}

/**
 * Prisma's generated client loads its query compiler from a module that exports the WebAssembly as one base64
 * string (2.3 MB): once loaded, V8 holds that module's source and the string for the life of the process (4.6 MB
 * of old space in each process, docs/performance.md, twenty-first round). In the bundle the compiler is written as
 * a .wasm file beside the chunks instead, and the generated client's loader reads it from there: the bytes are
 * garbage once compiled. The generated file is matched exactly; if Prisma's output changes, the build fails here.
 */
const PRISMA_WASM_IMPORT =
  /const \{ wasm \} = await import\("(@prisma\/client\/runtime\/query_compiler_[a-z]+_bg\.[a-z]+\.wasm-base64\.mjs)"\);\s*return await decodeBase64AsWasm\(wasm\);/;
const PRISMA_WASM_FILE = 'prisma-query-compiler.wasm';

const prismaWasmFromFile = {
  name: 'prisma-wasm-from-file',
  setup(build) {
    build.onLoad({ filter: /generated[\\/]prisma[\\/]internal[\\/]class\.js$/ }, async ({ path }) => {
      const source = readFileSync(path, 'utf8');
      const found = PRISMA_WASM_IMPORT.exec(source);
      if (!found) throw new Error(`${path}: Prisma's query compiler loader is not the one scripts/bundle.mjs reads`);
      if (build.initialOptions.write !== false) {
        const { wasm } = await import(found[1]);
        mkdirSync(outdir, { recursive: true });
        writeFileSync(join(outdir, PRISMA_WASM_FILE), Buffer.from(wasm, 'base64'));
      }
      const read = `const { readFile } = await import('node:fs/promises');
    return new WebAssembly.Module(await readFile(new URL('./${PRISMA_WASM_FILE}', import.meta.url)));`;
      return { contents: source.replace(found[0], read), loader: 'js' };
    });
  },
};

const options = (external) => ({
  entryPoints,
  plugins: [prismaWasmFromFile],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  outExtension: { '.js': '.mjs' },
  external: [...external].flatMap((name) => [name, `${name}/*`]),
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  // Bundled CommonJS modules call require(); an ES module has none of its own.
  banner: {
    js:
      "import { createRequire as __bundleRequire } from 'node:module'; " +
      'const require = __bundleRequire(import.meta.url);',
  },
});

// Pass 1 (not written): which packages are reachable, and which of them locate files relative to themselves.
const probe = await esbuild.build({ ...options([...NOT_INSTALLED, ...ALWAYS]), write: false, logLevel: 'silent' });
const locating = new Set();
const importedCommonJs = new Set();
for (const [file, input] of Object.entries(probe.metafile.inputs)) {
  const name = packageOf(file);
  if (name && !locating.has(name) && LOCATES_FILES.test(readFileSync(join(root, file), 'utf8'))) locating.add(name);
  for (const target of input.imports) {
    const loaded = packageOf(target.path);
    if (target.kind === 'dynamic-import' && loaded && probe.metafile.inputs[target.path]?.format === 'cjs')
      importedCommonJs.add(loaded);
  }
}
const external = new Set([...NOT_INSTALLED, ...closure([...ALWAYS, ...locating, ...importedCommonJs])]);

// Pass 2: the bundle.
rmSync(outdir, { recursive: true, force: true });
const result = await esbuild.build(options(external));
const bundled = new Set(Object.keys(result.metafile.inputs).map((f) => packageOf(f) ?? '(this service)'));
if (process.argv.includes('--report')) {
  const sizes = Object.entries(result.metafile.outputs).sort(([, a], [, b]) => b.bytes - a.bytes);
  console.log(`bundled: ${[...bundled].sort().join(', ')}\nexternal: ${[...external].sort().join(', ')}`);
  console.log(sizes.map(([f, o]) => `${(o.bytes / 1e6).toFixed(2)} MB ${f}`).join('\n'));
}
console.log(`bundle: dist/bundle/main.mjs, dist/bundle/worker.mjs (${bundled.size} packages bundled)`);
