// Owns the request input of onboardings and offboardings (REST bodies, GraphQL inputs, batch options, plans), as zod
// schemas: each field's rules and every consistency rule the request alone shows (SMI names once per kind, one
// Service port's appProtocol once, Service port names, egress not for `default`), refused before anything is stored
// or written; and the normalized options a stored request keeps for its steps.
import { z } from 'zod';
import { boundedInteger } from '../common/decimal-integer.js';
import type { ErrorCode } from '../common/domain-error.js';
import { clusterName } from '../kubernetes/cluster-name.js';
import { PREREQUISITE_CODES } from '../mesh/prerequisites.js';
import { API_SERVER_SERVICE } from './steps/kit/api-server.js';

/**
 * The most items of a list in a request (SMI sources, rules, matches, ports, backends, header matches, accepted codes,
 * ServiceAccounts): every input list is bounded, so that no body within the size limit makes validation (or its
 * error) grow with thousands of items.
 */
const LIST_MAX = 100;
const atMost = `at most ${LIST_MAX} items`;
/** Deployments a `selected` restart may name, and Service ports a request may set the appProtocol of. */
export const RESTART_DEPLOYMENTS_MAX = 500;
export const APP_PROTOCOLS_MAX = 500;

// One validation for both edges (REST and GraphQL); the field names are the same on both.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespace's name as Kubernetes allows it (also the re-apply path's, namespaces/reapply.service.ts). */
export const namespaceName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(63, 'must be no more than 63 characters')
  .regex(DNS1123_LABEL, 'must be a lowercase RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?');

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const dnsSubdomain = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(253, 'must be no more than 253 characters')
  .regex(DNS1123_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain');

// Kubernetes validates a Service port's name as a DNS label (validateServicePort: ValidateDNS1123Label), so a name
// that is not one names no port of any Service.
const servicePortName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(63, 'must be no more than 63 characters (a Service port name is an RFC 1123 label)')
  .regex(DNS1123_LABEL, 'must be a Service port name: a lowercase RFC 1123 label, [a-z0-9]([-a-z0-9]*[a-z0-9])?');

const ServiceAccountRef = z.strictObject({
  kind: z.literal('ServiceAccount', { error: 'must be "ServiceAccount" (osm-edge identities are ServiceAccounts)' }),
  name: dnsSubdomain,
  namespace: namespaceName.optional(),
});

const HTTP_METHODS = ['*', 'GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

// Cross-field rules run even when a field already failed, so one answer names every problem.
// They must therefore cope with malformed values.
const ALWAYS = { when: () => true };

/** The request's SMI lists and the kind of object each holds. */
const SMI_KINDS = {
  httpRouteGroups: 'HTTPRouteGroup',
  tcpRoutes: 'TCPRoute',
  trafficTargets: 'TrafficTarget',
  trafficSplits: 'TrafficSplit',
} as const;

/** A zod issue that, alone, makes the request fail with its own code instead of VALIDATION_FAILED. */
const coded = (code: ErrorCode) => ({ domainCode: code });

/**
 * HTTPRouteGroup `matches[].headers` (docs/osm-edge.md#smi-headers): the CRD declares a list of string
 * maps, and osm-edge's SMI SDK reads each item as ONE header name → value regex (an item with two
 * keys fails its decoding, so the controller drops the route group). Accepted: that list, written as
 * given, or a plain map (`{"x-user": "admin"}`), written as the list of one-pair maps.
 */
const HeaderMatches = z
  .union([z.array(z.record(z.string(), z.string())).max(LIST_MAX), z.record(z.string(), z.string())], {
    error: 'must be a list of one-header maps, e.g. [{"x-user": "admin"}] (or a map of header names to value regexes)',
  })
  .superRefine((headers, ctx) => {
    if (!Array.isArray(headers)) return;
    const seen = new Map<string, number>();
    headers.forEach((item, i) => {
      const names = Object.keys(item);
      if (names.length !== 1) {
        const fix = names.length ? `split it: ${JSON.stringify(names.map((n) => ({ [n]: item[n] })))}` : 'remove it';
        ctx.addIssue({
          code: 'custom',
          path: [i],
          params: coded('SMI_HEADER_MATCH_INVALID'),
          message: `must hold exactly one header, not ${names.length}: osm-edge reads each item as one pair (${fix})`,
        });
        return;
      }
      const earlier = seen.get(names[0]);
      if (earlier !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          params: coded('SMI_HEADER_MATCH_INVALID'),
          message: `repeats header "${names[0]}" of item ${earlier}: osm-edge keeps only the last one`,
        });
      }
      seen.set(names[0], i);
    });
  })
  .transform((headers) => (Array.isArray(headers) ? headers : Object.entries(headers).map(([k, v]) => ({ [k]: v }))));

/** SMI objects of one kind a request may name: each is written (and first read) under the cluster's call budget. */
export const SMI_OBJECTS_PER_KIND = 100;

// SMI objects as the caller supplies them: a name and the spec of the served version (docs/osm-edge.md#smi).
export const SmiSchema = z
  .strictObject({
    trafficTargets: z
      .array(
        z
          .strictObject({
            name: dnsSubdomain.describe('The object name (an RFC 1123 subdomain).'),
            spec: z
              .strictObject({
                destination: ServiceAccountRef,
                sources: z.array(ServiceAccountRef).min(1, 'needs at least one source').max(LIST_MAX, atMost),
                rules: z
                  .array(
                    z.strictObject({
                      kind: z.enum(['HTTPRouteGroup', 'TCPRoute'], { error: 'must be HTTPRouteGroup or TCPRoute' }),
                      name: dnsSubdomain,
                      matches: z.array(z.string().min(1)).max(LIST_MAX, atMost).optional(),
                    }),
                  )
                  .min(1, 'needs at least one rule (osm-edge ignores a TrafficTarget without rules)')
                  .max(LIST_MAX, atMost),
              })
              .describe('The spec of the served SMI version.'),
          })
          .describe('An SMI object: its name and the spec of the served version.'),
      )
      .max(SMI_OBJECTS_PER_KIND, `at most ${SMI_OBJECTS_PER_KIND} per request`)
      .default([])
      .describe('TrafficTargets (access.smi-spec.io/v1alpha3).'),
    httpRouteGroups: z
      .array(
        z.strictObject({
          name: dnsSubdomain,
          spec: z.strictObject({
            matches: z
              .array(
                z.strictObject({
                  name: z.string().min(1),
                  pathRegex: z.string().optional(),
                  methods: z.array(z.enum(HTTP_METHODS)).max(LIST_MAX, atMost).optional(),
                  headers: HeaderMatches.optional(),
                }),
              )
              .min(1, 'needs at least one match'),
          }),
        }),
      )
      .max(SMI_OBJECTS_PER_KIND, `at most ${SMI_OBJECTS_PER_KIND} per request`)
      .default([])
      .describe('HTTPRouteGroups (specs.smi-spec.io/v1alpha4).'),
    tcpRoutes: z
      .array(
        z.strictObject({
          name: dnsSubdomain,
          spec: z.strictObject({
            matches: z.strictObject({
              ports: z.array(boundedInteger(1, 65535)).min(1).max(LIST_MAX, atMost),
            }),
          }),
        }),
      )
      .max(SMI_OBJECTS_PER_KIND, `at most ${SMI_OBJECTS_PER_KIND} per request`)
      .default([])
      .describe('TCPRoutes (specs.smi-spec.io/v1alpha4).'),
    trafficSplits: z
      .array(
        z.strictObject({
          name: dnsSubdomain,
          spec: z.strictObject({
            service: dnsSubdomain,
            backends: z
              .array(z.strictObject({ service: dnsSubdomain, weight: z.number().int().min(0) }))
              .min(1)
              .max(LIST_MAX, atMost),
            matches: z.array(z.strictObject({ kind: z.literal('HTTPRouteGroup'), name: dnsSubdomain })).optional(),
          }),
        }),
      )
      .max(SMI_OBJECTS_PER_KIND, `at most ${SMI_OBJECTS_PER_KIND} per request`)
      .default([])
      .describe('TrafficSplits (split.smi-spec.io/v1alpha4).'),
  })
  .superRefine((smi, ctx) => {
    // One object per kind and name: the traffic-policy step writes each once (it checks again before its writes).
    for (const [key, kind] of Object.entries(SMI_KINDS)) {
      const list = (smi as Record<string, unknown> | null)?.[key];
      const seen = new Map<string, number>();
      (Array.isArray(list) ? list : []).forEach((item: unknown, i) => {
        const name = (item as { name?: unknown } | null)?.name;
        if (typeof name !== 'string' || !DNS1123_SUBDOMAIN.test(name)) return;
        const earlier = seen.get(name);
        if (earlier === undefined) return void seen.set(name, i);
        ctx.addIssue({
          code: 'custom',
          path: [key, i, 'name'],
          message: `${kind} ${name} is listed more than once (also item ${earlier}): one object per name`,
        });
      });
    }
  }, ALWAYS)
  .describe('The SMI objects to create in the namespace, by kind.');

// `all` / `selected`: kubectl rollout restart (every / the named Deployments, once per request);
// `needed`: only the Deployments whose pods must be re-created (see steps/restart.step.ts).
export const RESTART_MODES = ['none', 'needed', 'all', 'selected'] as const;

export const RestartSchema = z
  .strictObject(
    {
      mode: z
        .enum(RESTART_MODES, { error: 'must be none, needed, all or selected' })
        .describe(
          '`none`; `all` (every Deployment, as kubectl rollout restart); `selected` (the named ones); `needed` (only ' +
            'those whose pods lack or keep a sidecar, or must pick up a changed exclusion list).',
        ),
      deployments: z
        .array(dnsSubdomain)
        .max(RESTART_DEPLOYMENTS_MAX, `at most ${RESTART_DEPLOYMENTS_MAX} Deployments`)
        .optional()
        .describe('The Deployments to restart (mode `selected`).'),
      maxConcurrent: boundedInteger(1, 50).optional().describe('Deployments rolled at once (default 5).'),
    },
    {
      // `"restart": "all"` (the CLI's and the Backstage action's shape) names the object it must be.
      error: (iss) =>
        iss.code === 'invalid_type' ? 'must be an object, e.g. {"mode": "all"} (not a bare mode string)' : undefined,
    },
  )
  .describe('`kubectl rollout restart` of Deployments after the namespace is labelled, so pods gain or lose sidecars.');

const common = {
  cluster: clusterName
    .nullish()
    .describe('The kubeconfig context name; omitted = the current context (`in-cluster` inside a pod).'),
  namespace: namespaceName,
  meshName: namespaceName.nullish().describe('The osm-edge mesh name (`--mesh-name`); default `osm`.'),
  dryRun: z
    .boolean()
    .nullish()
    .describe('Store the request as PLANNED with its plan instead of queueing it (apply it later).'),
};

export const OnboardingInputSchema = z
  .strictObject({
    ...common,
    namespace: namespaceName.describe('The namespace to onboard (an RFC 1123 label).'),
    sidecarInjection: z
      .enum(['enabled', 'disabled'], { error: 'must be "enabled" or "disabled"' })
      .nullish()
      .describe('`enabled` (default) or `disabled` (`--disable-sidecar-injection`).'),
    prerequisites: z
      .strictObject({
        enabled: z.boolean().optional().describe('Run the application-requirements checks (default true).'),
        acceptErrors: z
          .array(
            z.string().refine((code) => Object.hasOwn(PREREQUISITE_CODES, code), {
              error: 'must be a prerequisite diagnostic code, e.g. OSM_RESERVED_UID (docs/steps.md lists them)',
            }),
          )
          .max(LIST_MAX, atMost)
          .optional()
          .describe('Error diagnostic codes not to block on (recorded as accepted).'),
      })
      .describe('The application checks (UID 1500, reserved ports, …) that run first.')
      .nullish(),
    trafficPolicy: z
      .strictObject({
        mode: z
          .enum(['permissive', 'smi'], { error: 'must be permissive or smi' })
          .describe('`permissive` (mesh-wide) or `smi`.'),
        smi: SmiSchema.optional(),
        // Mesh-wide: turns permissive mode off, so traffic everywhere in the mesh needs TrafficTargets.
        switchMeshToSmi: z
          .boolean()
          .optional()
          .describe(
            'Mode `smi`: also switch the whole mesh to SMI mode (permissive off; mesh-wide, needs a mesh grant).',
          ),
      })
      .describe('Permissive traffic policy mode (mesh-wide), or SMI mode with the SMI objects to create.')
      .nullish(),
    apiServerAccess: z
      .strictObject({
        method: z
          .enum(['ip-exclusion', 'egress'], { error: 'must be ip-exclusion or egress' })
          .describe('`ip-exclusion` or `egress`.'),
        serviceAccounts: z
          .array(dnsSubdomain)
          .max(LIST_MAX, atMost)
          .optional()
          .describe('The ServiceAccounts allowed to reach the API server (method `egress`).'),
      })
      .describe(
        'Let apps reach the Kubernetes API: exclude its IP from interception, or an Egress policy for the listed ' +
          'service accounts.',
      )
      .nullish(),
    appProtocols: z
      .array(
        z
          .strictObject({
            service: dnsSubdomain.describe('The Service.'),
            // A Service port by name, or by number (`spec.ports[].port`): a single unnamed port has no name.
            port: z
              .union([boundedInteger(1, 65535), servicePortName], {
                error: 'must be the Service port name, or its port number (1-65535)',
              })
              .describe('The Service port: its name (`"http"`) or its number (`8080`).'),
            appProtocol: z
              .enum(['http', 'tcp', 'tcp-server-first', 'grpc'], {
                error: 'must be http, tcp, tcp-server-first or grpc',
              })
              .describe('http, tcp, tcp-server-first or grpc.'),
          })
          .describe("A Service port's `appProtocol` to set."),
      )
      .max(APP_PROTOCOLS_MAX, `at most ${APP_PROTOCOLS_MAX} Service ports`)
      .superRefine(samePortOnce, ALWAYS)
      .nullish()
      .describe("Set Service ports' `appProtocol`."),
    restart: RestartSchema.nullish(),
    verify: z
      .strictObject({
        timeoutSeconds: boundedInteger(1, 1800).describe('How long to wait, in seconds.'),
      })
      .describe('How long to wait for pods to have their sidecars.')
      .nullish(),
    metrics: z.boolean().nullish().describe('Enable osm metrics scraping for the namespace (`osm metrics enable`).'),
  })
  .superRefine((v, ctx) => {
    if (v.trafficPolicy?.mode === 'smi' && !v.trafficPolicy.smi && v.trafficPolicy.switchMeshToSmi !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['trafficPolicy', 'smi'],
        message: 'required when mode is smi (unless switchMeshToSmi)',
      });
    }
    if (v.trafficPolicy?.mode === 'permissive' && v.trafficPolicy.switchMeshToSmi !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['trafficPolicy', 'switchMeshToSmi'],
        message: 'only allowed when mode is smi',
      });
    }
    if (v.trafficPolicy?.mode === 'permissive' && v.trafficPolicy.smi) {
      ctx.addIssue({ code: 'custom', path: ['trafficPolicy', 'smi'], message: 'only allowed when mode is smi' });
    }
    const targets = v.trafficPolicy?.smi?.trafficTargets;
    (Array.isArray(targets) ? targets : []).forEach((t, i) => {
      const dest = t?.spec?.destination?.namespace;
      if (dest !== undefined && dest !== v.namespace) {
        ctx.addIssue({
          code: 'custom',
          path: ['trafficPolicy', 'smi', 'trafficTargets', i, 'spec', 'destination', 'namespace'],
          message: `The traffic target namespace (${v.namespace}) must match spec.Destination.Namespace (${dest})`,
        });
      }
    });
    if (v.apiServerAccess?.method === 'egress' && v.namespace === API_SERVER_SERVICE.namespace) {
      // The api-server-access step's rule on the request alone (it checks a monitored `default` itself).
      ctx.addIssue({
        code: 'custom',
        path: ['apiServerAccess', 'method'],
        params: coded('EGRESS_API_SERVER_MONITORED'),
        message:
          `namespace ${API_SERVER_SERVICE.namespace}, which holds the Kubernetes API Service, is being added to the ` +
          'mesh: an Egress policy cannot reach the API server from a managed namespace (use method ip-exclusion)',
      });
    }
    if (
      v.apiServerAccess?.method === 'egress' &&
      !(Array.isArray(v.apiServerAccess.serviceAccounts) && v.apiServerAccess.serviceAccounts.length)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiServerAccess', 'serviceAccounts'],
        message: 'required (at least one) when method is egress',
      });
    }
    restartRules(v.restart, ctx);
  }, ALWAYS)
  .meta({
    id: 'OnboardingInput',
    description:
      'Add a namespace to an osm-edge mesh (`osm namespace add`), with the other onboarding steps the options ask for.',
  });

export const OffboardingInputSchema = z
  .strictObject({
    ...common,
    namespace: namespaceName.describe('The namespace to take out of its mesh.'),
    restart: RestartSchema.nullish(),
    deleteOwnedPolicies: z
      .boolean()
      .nullish()
      .describe('Delete the SMI objects and Egress policies osm-onboarding created in the namespace.'),
    removeApiServerExclusion: z
      .boolean()
      .nullish()
      .describe(
        "Remove the API server's IP from the mesh's outbound exclusion list when no other onboarded namespace needs " +
          'it.',
      ),
  })
  .superRefine((v, ctx) => restartRules(v.restart, ctx), ALWAYS)
  .meta({
    id: 'OffboardingInput',
    description:
      'Remove a namespace from its osm-edge mesh (`osm namespace remove`), optionally restarting so sidecars go away.',
  });

export function restartRules(restart: z.infer<typeof RestartSchema> | null | undefined, ctx: z.RefinementCtx) {
  if (restart?.mode === 'selected' && !(Array.isArray(restart.deployments) && restart.deployments.length)) {
    ctx.addIssue({
      code: 'custom',
      path: ['restart', 'deployments'],
      message: 'required (at least one) when mode is selected',
    });
  }
  if (restart && restart.mode !== 'selected' && Array.isArray(restart.deployments) && restart.deployments.length) {
    ctx.addIssue({ code: 'custom', path: ['restart', 'deployments'], message: 'only allowed when mode is selected' });
  }
}

/**
 * The same Service port written the same way twice (both by name, or both by number) with different appProtocols.
 * A name and a number can also denote one port; only the Service tells, so the app-protocol step checks that.
 */
function samePortOnce(list: unknown, ctx: z.RefinementCtx) {
  const seen = new Map<string, { i: number; appProtocol: string }>();
  (Array.isArray(list) ? list : []).forEach((item: unknown, i) => {
    const { service, port, appProtocol } = (item ?? {}) as { service?: unknown; port?: unknown; appProtocol?: unknown };
    // Only well-formed items: a malformed one has its own issue, and its text is never repeated in a message.
    if (typeof service !== 'string' || !DNS1123_SUBDOMAIN.test(service) || typeof appProtocol !== 'string') return;
    const selector =
      typeof port === 'number' && Number.isInteger(port)
        ? String(port)
        : typeof port === 'string' && DNS1123_LABEL.test(port)
          ? `"${port}"`
          : undefined;
    if (selector === undefined) return;
    const key = `${service}/${selector}`;
    const earlier = seen.get(key);
    if (!earlier) return void seen.set(key, { i, appProtocol });
    if (earlier.appProtocol === appProtocol) return; // the same request twice: one
    ctx.addIssue({
      code: 'custom',
      path: [i, 'appProtocol'],
      message:
        `port ${selector} of Service ${service} is given twice with different values ` +
        `(item ${earlier.i}: ${earlier.appProtocol}, item ${i}: ${appProtocol})`,
    });
  });
}

export type OnboardingInput = z.infer<typeof OnboardingInputSchema>;
export type OffboardingInput = z.infer<typeof OffboardingInputSchema>;
export type SmiObjects = z.infer<typeof SmiSchema>;

/** What a request stores in `options` (defaults applied) and what its steps read. */
export interface RequestOptions {
  sidecarInjection: 'enabled' | 'disabled';
  prerequisites: { enabled: boolean; acceptErrors: string[] };
  /** `switchMeshToSmi` is present only when true (older requests' normalized form stays the same). */
  trafficPolicy: { mode: 'permissive' } | { mode: 'smi'; smi: SmiObjects; switchMeshToSmi?: true } | null;
  apiServerAccess: { method: 'ip-exclusion' } | { method: 'egress'; serviceAccounts: string[] } | null;
  appProtocols: { service: string; port: string | number; appProtocol: 'http' | 'tcp' | 'tcp-server-first' | 'grpc' }[];
  restart: { mode: (typeof RESTART_MODES)[number]; deployments: string[]; maxConcurrent: number };
  verify: { timeoutSeconds: number };
  metrics: boolean;
  deleteOwnedPolicies: boolean;
  removeApiServerExclusion: boolean;
}

export function onboardingOptions(i: OnboardingInput): RequestOptions {
  return {
    sidecarInjection: i.sidecarInjection ?? 'enabled',
    prerequisites: {
      enabled: i.prerequisites?.enabled ?? true,
      acceptErrors: [...new Set(i.prerequisites?.acceptErrors ?? [])].sort(),
    },
    trafficPolicy: !i.trafficPolicy
      ? null
      : i.trafficPolicy.mode === 'smi'
        ? {
            mode: 'smi',
            smi: i.trafficPolicy.smi ?? { trafficTargets: [], httpRouteGroups: [], tcpRoutes: [], trafficSplits: [] },
            ...(i.trafficPolicy.switchMeshToSmi === true ? { switchMeshToSmi: true as const } : {}),
          }
        : { mode: 'permissive' },
    apiServerAccess: !i.apiServerAccess
      ? null
      : i.apiServerAccess.method === 'egress'
        ? { method: 'egress', serviceAccounts: [...new Set(i.apiServerAccess.serviceAccounts)].sort() }
        : { method: 'ip-exclusion' },
    appProtocols: i.appProtocols ?? [],
    restart: restartOptions(i.restart),
    verify: { timeoutSeconds: i.verify?.timeoutSeconds ?? 120 },
    metrics: i.metrics ?? false,
    deleteOwnedPolicies: false,
    removeApiServerExclusion: false,
  };
}

export function offboardingOptions(i: OffboardingInput): RequestOptions {
  return {
    ...onboardingOptions({ namespace: i.namespace, prerequisites: { enabled: false } }),
    restart: restartOptions(i.restart),
    deleteOwnedPolicies: i.deleteOwnedPolicies ?? false,
    removeApiServerExclusion: i.removeApiServerExclusion ?? false,
  };
}

function restartOptions(r: OnboardingInput['restart']): RequestOptions['restart'] {
  return {
    mode: r?.mode ?? 'none',
    deployments: [...new Set(r?.deployments ?? [])].sort(),
    maxConcurrent: r?.maxConcurrent ?? 5,
  };
}
