// The app-config schema of @osm-onboarding/backstage-scaffolder-module (Backstage reads it through `configSchema`).
export interface Config {
  osmOnboarding: {
    /** Base URL of the osm-onboarding service, e.g. https://osm-onboarding.example.com */
    baseUrl: string;
    /**
     * An osm-onboarding API token used for every call.
     * @visibility secret
     */
    token?: string;
    /** Forward the task initiator's Backstage token (Authorization: Bearer) instead of `token`. */
    forwardUserToken?: boolean;
    /** Longest wait for a request to end, in minutes (default 30). */
    timeoutMinutes?: number;
  };
}
