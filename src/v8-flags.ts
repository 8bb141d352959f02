// Owns the V8 flags the two long-running processes (API and worker) set on themselves, first thing, before the
// application's modules run: main.ts and worker.ts import it (after node-version.ts, which imports nothing) before
// they load the rest with import(). Flags here rather than on each command line because the entry points are started
// in many places (the image, compose, deploy/, the demo, the tests' and the benches' child processes) and
// NODE_OPTIONS refuses these flags.
//
// --no-maglev: V8's mid-tier optimizing compiler (Maglev) compiles hot functions sooner than TurboFan, and its
// compilations' scratch memory (malloc'd zones, ~20 MB at their peak here) stays in glibc's heap. Without it, in
// alternated runs of the ingest load (docs/performance.md, seventh round), the API's peak RSS was 221–231 MB
// instead of 239–264 MB at the same CPU per request once warm, and the worker used 8.3–8.6 ms of CPU per namespace
// instead of 9.3–9.4 ms (a new process onboarding 100 namespaces, where compilation is a large share).
//
// A maglev flag on node's own command line (`node --maglev dist/bundle/main.mjs`) wins: nothing is set then.
import { setFlagsFromString } from 'node:v8';

/** The flags set by this module, unless the command line names the same flag (with or without `no-`). */
const SERVICE_V8_FLAGS = ['--no-maglev'];

const named = (flag: string) => flag.replace(/^--(no-)?/, '').split('=')[0];
const onCommandLine = new Set(process.execArgv.filter((a) => a.startsWith('--')).map(named));
for (const flag of SERVICE_V8_FLAGS) if (!onCommandLine.has(named(flag))) setFlagsFromString(flag);
