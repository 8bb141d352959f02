import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAppNamespace } from '../support/emulator/seed.js';
import { ADMIN_TOKEN, http, startStack, Stack, uniqueName } from '../support/harness.js';
import { namespaceMeta } from '../support/kube.js';
import { itWith } from '../support/binaries.js';

// The built CLI (dist/src/cli/main.js, the package's "bin") as a child process against a
// running service: what a script or a chatops bot sees (stdout is a pipe unless said otherwise).

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const MONITORED = 'openservicemesh.io/monitored-by';
const ESC = '\x1b';

/** `npm test` builds first; when run alone, build if the CLI (or the client it runs on) is older than its sources. */
function ensureBuilt() {
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { recursive: true }).map((f) => statSync(join(dir, String(f))).mtimeMs));
  const tsc = (project: string) =>
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, project)], {
      cwd: ROOT,
      stdio: 'inherit',
    });
  const client = join(ROOT, 'packages/client/dist/index.js');
  if (newest(join(ROOT, 'packages/client/src')) > (existsSync(client) ? statSync(client).mtimeMs : 0))
    tsc('packages/client/tsconfig.build.json');
  if (newest(join(ROOT, 'src/cli')) > (existsSync(CLI) ? statSync(CLI).mtimeMs : 0)) tsc('tsconfig.build.json');
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

// A test here starts the CLI up to a dozen times; on a loaded CI machine each start takes seconds.
describe('the osm-onboarding CLI against a running service', { timeout: 60_000 }, () => {
  let s: Stack;
  let env: Record<string, string>;

  const cli = (args: string[], extraEnv: Record<string, string> = {}, timeout = 30_000): Promise<Run> =>
    new Promise((done) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, timeout }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      });
    });

  const lines = (text: string) => text.split('\n').filter(Boolean);

  beforeAll(async () => {
    ensureBuilt();
    s = await startStack({
      env: {
        APPROVAL_POLICY: JSON.stringify({ rules: [{ name: 'cli-gate', namespaces: ['gated-*'], approvals: 1 }] }),
      },
    });
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      OSM_ONBOARDING_URL: s.url,
      OSM_ONBOARDING_TOKEN: ADMIN_TOKEN,
    };
  });
  afterAll(() => s?.close());

  it('onboard --wait streams the events as plain lines when piped and exits 0', async () => {
    const ns = uniqueName('cli-ok');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();

    const r = await cli(['onboard', ns, '--wait']);
    expect(r.stderr).toMatch(new RegExp(`^${ns}: request [0-9a-f-]{36} accepted, QUEUED`));
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(ESC); // no colours, no cursor movement in a pipe
    const out = lines(r.stdout);
    const events = out.slice(0, -1);
    // One line per event: <time> <cluster>/<namespace> <type>[ <step>]: <message>
    for (const line of events)
      expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z emulator/${ns} [a-z.-]+( [a-z-]+)?: .+$`));
    const types = events.map((l) => l.split(' ')[2].replace(/:$/, ''));
    expect(types[0]).toBe('request.created');
    expect(types).toContain('step.started');
    expect(types).toContain('step.succeeded');
    expect(types.at(-1)).toBe('request.succeeded');
    expect(events.find((l) => l.includes('step.succeeded namespace:'))).toBeDefined();
    expect(out.at(-1)).toMatch(new RegExp(`^[0-9a-f-]{36} onboard emulator/${ns} SUCCEEDED$`));
    expect((await namespaceMeta(s.emulator, ns)).labels[MONITORED]).toBe('osm');
  });

  it('--json prints one JSON document (the request; several as items)', async () => {
    const a = uniqueName('cli-json');
    const b = uniqueName('cli-json');
    for (const ns of [a, b]) seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();

    const one = await cli(['onboard', a, '--json', '--disable-sidecar-injection']);
    expect(one.code).toBe(0);
    const req = JSON.parse(one.stdout);
    expect(req).toMatchObject({ namespace: a, status: 'SUCCEEDED', sidecarInjection: 'disabled', kind: 'ONBOARD' });
    expect(req.steps.every((st: { status: string }) => st.status === 'SUCCEEDED')).toBe(true);
    expect(one.stderr).toBe('');

    const noWait = await cli(['offboard', a, b, '--no-wait', '--json']);
    expect(noWait.code).toBe(0);
    const both = JSON.parse(noWait.stdout);
    expect(both.items.map((x: { namespace: string; kind: string }) => [x.namespace, x.kind])).toEqual([
      [a, 'OFFBOARD'],
      [b, 'OFFBOARD'],
    ]);

    const shown = await cli(['status', req.id, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: req.id, status: 'SUCCEEDED' });
    const list = await cli(['status', '--namespace', a, '--kind', 'ONBOARD', '--json']);
    expect(JSON.parse(list.stdout).items.map((x: { id: string }) => x.id)).toEqual([req.id]);
    const table = await cli(['status', '--namespace', a]);
    expect(lines(table.stdout)[0]).toMatch(/^ID\s+KIND\s+TARGET\s+STATUS/);
    expect(table.stdout).toContain(`emulator/${a}`);
  });

  it('a failing request exits 1, and retry picks it up once the cause is fixed', async () => {
    const ns = uniqueName('cli-missing');
    // Refused by the API before anything is stored (422): exit 2, as every refused input, with the code.
    const refused = await cli(['onboard', ns]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('NAMESPACE_NOT_FOUND');
    // Fails in the worker: the API server refuses the namespace patch once.
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    s.emulator.faults.add({ verb: 'patch', resource: 'namespaces', name: ns, status: 403, times: 1 });
    const r = await cli(['onboard', ns]);
    expect(r.code).toBe(1);
    expect(lines(r.stdout).some((l) => l.includes(' request.failed: '))).toBe(true);
    const last = new RegExp(`^([0-9a-f-]{36}) onboard emulator/${ns} FAILED KUBE_FORBIDDEN: `);
    expect(lines(r.stdout).at(-1)).toMatch(last);
    const id = lines(r.stdout).at(-1)!.split(' ')[0];

    const shown = await cli(['status', id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('KUBE_FORBIDDEN');

    const retried = await cli(['retry', id]);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain(' request.retried: ');
    expect(lines(retried.stdout).at(-1)).toBe(`${id} onboard emulator/${ns} SUCCEEDED`);
  });

  it('bad input exits 2 and names the fields (and the options behind them)', async () => {
    const bad = await cli(['onboard', 'Not_A_Namespace', '--api-server-access', 'egress']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('VALIDATION_FAILED');
    expect(bad.stderr).toMatch(/^ {2}namespace \(<namespace>\): must be a lowercase RFC 1123 label/m);
    expect(bad.stderr).toMatch(/^ {2}apiServerAccess\.serviceAccounts \(--service-account\): required/m);

    const json = await cli(['onboard', 'Not_A_Namespace', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr).error.fields).toEqual([{ field: 'namespace', message: expect.any(String) }]);

    const usage = await cli(['onboard', 'team', '--restart-everything']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown option '--restart-everything'");
    expect((await cli(['onboard'])).code).toBe(2);
    expect((await cli(['reject', '00000000-0000-4000-8000-000000000000'])).stderr).toContain(
      "required option '--reason <text>'",
    );
    expect((await cli(['status', '--limit', 'many'])).code).toBe(2);
    expect((await cli(['onboard', 'x', '--api-server-access', 'vpn'])).code).toBe(2);
    // An empty --cluster or --mesh (a script's unset variable) is refused, never the default context or mesh.
    for (const args of [
      ['--cluster', '', 'onboard', 'team', '--dry-run'],
      ['--mesh', ' ', 'onboard', 'team', '--dry-run'],
      ['--cluster', '', 'status'],
    ]) {
      const empty = await cli(args);
      expect([empty.code, empty.stdout]).toEqual([2, '']);
      expect(empty.stderr).toContain('must not be empty');
    }
    // An unknown request: the error line names the argument as `status --help` does (an outside audit).
    expect((await cli(['status', '--help'])).stdout).toContain('status [options] [id]');
    const unknown = await cli(['status', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('id (<id>)');
  });

  it('--restart takes only the API modes (a typo is exit 2 with the valid ones), names via --deployment', async () => {
    const typo = await cli(['onboard', 'team', '--restart', 'al']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("argument 'al' is invalid. Allowed choices are none, needed, all, selected.");
    const list = await cli(['onboard', 'team', '--restart', 'web,api']);
    expect(list.code).toBe(2);

    const ns = uniqueName('cli-sel');
    const { deployments } = seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const missing = await cli(['onboard', ns, '--restart', 'selected']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^ {2}restart\.deployments \(--deployment\): required/m);
    const extra = await cli(['onboard', ns, '--restart', 'all', '--deployment', deployments[0]]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^ {2}restart\.deployments \(--deployment\): only allowed when mode is selected/m);

    const planned = await cli(['plan', ns, '--deployment', deployments[0], '--json']);
    expect(planned.code).toBe(0);
    const restart = JSON.parse(planned.stdout).steps.find((st: { name: string }) => st.name === 'restart');
    expect(restart.changes.map((c: { target: { name: string } }) => c.target.name)).toEqual([deployments[0]]);
  });

  it('an unknown cluster is an input error (exit 2), and --help into a closed pipe exits quietly', async () => {
    const unknown = await cli(['onboard', 'bookbuyer', '--cluster', 'nowhere']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('CLUSTER_NOT_FOUND');
    // The field at fault is named with its option (docs/api.md#cli), its message not repeated.
    expect(unknown.stderr).toMatch(/^ {2}cluster \(--cluster\)$/m);

    // `| true` closes the pipe before the help is written: EPIPE, which must not print a stack trace.
    const script = '"$0" "$1" --help | true; echo "cli exit ${PIPESTATUS[0]}"';
    const piped = await new Promise<Run>((done) =>
      execFile('bash', ['-c', script, process.execPath, CLI], { env }, (err, stdout, stderr) =>
        done({ code: err ? -1 : 0, stdout, stderr }),
      ),
    );
    expect(piped).toEqual({ code: 0, stdout: 'cli exit 0\n', stderr: '' });
  });

  it('auth errors exit 3; tokens create/list/revoke; an unreachable API exits 4', async () => {
    const bad = await cli(['status'], { OSM_ONBOARDING_TOKEN: 'not-a-token' });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('UNAUTHENTICATED');
    expect((await cli(['status', '--token', ''], { OSM_ONBOARDING_TOKEN: '' })).code).toBe(3);

    const name = uniqueName('cli-viewer');
    const created = await cli(['tokens', 'create', name, '--role', 'viewer', '--scope', 'emulator/*']);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^osmo_\S+$/); // the secret alone on stdout, for TOKEN=$(…)
    expect(created.stderr).toContain(`token ${name}`);

    const viewer = { OSM_ONBOARDING_TOKEN: secret };
    expect((await cli(['status'], viewer)).code).toBe(0);
    const forbidden = await cli(['onboard', 'bookbuyer'], viewer);
    expect(forbidden.code).toBe(3);
    expect(forbidden.stderr).toContain('FORBIDDEN');
    expect((await cli(['tokens', 'list'], viewer)).code).toBe(3);

    const listed = await cli(['tokens', 'list', '--json']);
    const record = JSON.parse(listed.stdout).items.find((t: { name: string }) => t.name === name);
    expect(record).toMatchObject({ roles: ['viewer'], scopes: ['emulator/*'], revokedAt: null });
    expect(listed.stdout).not.toContain(secret);
    const revoked = await cli(['tokens', 'revoke', record.id]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${name}`);
    await new Promise((r) => setTimeout(r, 10)); // the token cache is cleared on revoke
    expect((await cli(['status'], viewer)).code).toBe(3);

    const down = await cli(['status'], { OSM_ONBOARDING_URL: 'http://127.0.0.1:59999' });
    expect(down.code).toBe(4);
    expect(down.stderr).toContain('cannot reach the API at http://127.0.0.1:59999');
    // The next step: start the service, or point the CLI at a running one.
    expect(down.stderr).toMatch(/\n {2}hint: start the service \(.*npm run demo.*\).*--url or OSM_ONBOARDING_URL\n$/);
    const downJson = await cli(['status', '--json'], { OSM_ONBOARDING_URL: 'http://127.0.0.1:59999' });
    expect(downJson.code).toBe(4);
    expect(JSON.parse(downJson.stderr).error).toMatchObject({
      code: 'CLI_ERROR',
      hint: expect.stringContaining('npm run demo'),
    });
  });

  it('a bad --url, --token or --idempotency-key is refused before any call (exit 2), echoing no secret', async () => {
    const secret = 'osmo_SECRETSECRET';
    const runs: Run[] = [];
    const run = async (args: string[], extraEnv?: Record<string, string>) => {
      const r = await cli(args, extraEnv);
      runs.push(r);
      return r;
    };
    const lineBreak = 'contains a line break (at character 18); a token is visible ASCII characters only';
    expect(await run(['status', '--token', `${secret}\nx`])).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: --token ${lineBreak}\n`,
    });
    const fromEnv = await run(['status'], { OSM_ONBOARDING_TOKEN: `${secret}\nx` });
    expect(fromEnv).toMatchObject({ code: 2, stderr: `error: OSM_ONBOARDING_TOKEN ${lineBreak}\n` });

    const creds = await run(['onboard', 'bookstore', '--url', `http://user:${secret}@127.0.0.1:3710`, '--no-wait']);
    expect(creds).toMatchObject({
      code: 2,
      stderr: 'error: --url must not carry credentials (user:password@); pass a token instead\n',
    });
    const notUrl = await run(['onboard', 'bookstore', '--url', 'notaurl', '--no-wait']);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toMatch(/^error: --url must be an absolute http:\/\/ or https:\/\/ URL, e\.g\. /);
    const json = await run(['status', '--json'], { OSM_ONBOARDING_URL: `ftp://${secret}@osm.example.com` });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: 'CLI_ERROR', message: 'OSM_ONBOARDING_URL must start with http:// or https://' },
    });

    // A header value the API would refuse (and fetch could not send): named, as any other bad option value.
    const key = await run(['onboard', 'bookstore', '--idempotency-key', `${secret}\nx`, '--no-wait']);
    expect(key.code).toBe(2);
    expect(key.stderr).toContain("option '--idempotency-key <key>' argument");
    expect(key.stderr).toContain('must not contain control characters');
    for (const r of runs.slice(0, -1)) expect(r.stderr).not.toContain(secret);
    for (const r of runs) expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    // The refused argument is repeated with its control characters shown, never sent to the terminal.
    const escape = await run(['onboard', 'bookstore', '--idempotency-key', 'a\u001b[2Jb\tc', '--no-wait']);
    expect(escape.code).toBe(2);
    expect(escape.stderr).toContain("argument 'a\\x1b[2Jb\\x09c' is invalid");
    expect([...escape.stderr].filter((c) => c !== '\n' && /\p{Cc}/u.test(c))).toEqual([]);
  });

  it('an unexpected error prints its message on one line (exit 1), without a stack', async () => {
    // A broken proxy in front of the API: 200 with a JSON content type and a truncated body.
    const proxy = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items": ['),
    );
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const r = await cli(['status'], { OSM_ONBOARDING_URL: url });
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^error: SyntaxError: \S.*JSON/)]);
      const json = await cli(['status', '--json'], { OSM_ONBOARDING_URL: url });
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stderr).error).toEqual({
        code: 'CLI_ERROR',
        message: expect.stringMatching(/^SyntaxError/),
      });
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it('approve and reject requests held by the approval policy', async () => {
    const approver = (
      await cli(['tokens', 'create', uniqueName('cli-approver'), '--role', 'approver', '--scope', '*/*'])
    ).stdout.trim();
    const [a, b] = [uniqueName('gated'), uniqueName('gated')];
    for (const ns of [a, b]) seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();

    // --wait (the default) follows a held request through its approval.
    const waiting = cli(['onboard', a]);
    let id = '';
    for (let i = 0; i < 100 && !id; i++) {
      const listed = JSON.parse((await cli(['status', '--namespace', a, '--json'])).stdout);
      id = listed.items[0]?.id ?? '';
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    expect((await http(s.url, 'GET', `/v1/onboardings/${id}`)).body).toMatchObject({
      status: 'PENDING_APPROVAL',
      approvalsRequired: 1,
      approvalRule: 'cli-gate',
    });

    const own = await cli(['approve', id]); // the admin requested it: no self-approval
    expect(own.code).toBe(3);
    expect(own.stderr).toContain('SELF_APPROVAL_FORBIDDEN');

    const approved = await cli(['approve', id, '--comment', 'looks fine'], { OSM_ONBOARDING_TOKEN: approver });
    expect(approved.code).toBe(0);
    expect(approved.stdout.trim()).toMatch(new RegExp(`^${id} onboard emulator/${a} (QUEUED|RUNNING|SUCCEEDED)$`));
    const followed = await waiting;
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain(' request.approved: ');
    expect(lines(followed.stdout).at(-1)).toBe(`${id} onboard emulator/${a} SUCCEEDED`);

    const held = await cli(['onboard', b, '--no-wait', '--json']);
    expect(held.code).toBe(0);
    const id2 = JSON.parse(held.stdout).id;
    expect(JSON.parse(held.stdout).status).toBe('PENDING_APPROVAL');
    const rejected = await cli(['reject', id2, '--reason', 'not this week'], { OSM_ONBOARDING_TOKEN: approver });
    expect(rejected.code).toBe(0);
    expect(rejected.stdout.trim()).toMatch(
      new RegExp(
        `^${id2} onboard emulator/${b} REJECTED REJECTED: rejected by token:cli-approver-\\w+: not this week$`,
      ),
    );
    const follow = await cli(['status', id2, '--follow']);
    expect(follow.code).toBe(1); // a rejected request is not a success
    expect(follow.stdout).toContain(' request.rejected: ');
  });

  it('plan prints the writes and exits 1 when blocked; --dry-run then apply', async () => {
    const ns = uniqueName('cli-plan');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    const p = await cli(['plan', ns, '--restart', 'all', '--app-protocol', 'app-0:8080=tcp']);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(`plan: onboard emulator/${ns} (mesh osm)`);
    expect(p.stdout).toContain(`patch Service ${ns}/app-0 (json)`); // the port selected by its number
    expect(p.stdout).toContain(`patch Namespace ${ns} (strategic)`);
    expect(p.stdout).toMatch(/\d+ writes? planned/);
    // Blocked: an application running as UID 1500 (the sidecar's) fails the prerequisites.
    const uid = uniqueName('cli-uid');
    seedAppNamespace(s.emulator.store, uid);
    s.emulator.store.patch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: uid, name: 'app-0' }, 'merge', {
      spec: { template: { spec: { securityContext: { runAsUser: 1500 } } } },
    });
    await s.emulator.idle();
    const blocked = await cli(['plan', uid]);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('OSM_RESERVED_UID');
    const nowhere = await cli(['plan', uniqueName('cli-nowhere')]);
    expect(nowhere.code).toBe(2); // a 422 before any plan
    expect(nowhere.stderr).toContain('NAMESPACE_NOT_FOUND');

    const dry = await cli(['onboard', ns, '--dry-run']);
    expect(dry.code).toBe(0);
    const id = lines(dry.stdout).at(-1)!.split(' ')[0];
    expect(dry.stdout).toContain('PLANNED');
    expect(dry.stderr).toContain(`osm-onboarding apply ${id}`);
    const applied = await cli(['apply', id]);
    expect(applied.code).toBe(0);
    expect(lines(applied.stdout).at(-1)).toBe(`${id} onboard emulator/${ns} SUCCEEDED`);
  });

  it('cancel a queued request', async () => {
    const ns = uniqueName('gated');
    seedAppNamespace(s.emulator.store, ns);
    const held = JSON.parse((await cli(['onboard', ns, '--no-wait', '--json'])).stdout);
    const c = await cli(['cancel', held.id, '--reason', 'changed my mind']);
    expect(c.code).toBe(0);
    expect(c.stdout.trim()).toMatch(new RegExp(`^${held.id} onboard emulator/${ns} CANCELLED`));
    const again = await cli(['cancel', held.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('REQUEST_NOT_CANCELLABLE');
  });

  itWith(['script'])('on a terminal, draws a step list in place', async () => {
    const ns = uniqueName('cli-tty');
    seedAppNamespace(s.emulator.store, ns);
    await s.emulator.idle();
    // util-linux `script` gives the CLI a pseudo-terminal as stdout.
    const command = [process.execPath, CLI, 'onboard', ns].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<Run>((done) =>
      execFile(
        'script',
        ['-qefc', command, '/dev/null'],
        { env: { ...env, COLUMNS: '100', LINES: '40' }, timeout: 30_000 },
        (err, stdout, stderr) => done({ code: err ? Number(err.code) : 0, stdout, stderr }),
      ),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ESC}[?25l`); // cursor hidden while drawing
    expect(r.stdout).toMatch(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`)); // redrawn in place
    expect(r.stdout).toContain('✔');
    expect(r.stdout).toContain(`onboard emulator/${ns}`);
    expect(r.stdout).not.toContain('request.created:'); // not the plain format
  });
});
