-- Where a request came from, for logs and traces: the HTTP request id (X-Request-Id) of the call
-- that created it and the W3C trace context it ran under. The worker reads it when it claims the
-- request, so its logs and spans continue the caller's, whichever process runs it.
ALTER TABLE "onboarding_request" ADD COLUMN "origin" JSONB;
