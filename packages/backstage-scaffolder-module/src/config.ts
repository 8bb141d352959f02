// Where the actions find the service: `osmOnboarding.baseUrl` and either a service token (`osmOnboarding.token`) or
// the task initiator's Backstage token forwarded (`osmOnboarding.forwardUserToken: true`).
import type { RootConfigService } from '@backstage/backend-plugin-api';

export interface OsmOnboardingConfig {
  baseUrl: string;
  /** An osm-onboarding API token (role requester, or approver/admin as the templates need). */
  token?: string;
  /**
   * Send the task initiator's Backstage token (`ctx.secrets.backstageToken`) as `Authorization: Bearer …` instead of
   * `token`; the service must then trust Backstage's issuer through its OIDC settings.
   */
  forwardUserToken: boolean;
  /** Longest wait for a request to end, in minutes (default 30); the task fails, the request goes on. */
  timeoutMinutes: number;
}

export function readOsmOnboardingConfig(config: RootConfigService): OsmOnboardingConfig {
  const section = config.getConfig('osmOnboarding');
  return {
    baseUrl: section.getString('baseUrl'),
    token: section.getOptionalString('token'),
    forwardUserToken: section.getOptionalBoolean('forwardUserToken') ?? false,
    timeoutMinutes: section.getOptionalNumber('timeoutMinutes') ?? 30,
  };
}
