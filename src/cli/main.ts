#!/usr/bin/env node
// osm-onboarding CLI entry point (package.json "bin"). See ./program.ts.
import { runCli } from './program.js';

// A closed pipe (`osm-onboarding --help | head`) ends the CLI quietly, with the code it has so far.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

// The live view hides the cursor while it draws; never leave a terminal without one.
process.on('exit', () => process.stdout.isTTY && process.stdout.write('\x1b[?25h'));

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  onInterrupt: (stop) => {
    const handler = () => stop();
    process.once('SIGINT', handler);
    return () => process.off('SIGINT', handler);
  },
});
process.exitCode = code;
