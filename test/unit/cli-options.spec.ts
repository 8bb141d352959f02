// The CLI's request bodies and option names, from its parsed options (no I/O; the follower's tests that need a
// server are in test/integration/cli-events.spec.ts).
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/errors.js';
import { flagFor, offboardBody, onboardBody } from '../../src/cli/options.js';

describe('CLI request bodies and field names', () => {
  it('maps the onboard options onto the REST body', () => {
    const body = onboardBody(
      'team-a',
      {
        disableSidecarInjection: true,
        restart: 'selected',
        deployment: ['web', 'api'],
        maxConcurrent: 2,
        metrics: true,
        apiServerAccess: 'egress',
        serviceAccount: ['app'],
        appProtocol: [{ service: 'web', port: 'http', appProtocol: 'http' }],
        verifyTimeout: 60,
        acceptError: ['UID_1500'],
        dryRun: true,
      },
      { url: 'x', cluster: 'prod', mesh: 'edge' },
    );
    expect(body).toEqual({
      namespace: 'team-a',
      cluster: 'prod',
      meshName: 'edge',
      dryRun: true,
      sidecarInjection: 'disabled',
      restart: { mode: 'selected', deployments: ['web', 'api'], maxConcurrent: 2 },
      metrics: true,
      apiServerAccess: { method: 'egress', serviceAccounts: ['app'] },
      appProtocols: [{ service: 'web', port: 'http', appProtocol: 'http' }],
      verify: { timeoutSeconds: 60 },
      prerequisites: { acceptErrors: ['UID_1500'] },
    });
  });

  it('refuses --max-concurrent without a restart mode (exit 2) instead of restarting every Deployment', () => {
    const g = { url: 'x' };
    for (const body of [onboardBody, offboardBody]) {
      let refused: unknown;
      try {
        body('team-a', { maxConcurrent: 2 }, g);
      } catch (err) {
        refused = err;
      }
      expect(refused).toBeInstanceOf(CliError);
      expect(refused).toMatchObject({ exitCode: 2, message: expect.stringContaining('--restart') });
      expect(body('team-a', { maxConcurrent: 2, restart: 'needed' }, g).restart).toEqual({
        mode: 'needed',
        maxConcurrent: 2,
      });
      expect(body('team-a', { maxConcurrent: 2, deployment: ['web'] }, g).restart).toEqual({
        mode: 'selected',
        deployments: ['web'],
        maxConcurrent: 2,
      });
    }
  });

  it('names the option behind an API field', () => {
    expect(flagFor('namespace')).toBe('<namespace>');
    expect(flagFor('restart.deployments.0')).toBe('--deployment');
    expect(flagFor('restart.mode')).toBe('--restart');
    expect(flagFor('apiServerAccess.serviceAccounts')).toBe('--service-account');
    expect(flagFor('limit')).toBe('--limit');
    expect(flagFor('somethingElse')).toBeUndefined();
  });
});
