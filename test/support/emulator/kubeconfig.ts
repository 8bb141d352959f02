// kubeconfig text for the emulator: one cluster (self-signed TLS, hence insecure-skip-tls-verify), one
// token user (the admin's, or the token passed in), and one context per requested name, all pointing at the same
// emulator.

import { dump } from 'js-yaml';

export interface KubeconfigOptions {
  contexts?: string[];
  /** Namespace recorded in every context (kubectl's default namespace). */
  namespace?: string;
  /** The user's bearer token instead of the admin's, e.g. `emu.tokenFor({ namespace, serviceAccount })`. */
  token?: string;
}

export function renderKubeconfig(url: string, token: string, opts: KubeconfigOptions = {}): string {
  const contexts = opts.contexts && opts.contexts.length > 0 ? opts.contexts : ['emulator'];
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'emulator', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'emulator', user: { token: opts.token ?? token } }],
    contexts: contexts.map((name) => ({
      name,
      context: { cluster: 'emulator', user: 'emulator', ...(opts.namespace ? { namespace: opts.namespace } : {}) },
    })),
    'current-context': contexts[0],
    preferences: {},
  };
  return dump(config);
}
