-- The lifecycle's `hold` transition (src/onboarding/lifecycle/transitions.ts): a worker about to claim a QUEUED
-- request sends it back to PENDING_APPROVAL when the approval policy in force asks more approvals than it has, or
-- refuses it. The lifecycle trigger's table of allowed changes gains QUEUED -> PENDING_APPROVAL; the trigger itself
-- is unchanged (a request needing N approvals still never reaches QUEUED or RUNNING with fewer, and approvals are
-- never taken back). test/integration/lifecycle.spec.ts checks this table against the code's.

CREATE OR REPLACE FUNCTION "onboarding_request_transition_allowed"("from" "RequestStatus", "to" "RequestStatus")
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT (coalesce("from"::text, '') || '>' || "to"::text) = ANY (ARRAY[
    '>PLANNED', '>PENDING_APPROVAL', '>QUEUED',
    'PLANNED>PENDING_APPROVAL', 'PLANNED>QUEUED', 'PLANNED>CANCELLED',
    'PENDING_APPROVAL>QUEUED', 'PENDING_APPROVAL>REJECTED', 'PENDING_APPROVAL>CANCELLED',
    'QUEUED>RUNNING', 'QUEUED>CANCELLED', 'QUEUED>PENDING_APPROVAL',
    'RUNNING>SUCCEEDED', 'RUNNING>FAILED', 'RUNNING>CANCELLED', 'RUNNING>QUEUED',
    'FAILED>PLANNED', 'FAILED>PENDING_APPROVAL', 'FAILED>QUEUED',
    'CANCELLED>PLANNED', 'CANCELLED>PENDING_APPROVAL', 'CANCELLED>QUEUED'
  ])
$$;
