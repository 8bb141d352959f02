// Owns the Node version check of the service's processes: main.ts, worker.ts and migrate.ts import this first, so
// `node dist/bundle/main.mjs` on an older Node (the machine's, not the image's or the pinned one in
// node_modules/.bin) stops with one line and exit code 1, instead of a stack trace from whichever dependency first
// uses an API it lacks (on Node 20: undici's zstd decompressor, `Cannot read properties of undefined`). The npm
// scripts have the same check, scripts/check-node.mjs, with the same first sentence (test/unit/runtime.spec.ts
// holds the two together, and the required major to package.json's engines).
//
// Nothing else is imported here: this module is evaluated before any other of the process's.

/** The oldest Node major the service runs on (package.json `engines`, the Dockerfile, the `node` devDependency). */
export const REQUIRED_NODE_MAJOR = 24;

/** Why `version` (process.version) at `execPath` cannot run the service, or undefined when it can. */
export function unsupportedNode(version: string, execPath: string): string | undefined {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  if (major >= REQUIRED_NODE_MAJOR) return undefined;
  return (
    `osm-onboarding needs Node >= ${REQUIRED_NODE_MAJOR}, but ${execPath} is ${version}. ` +
    `Start it with Node ${REQUIRED_NODE_MAJOR}: the image's, or node_modules/.bin/node, the pinned one that ` +
    '`npm ci` installs (the npm scripts run on it).'
  );
}

const problem = unsupportedNode(process.version, process.execPath);
if (problem) {
  console.error(problem);
  process.exit(1);
}
