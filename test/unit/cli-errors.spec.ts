// What the CLI prints for an error it does not expect (its message, never its stack, never the token), how a
// --url or --token the client refuses is named, and the hint under an unreachable API's error (no I/O; the
// process-level runs are in test/integration/cli.spec.ts).
import { describe, expect, it } from 'vitest';
import { OsmConfigError, OsmNetworkError } from '@osm-onboarding/client';
import { CliError, configError, EXIT, toCliError, unexpectedError } from '../../src/cli/errors.js';
import { formatError } from '../../src/cli/output.js';
import { style } from '../../src/cli/render.js';

const TOKEN = 'osmo_SECRETSECRET';

describe('CLI errors', () => {
  it('an unexpected error: its message without the secrets, and no stack', () => {
    const err = new TypeError(`Headers.set: "Bearer ${TOKEN}" is an invalid header value (${TOKEN}).`);
    const cli = unexpectedError(err, [TOKEN, undefined, '']);
    expect(cli.exitCode).toBe(EXIT.FAILED);
    expect(cli.message).toBe('TypeError: Headers.set: "Bearer ***" is an invalid header value (***).');
    expect(unexpectedError('thrown text', []).message).toBe('thrown text');
  });

  it("a refused --url or --token is a usage error naming where it came from, with the client's rule", () => {
    const bad = new OsmConfigError('token', 'contains a line break (at character 18)');
    expect(configError(bad, 'cli').message).toBe('--token contains a line break (at character 18)');
    expect(configError(bad, 'env').message).toBe('OSM_ONBOARDING_TOKEN contains a line break (at character 18)');
    const url = new OsmConfigError('baseUrl', 'must start with http:// or https://');
    const mapped = toCliError(url) as ReturnType<typeof configError>;
    expect(mapped.exitCode).toBe(EXIT.USAGE);
    expect(mapped.message).toBe('--url (OSM_ONBOARDING_URL) must start with http:// or https://');
  });

  it('an unreachable API: exit 4, and a hint to start the service or point --url / OSM_ONBOARDING_URL at one', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3439'), { code: 'ECONNREFUSED' });
    const mapped = toCliError(new OsmNetworkError('http://127.0.0.1:3439', refused)) as CliError;
    expect(mapped.exitCode).toBe(EXIT.UNREACHABLE);
    const [first, hint, end] = formatError(mapped, style(false)).split('\n');
    expect(first).toMatch(/^error: cannot reach the API at http:\/\/127\.0\.0\.1:3439: .*ECONNREFUSED/);
    expect(hint).toBe(
      '  hint: start the service (at the repository root: npm run demo, or npm start), ' +
        'or point the CLI at a running one with --url or OSM_ONBOARDING_URL',
    );
    expect(end).toBe('');
  });
});
