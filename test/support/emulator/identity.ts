// Authentication: who a bearer token is. The emulator's own token is a cluster admin (group system:masters, as a
// kubeadm/kind admin kubeconfig is); ServiceAccount tokens come from the TokenRequest subresource
// (POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token), are bound to that ServiceAccount's uid and expire,
// as kube-apiserver's bound service account tokens do (pkg/serviceaccount, registry/core/serviceaccount/storage).

import { randomBytes, randomUUID } from 'node:crypto';
import { fieldErr, invalid, notFound } from './errors.js';
import type { UserInfo } from './rbac.js';
import type { ObjectStore } from './store.js';
import { asArray, asRecord, type KubeObject } from './types.js';

/** The audience kube-apiserver accepts by default (kind: --api-audiences, --service-account-issuer). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
export const ADMIN_USER: UserInfo = { name: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };

interface IssuedToken {
  namespace: string;
  name: string;
  uid: string;
  audiences: string[];
  expiresAt: number;
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function serviceAccountUser(namespace: string, name: string, uid?: string): UserInfo {
  return {
    name: `system:serviceaccount:${namespace}:${name}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
    ...(uid ? { uid } : {}),
  };
}

export class Authenticator {
  private readonly issued = new Map<string, IssuedToken>();

  constructor(
    private readonly store: ObjectStore,
    private readonly adminToken: string,
  ) {}

  /**
   * The user of an `Authorization: Bearer …` token, or undefined (401): a ServiceAccount token whose account was
   * deleted (or recreated with another uid), that expired, or that was issued for another audience is refused.
   */
  authenticate(token: string): UserInfo | undefined {
    if (token === this.adminToken) return ADMIN_USER;
    const t = this.issued.get(token);
    if (!t || Date.now() >= t.expiresAt || !t.audiences.includes(API_AUDIENCE)) return undefined;
    const sa = this.store.peek('/serviceaccounts', t.namespace, t.name);
    if (!sa || sa.metadata.uid !== t.uid) return undefined;
    return serviceAccountUser(t.namespace, t.name, t.uid);
  }

  /**
   * TokenRequest (authentication.k8s.io/v1) for an existing ServiceAccount: 404 when it does not exist, 422 for an
   * expirationSeconds under 10 minutes or over 2^32 s; the answer carries the token (a JWT-shaped string whose
   * claims are those of a bound token) and its expiry.
   */
  request(namespace: string, name: string, body: unknown): KubeObject {
    const sa = this.store.peek('/serviceaccounts', namespace, name);
    if (!sa) throw notFound({ group: '', resource: 'serviceaccounts' }, name);
    const spec = asRecord(asRecord(body).spec);
    const expirationSeconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : 3600;
    if (expirationSeconds < 600)
      throw invalid('TokenRequest', 'authentication.k8s.io', name, [
        fieldErr.invalid(
          'spec.expirationSeconds',
          expirationSeconds,
          'may not specify a duration less than 10 minutes',
        ),
      ]);
    if (expirationSeconds > 2 ** 32)
      throw invalid('TokenRequest', 'authentication.k8s.io', name, [
        fieldErr.invalid(
          'spec.expirationSeconds',
          expirationSeconds,
          'may not specify a duration larger than 2^32 seconds',
        ),
      ]);
    const requested = asArray(spec.audiences).filter((a): a is string => typeof a === 'string');
    const audiences = requested.length ? requested : [API_AUDIENCE];
    const now = Math.floor(Date.now() / 1000);
    const uid = sa.metadata.uid ?? '';
    const claims = {
      aud: audiences,
      exp: now + expirationSeconds,
      iat: now,
      iss: API_AUDIENCE,
      jti: randomUUID(),
      'kubernetes.io': { namespace, serviceaccount: { name, uid } },
      nbf: now,
      sub: `system:serviceaccount:${namespace}:${name}`,
    };
    const token = [
      b64url({ alg: 'RS256', kid: 'emulator' }),
      b64url(claims),
      randomBytes(32).toString('base64url'),
    ].join('.');
    this.issued.set(token, { namespace, name, uid, audiences, expiresAt: claims.exp * 1000 });
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null as unknown as string },
      spec: { audiences, expirationSeconds, boundObjectRef: null },
      status: { token, expirationTimestamp: new Date(claims.exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
    };
  }
}
