// toKubeError: which failures are an object's absence, a resource the cluster does not serve, a TLS refusal.
import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { toKubeError } from '../../src/kubernetes/kube-error.js';
import { classify } from '../../src/onboarding/step-failure.js';

const status = (code: number, body: object) =>
  new ApiException(code, `HTTP ${code}`, JSON.stringify({ kind: 'Status', apiVersion: 'v1', code, ...body }), {});

describe('toKubeError', () => {
  it("reads a 404 naming an object as its absence, and kube-apiserver's 404 for an unknown path as not served", () => {
    const missing = status(404, {
      reason: 'NotFound',
      message: 'egresses.policy.openservicemesh.io "x" not found',
      details: { name: 'x', group: 'policy.openservicemesh.io', kind: 'egresses' },
    });
    expect(toKubeError(missing, 'get egress').reason).toBe('NOT_FOUND');
    const unserved = status(404, {
      reason: 'NotFound',
      message: 'the server could not find the requested resource',
      details: {},
    });
    const err = toKubeError(unserved, 'get egresses.policy.openservicemesh.io a/b');
    expect([err.reason, err.transient]).toEqual(['NOT_SERVED', false]);
    expect(classify(err)).toMatchObject({ code: 'KUBE_RESOURCE_NOT_SERVED', retryable: false });
    expect(classify(err).hint).toContain('CRDs');
    // A 404 with some other message and no details is still an absence (as an older or another server says it).
    expect(toKubeError(status(404, { message: 'not found' }), 'get x').reason).toBe('NOT_FOUND');
    // kube-apiserver 1.32's answer for a CRD not installed or not served in that version, or a group nobody serves
    // (apiextensions' crdHandler → notfoundhandler → http.NotFound): plain text, no Status.
    const plain = new ApiException(404, 'HTTP 404', '404 page not found\n', { 'content-type': 'text/plain' });
    const unservedCrd = toKubeError(plain, 'get meshconfigs.config.openservicemesh.io osm/osm-mesh-config');
    expect([unservedCrd.reason, unservedCrd.message]).toEqual([
      'NOT_SERVED',
      'get meshconfigs.config.openservicemesh.io osm/osm-mesh-config: 404 page not found',
    ]);
    expect(toKubeError(new ApiException(404, 'HTTP 404', '', {}), 'get x').reason).toBe('NOT_SERVED');
  });

  it('reads a refused TLS handshake as a configuration error, not an outage to retry', () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      const err = toKubeError(Object.assign(new Error('x'), { cause: { code } }), 'get namespace a');
      expect([err.reason, err.transient, err.retryAfterSeconds]).toEqual(['TLS', false, undefined]);
      expect(err.message).toContain(code);
      expect(classify(err)).toMatchObject({ code: 'KUBE_UNAVAILABLE', retryable: false });
    }
    expect(toKubeError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 'get a').reason).toBe('TRANSIENT');
  });

  it("gives the RBAC hint only to RBAC's 403", () => {
    const rbac = status(403, {
      reason: 'Forbidden',
      message: 'namespaces "a" is forbidden: User "system:serviceaccount:x:y" cannot patch resource "namespaces"',
    });
    expect(classify(toKubeError(rbac, 'patch namespace a')).hint).toContain('deploy/rbac.yaml');
    const terminating = status(403, {
      reason: 'Forbidden',
      message: 'egresses "e" is forbidden: unable to create new content in namespace a because it is being terminated',
    });
    expect(classify(toKubeError(terminating, 'create egress')).hint).toBeUndefined();
  });
});
