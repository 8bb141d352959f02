#!/usr/bin/env node
// The runtime guard of the npm scripts: they (test, demo, start) run on the Node 24 that the `node` devDependency
// puts in node_modules/.bin, first on an npm script's PATH. If that is missing (an install without it, a script run
// outside npm), this fails at once with one line instead of running the project on an unsupported Node. The API and
// the worker check the same themselves (src/node-version.ts: the same first sentence, other advice), as they are
// also started without npm (`node dist/bundle/main.mjs`); test/unit/runtime.spec.ts holds the two together.
export const REQUIRED_MAJOR = 24;

/** The refusal's first sentence, shared with src/node-version.ts. */
export const refusal = (version, execPath) =>
  `osm-onboarding needs Node >= ${REQUIRED_MAJOR}, but ${execPath} is ${version}.`;

const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_MAJOR) {
  console.error(
    `${refusal(process.version, process.execPath)} ` +
      'Run it through npm (npm test, npm run demo, npm start), which puts the pinned Node from ' +
      'node_modules/.bin first on PATH, after `npm ci`.',
  );
  process.exit(1);
}
