#!/usr/bin/env node
// The runtime guard: npm scripts (test, demo, start) run on the Node 24 that the `node` devDependency puts in
// node_modules/.bin, first on an npm script's PATH. If that is missing (an install without it, a script run
// outside npm), this fails at once with one line instead of running the project on an unsupported Node.
const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_MAJOR) {
  console.error(
    `osm-onboarding needs Node >= ${REQUIRED_MAJOR}, but ${process.execPath} is ${process.version}. ` +
      'Run it through npm (npm test, npm run demo, npm start), which puts the pinned Node from ' +
      'node_modules/.bin first on PATH, after `npm ci`.',
  );
  process.exit(1);
}
