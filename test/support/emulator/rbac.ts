// Authorization as kube-apiserver 1.32 does it with --authorization-mode=Node,RBAC: the request's attributes
// (RequestInfoFactory), the system:masters short-cut (privileged-group authorizer), the RBAC authorizer over the
// stored Role/ClusterRole/RoleBinding/ClusterRoleBinding objects (plugin/pkg/auth/authorizer/rbac), the 403 Status a
// refusal is answered with (responsewriters.Forbidden), and the bootstrap policy every cluster starts with.

import { forbidden, type StatusError } from './errors.js';
import { parseFieldSelector } from './selectors.js';
import type { ObjectStore } from './store.js';
import { asArray, asRecord, isObject, type KubeObject } from './types.js';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
const KEYS = {
  roles: `${RBAC_GROUP}/roles`,
  clusterRoles: `${RBAC_GROUP}/clusterroles`,
  roleBindings: `${RBAC_GROUP}/rolebindings`,
  clusterRoleBindings: `${RBAC_GROUP}/clusterrolebindings`,
};

/** user.Info: who the authenticator says sent the request. */
export interface UserInfo {
  name: string;
  groups: string[];
  uid?: string;
}

/** authorizer.Attributes without the user: what a request asks to do. */
export interface RequestAttributes {
  resourceRequest: boolean;
  verb: string;
  /** Non-resource requests: the URL path. */
  path: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

export interface Decision {
  allowed: boolean;
  /** "RBAC: allowed by …" when allowed; "RBAC: <resolution errors>" or "" when not. */
  reason: string;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);

/** path.IsValidPathSegmentName: what a field-selected name must be to count as the request's name. */
function validPathSegment(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * RequestInfoFactory.NewRequestInfo (apiserver/pkg/endpoints/request/requestinfo.go): /api/<v>/… and
 * /apis/<g>/<v>/… are resource requests, everything else (/api, /apis/<g>, /version, /openapi/v3…) is a
 * non-resource request whose verb is the lower-cased method. A list or watch selecting one `metadata.name` is a
 * request for that name (resourceNames rules apply to it).
 */
export function requestAttributes(method: string, pathname: string, query: URLSearchParams): RequestAttributes {
  const out: RequestAttributes = {
    resourceRequest: false,
    verb: method.toLowerCase(),
    path: pathname,
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  let parts = pathname
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((_, i, all) => all.length > 1 || all[0] !== '')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  if (parts.length < 3 || (parts[0] !== 'api' && parts[0] !== 'apis')) return out;
  const prefix = parts[0];
  parts = parts.slice(1);
  if (prefix === 'apis') {
    if (parts.length < 3) return out;
    out.apiGroup = parts[0];
    parts = parts.slice(1);
  }
  out.resourceRequest = true;
  out.apiVersion = parts[0];
  parts = parts.slice(1);
  if (SPECIAL_VERBS.has(parts[0])) {
    if (parts.length < 2) return out; // kube answers this path with an error before authorizing
    out.verb = parts[0];
    parts = parts.slice(1);
  } else {
    const verbs: Record<string, string> = {
      POST: 'create',
      GET: 'get',
      HEAD: 'get',
      PUT: 'update',
      PATCH: 'patch',
      DELETE: 'delete',
    };
    out.verb = verbs[method.toUpperCase()] ?? '';
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      out.namespace = parts[1];
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && out.verb !== 'proxy') out.subresource = parts[2];
  if (parts.length >= 2) out.name = parts[1];
  if (parts.length >= 1) out.resource = parts[0];

  if (!out.name && out.verb === 'get') {
    const watch = query.get('watch');
    out.verb = watch === 'true' || watch === '1' ? 'watch' : 'list';
    try {
      const selector = parseFieldSelector(query.get('fieldSelector') ?? undefined);
      const exact = selector.requirements.filter(
        (r) => r.field === 'metadata.name' && (r.operator === '=' || r.operator === '=='),
      );
      if (exact.length === 1 && validPathSegment(exact[0].value)) out.name = exact[0].value;
    } catch {
      // a selector that does not parse: a list without a name (kube's RequestInfo does the same)
    }
  }
  if (!out.name && out.verb === 'delete') out.verb = 'deletecollection';
  return out;
}

// ------------------------------------------------------------------ rule matching (rbac/v1 evaluation_helpers.go)

interface PolicyRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames: string[];
  nonResourceURLs: string[];
}

function policyRule(raw: unknown): PolicyRule {
  const r = asRecord(raw);
  const strings = (v: unknown) => asArray(v).filter((x): x is string => typeof x === 'string');
  return {
    verbs: strings(r.verbs),
    apiGroups: strings(r.apiGroups),
    resources: strings(r.resources),
    resourceNames: strings(r.resourceNames),
    nonResourceURLs: strings(r.nonResourceURLs),
  };
}

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return rule.resources.some(
    (r) =>
      r === '*' ||
      r === combined ||
      (subresource !== '' && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)),
  );
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  return rule.nonResourceURLs.some(
    (u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))),
  );
}

/** RuleAllows (plugin/pkg/auth/authorizer/rbac/rbac.go). */
export function ruleAllows(attrs: RequestAttributes, rule: PolicyRule): boolean {
  const verb = rule.verbs.some((v) => v === '*' || v === attrs.verb);
  if (!attrs.resourceRequest) return verb && nonResourceURLMatches(rule, attrs.path);
  const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  return (
    verb &&
    rule.apiGroups.some((g) => g === '*' || g === attrs.apiGroup) &&
    resourceMatches(rule, combined, attrs.subresource) &&
    (rule.resourceNames.length === 0 || rule.resourceNames.includes(attrs.name))
  );
}

// ------------------------------------------------------------------ rule resolution (registry/rbac/validation)

interface Subject {
  kind: string;
  name: string;
  namespace: string;
}

function subjectsOf(binding: KubeObject): Subject[] {
  return asArray(binding.subjects)
    .filter(isObject)
    .map((s) => ({
      kind: String(s.kind ?? ''),
      name: String(s.name ?? ''),
      namespace: typeof s.namespace === 'string' ? s.namespace : '',
    }));
}

function appliesTo(user: UserInfo, s: Subject, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return user.name === s.name;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return ns !== '' && user.name === `system:serviceaccount:${ns}:${s.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  return s.kind === 'ServiceAccount'
    ? `${s.kind} "${s.name}/${s.namespace || bindingNamespace}"`
    : `${s.kind} "${s.name}"`;
}

export class RbacAuthorizer {
  constructor(private readonly store: ObjectStore) {}

  /** The union of the privileged-group authorizer (system:masters) and RBAC, as kube-apiserver orders them. */
  authorize(user: UserInfo, attrs: RequestAttributes): Decision {
    if (user.groups.includes('system:masters')) return { allowed: true, reason: '' };
    const errors: string[] = [];
    const visit = (binding: KubeObject, namespace: string): string | undefined => {
      const subjects = subjectsOf(binding);
      const subject = subjects.find((s) => appliesTo(user, s, namespace));
      if (!subject) return undefined;
      const ref = asRecord(binding.roleRef);
      const kind = String(ref.kind ?? '');
      const roleName = String(ref.name ?? '');
      let role: KubeObject | undefined;
      if (kind === 'ClusterRole') {
        role = this.store.peek(KEYS.clusterRoles, '', roleName);
        if (!role) errors.push(`clusterrole.${RBAC_GROUP} "${roleName}" not found`);
      } else if (kind === 'Role') {
        role = this.store.peek(KEYS.roles, namespace, roleName);
        if (!role) errors.push(`role.${RBAC_GROUP} "${roleName}" not found`);
      } else {
        errors.push(`unsupported role reference kind: "${kind}"`);
      }
      if (!role || !asArray(role.rules).some((r) => ruleAllows(attrs, policyRule(r)))) return undefined;
      const what = namespace
        ? `RoleBinding "${binding.metadata.name}/${namespace}"`
        : `ClusterRoleBinding "${binding.metadata.name}"`;
      return `RBAC: allowed by ${what} of ${kind} "${roleName}" to ${describeSubject(subject, namespace)}`;
    };
    for (const binding of this.store.scan(KEYS.clusterRoleBindings)) {
      const reason = visit(binding, '');
      if (reason) return { allowed: true, reason };
    }
    if (attrs.namespace) {
      for (const binding of this.store.scan(KEYS.roleBindings, attrs.namespace)) {
        const reason = visit(binding, attrs.namespace);
        if (reason) return { allowed: true, reason };
      }
    }
    // utilerrors.NewAggregate: one error as itself, several as "[a, b]".
    const aggregate = errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`;
    return { allowed: false, reason: errors.length ? `RBAC: ${aggregate}` : '' };
  }
}

/**
 * responsewriters.Forbidden: `<resource>[.<group>] ["<name>"] is forbidden: User "<user>" cannot <verb> resource
 * "<resource>[/<subresource>]" in API group "<group>" in the namespace "<ns>"` (or `at the cluster scope`; for
 * non-resource requests `forbidden: User "<user>" cannot <verb> path "<path>"`), then `: <reason>` when the
 * authorizers gave one; details name the object, the group and the resource (without the subresource).
 */
export function forbiddenStatus(user: UserInfo, attrs: RequestAttributes, reason: string): StatusError {
  let why: string;
  if (!attrs.resourceRequest) {
    why = `User "${user.name}" cannot ${attrs.verb} path "${attrs.path}"`;
  } else {
    const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
    why = `User "${user.name}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" ${scope}`;
  }
  if (reason) why = `${why}: ${reason}`;
  const gr = { group: attrs.apiGroup, resource: attrs.resource };
  const err = forbidden(gr.resource ? gr : undefined, attrs.name, why);
  // NewForbidden always sets Details; with no resource every field is empty, and Go writes `"details": {}`.
  if (!err.status.details) err.status.details = {};
  return err;
}

// ------------------------------------------------------------------ bootstrap policy (bootstrappolicy/policy.go)

const BOOTSTRAP_META = {
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
};

/**
 * The part of kube-apiserver's bootstrap RBAC policy that decides what an ordinary authenticated identity may do:
 * cluster-admin (bound to system:masters), system:discovery, system:basic-user and system:public-info-viewer (bound to
 * system:authenticated, the last one also to system:unauthenticated).
 */
export function bootstrapPolicy(): KubeObject[] {
  const role = (name: string, rules: Record<string, unknown>[]): KubeObject => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: { name, ...structuredClone(BOOTSTRAP_META) },
    rules,
  });
  const binding = (name: string, groups: string[]): KubeObject => ({
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, ...structuredClone(BOOTSTRAP_META) },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: 'Group', name: g })),
  });
  const publicInfo = ['/healthz', '/livez', '/readyz', '/version', '/version/'];
  return [
    role('cluster-admin', [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ]),
    role('system:discovery', [
      {
        nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*']
          .concat(['/readyz', '/version', '/version/'])
          .sort(),
        verbs: ['get'],
      },
    ]),
    role('system:basic-user', [
      {
        apiGroups: ['authorization.k8s.io'],
        resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
        verbs: ['create'],
      },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ]),
    role('system:public-info-viewer', [{ nonResourceURLs: publicInfo, verbs: ['get'] }]),
    binding('cluster-admin', ['system:masters']),
    binding('system:discovery', ['system:authenticated']),
    binding('system:basic-user', ['system:authenticated']),
    binding('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
  ];
}
