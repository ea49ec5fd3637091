// Registers the project's four webhooks (core/webhooks.ts, the same definition the chart renders) with
// clientConfig.url pointing at the webhook on loopback, plus what the webhook's identity may do on this
// API server (read the offloaded-template ConfigMaps), and the guard's own namespace, which the webhooks
// exclude.
import { readFileSync } from 'node:fs';
import { KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration, type WebhookOptions } from '../../core/webhooks.ts';
import { clientIdentities } from './pki.ts';

export const fieldManager = 'argo-daemon-guard-test';
export const guardNamespace = 'argo-daemon-guard';
export const webhookConfigurationName = 'argo-daemon-guard';

export function objectApi(kubeconfig: string): KubernetesObjectApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return KubernetesObjectApi.makeApiClient(kc);
}

/** Server-side apply of one object (created or updated to exactly this). */
export async function apply(api: KubernetesObjectApi, obj: KubernetesObject): Promise<KubernetesObject> {
  return api.patch(obj, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
}

export function webhookOptions(o: { url: string; caFile: string; failurePolicy?: WebhookOptions['failurePolicy'] }): WebhookOptions {
  return {
    name: webhookConfigurationName,
    clientConfig: { url: o.url },
    caBundle: Buffer.from(readFileSync(o.caFile, 'utf8')).toString('base64'),
    excludedNamespaces: ['kube-system', guardNamespace],
    ...(o.failurePolicy ? { failurePolicy: o.failurePolicy } : {}),
  };
}

/** The webhook's RBAC: what the chart's ClusterRole grants, bound to the webhook's client certificate. */
export function webhookRbac(): KubernetesObject[] {
  const name = 'argo-daemon-guard-webhook';
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: clientIdentities.webhook.commonName }],
  };
  return [role, binding];
}

export async function registerWebhooks(kubeconfig: string, o: { url: string; caFile: string; failurePolicy?: WebhookOptions['failurePolicy'] }): Promise<void> {
  const api = objectApi(kubeconfig);
  await apply(api, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: guardNamespace } });
  for (const obj of webhookRbac()) await apply(api, obj);
  const opts = webhookOptions(o);
  await apply(api, mutatingWebhookConfiguration(opts) as KubernetesObject);
  await apply(api, validatingWebhookConfiguration(opts) as KubernetesObject);
}
