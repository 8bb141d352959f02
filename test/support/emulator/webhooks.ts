// Admission webhooks driven by the Mutating/ValidatingWebhookConfiguration objects in the store, as the
// apiserver does: rules, namespaceSelector, objectSelector, failurePolicy and endpoint availability.
// The webhook servers themselves are simulated in-process (see osm.ts).

import { applyBuiltinDefaults } from './defaults.js';
import type { AdmissionPlugin, AdmissionRequest } from './admission.js';
import { badRequest, internalError, webhookDenied } from './errors.js';
import { labelSelectorFromObject } from './selectors.js';
import type { ObjectStore } from './store.js';
import { asArray, asRecord, isObject, stringMap, type KubeObject } from './types.js';

export interface WebhookCall {
  req: AdmissionRequest;
  webhook: Record<string, unknown>;
  configuration: KubeObject;
}

export type WebhookResult = { allowed: true } | { allowed: false; message: string; code?: number };

export type WebhookBackend = (call: WebhookCall) => WebhookResult;

function listMatches(list: unknown, value: string): boolean {
  return asArray(list).some((entry) => entry === '*' || entry === value);
}

function ruleMatches(rule: Record<string, unknown>, req: AdmissionRequest): boolean {
  if (!listMatches(rule.operations, req.operation)) return false;
  if (!listMatches(rule.apiGroups, req.rt.group)) return false;
  if (!listMatches(rule.apiVersions, req.version)) return false;
  const resource = req.subresource ? `${req.rt.plural}/${req.subresource}` : req.rt.plural;
  const resources = asArray(rule.resources);
  const resourceOk = resources.some(
    (r) =>
      r === resource ||
      r === '*/*' ||
      (r === '*' && !req.subresource) ||
      (typeof r === 'string' && r === `*/${req.subresource}`),
  );
  if (!resourceOk) return false;
  const scope = rule.scope ?? '*';
  if (scope === 'Namespaced' && !req.rt.namespaced) return false;
  if (scope === 'Cluster' && req.rt.namespaced) return false;
  return true;
}

function namespaceLabels(store: ObjectStore, req: AdmissionRequest): Record<string, string> | undefined {
  if (req.rt.group === '' && req.rt.plural === 'namespaces')
    return stringMap((req.object ?? req.oldObject)?.metadata.labels);
  if (!req.rt.namespaced) return undefined;
  return stringMap(store.peek('/namespaces', '', req.namespace)?.metadata.labels);
}

function webhookApplies(store: ObjectStore, webhook: Record<string, unknown>, req: AdmissionRequest): boolean {
  if (!asArray(webhook.rules).some((rule) => isObject(rule) && ruleMatches(rule, req))) return false;
  const nsLabels = namespaceLabels(store, req);
  if (nsLabels && !labelSelectorFromObject(webhook.namespaceSelector, true).matches(nsLabels)) return false;
  const objectSelector = labelSelectorFromObject(webhook.objectSelector, true);
  const objects = [req.object, req.oldObject].filter((o): o is KubeObject => !!o);
  if (!objectSelector.isEmpty() && !objects.some((o) => objectSelector.matches(stringMap(o.metadata.labels))))
    return false;
  return true;
}

function podIsReady(pod: KubeObject): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  return asArray(asRecord(pod.status).conditions).some((c) => isObject(c) && c.type === 'Ready' && c.status === 'True');
}

/** Why the webhook's service cannot be reached, or undefined when it has a ready endpoint. */
function unreachableReason(store: ObjectStore, service: Record<string, unknown>): string | undefined {
  const name = String(service.name ?? '');
  const namespace = String(service.namespace ?? '');
  const svc = store.peek('/services', namespace, name);
  if (!svc) return `service "${name}" not found`;
  const selector = stringMap(asRecord(svc.spec).selector);
  if (Object.keys(selector).length === 0) return undefined;
  const ready = store.scan('/pods', namespace).some((pod) => {
    const labels = stringMap(pod.metadata.labels);
    return Object.entries(selector).every(([k, v]) => labels[k] === v) && podIsReady(pod);
  });
  return ready ? undefined : `no endpoints available for service "${name}"`;
}

function callWebhook(
  store: ObjectStore,
  backends: ReadonlyMap<string, WebhookBackend>,
  configuration: KubeObject,
  webhook: Record<string, unknown>,
  req: AdmissionRequest,
): void {
  const name = String(webhook.name ?? '');
  const sideEffects = webhook.sideEffects ?? 'None';
  if (req.dryRun && sideEffects !== 'None' && sideEffects !== 'NoneOnDryRun')
    throw badRequest(`admission webhook "${name}" does not support dry run`);
  const clientConfig = asRecord(webhook.clientConfig);
  const service = asRecord(clientConfig.service);
  if (isObject(clientConfig.service)) {
    const reason = unreachableReason(store, service);
    if (reason) {
      if (webhook.failurePolicy === 'Ignore') return;
      const port = typeof service.port === 'number' ? service.port : 443;
      const timeout = typeof webhook.timeoutSeconds === 'number' ? webhook.timeoutSeconds : 10;
      const url = `https://${String(service.name)}.${String(service.namespace)}.svc:${port}${String(service.path ?? '')}?timeout=${timeout}s`;
      throw internalError(`failed calling webhook "${name}": failed to call webhook: Post "${url}": ${reason}`);
    }
  }
  const backend = backends.get(name);
  if (!backend) return; // an external webhook the emulator cannot run is assumed to allow the request
  const result = backend({ req, webhook, configuration });
  if (!result.allowed) throw webhookDenied(name, result.message, result.code);
  // kube-apiserver decodes a mutating webhook's patched object again, which defaults what the webhook
  // added (the sidecar's terminationMessagePath, port protocols, volume modes). Without this, a later
  // metadata-only patch of an injected pod would look like a forbidden change of its spec.
  if (req.object) applyBuiltinDefaults(req.rt, req.object);
}

function configurations(store: ObjectStore, typeKey: string): KubeObject[] {
  return store.scan(typeKey);
}

export function webhookAdmissionPlugin(
  store: ObjectStore,
  backends: ReadonlyMap<string, WebhookBackend>,
): AdmissionPlugin {
  const run = (typeKey: string, req: AdmissionRequest): void => {
    for (const configuration of configurations(store, typeKey)) {
      for (const webhook of asArray(configuration.webhooks)) {
        if (isObject(webhook) && webhookApplies(store, webhook, req))
          callWebhook(store, backends, configuration, webhook, req);
      }
    }
  };
  return {
    name: 'MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
    mutate: (req) => run('admissionregistration.k8s.io/mutatingwebhookconfigurations', req),
    validate: (req) => run('admissionregistration.k8s.io/validatingwebhookconfigurations', req),
  };
}
