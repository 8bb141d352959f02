// @osm-onboarding/client: the typed client of the osm-onboarding REST API (generated types + openapi-fetch) and the
// helpers a generator cannot give: follow a request's events with resume, wait for its end, verify a webhook.
export { createOsmClient, unwrap, type OsmApi, type OsmClient, type OsmClientOptions } from './client.js';
export {
  OsmApiError,
  OsmConfigError,
  OsmNetworkError,
  OsmStreamLostError,
  OsmTimeoutError,
  type ApiErrorBody,
  type OsmApiErrorBody,
  type OsmConfigOption,
  type OsmErrorCode,
  type ServiceErrorCode,
  type SyntheticErrorCode,
} from './errors.js';
export {
  followEvents,
  getRequest,
  requestHasEnded,
  TERMINAL_EVENTS,
  TERMINAL_STATUSES,
  type FollowOptions,
  type OsmRequest,
  type ProgressEvent,
  type RequestStatus,
} from './events.js';
export { waitForEnd, type WaitOptions } from './wait.js';
export {
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyWebhookSignature,
  type WebhookVerification,
  type WebhookVerifyOptions,
} from './webhooks.js';
export type { components, operations, paths } from './generated/openapi.js';

import type { components } from './generated/openapi.js';
export type Schemas = components['schemas'];
export type Plan = components['schemas']['Plan'];
export type Accepted = components['schemas']['Accepted'];
