// The unit tier's rule (vitest.unit.config.ts): no network. Connecting or listening throws, naming the test tier
// that may do it, so a unit test that secretly needs Postgres, Redis or a server fails at once instead of
// passing only on machines that have them. Child processes are refused for the same reason.
import child_process from 'node:child_process';
import net from 'node:net';

const refuse = (what: string) => () => {
  throw new Error(`unit tests do no I/O (${what}): move this test to test/integration`);
};
net.Socket.prototype.connect = refuse('a network connection');
net.Server.prototype.listen = refuse('a listening socket');
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  (child_process as Record<string, unknown>)[name] = refuse(`child_process.${name}`);
}
