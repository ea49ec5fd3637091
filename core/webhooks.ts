// The four webhooks (mutating and validating, for pods and for Argo's templates), defined once. The test cluster registers these objects and the
// chart renders them from the JSON this module writes (charts/argo-daemon-guard/files/webhooks.json).
import { argo, guard } from './keys.ts';

export type FailurePolicy = 'Ignore' | 'Fail';

export interface WebhookOptions {
  /** Base name of the two configuration objects. */
  name: string;
  /** Either a URL base (test cluster) or a Service (chart). Paths /mutate and /validate are added. */
  clientConfig: { url: string } | { service: { namespace: string; name: string; port: number } };
  caBundle: string;
  /** Namespaces never sent to the webhook: kube-system and the guard's own. */
  excludedNamespaces: string[];
  failurePolicy?: { pods?: FailurePolicy; workflows?: FailurePolicy; templates?: FailurePolicy };
  /** Argo's controller-instanceid: only pods and Workflows of that controller are handled. */
  instanceId?: string;
  timeoutSeconds?: number;
}

export const webhookNames = {
  mutatePods: `mutate-pods.${guard.name}.io`,
  validatePods: `validate-pods.${guard.name}.io`,
  validateWorkflows: `validate-workflows.${guard.name}.io`,
  validateTemplates: `validate-templates.${guard.name}.io`,
} as const;

const ownedByWorkflow = {
  name: 'owned-by-workflow',
  expression: `has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(o, o.kind == '${argo.kinds.workflow}' && o.apiVersion.startsWith('${argo.group}/'))`,
};

const specChanged = {
  name: 'create-or-spec-changed',
  expression: "request.operation == 'CREATE' || !has(oldObject.spec) || !has(object.spec) || object.spec != oldObject.spec",
};

function clientConfig(o: WebhookOptions, path: '/mutate' | '/validate') {
  const base = 'url' in o.clientConfig ? { url: o.clientConfig.url.replace(/\/$/, '') + path } : { service: { ...o.clientConfig.service, path } };
  return { ...base, caBundle: o.caBundle };
}

/** Templates carry no instance id (only the Workflows made from them do), so they are always checked. */
function selectors(o: WebhookOptions, objects: 'pods' | 'workflows' | 'templates') {
  // kube-system is always excluded (the cluster's own pods must never wait on the guard); it also keeps NotIn's values non-empty, which the API server requires.
  const excluded = [...new Set([...o.excludedNamespaces, 'kube-system'])];
  const namespaceSelector = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: excluded }] };
  const expressions: { key: string; operator: string; values?: string[] }[] = [];
  if (objects === 'pods') expressions.push({ key: argo.workflowLabel, operator: 'Exists' });
  if (o.instanceId && objects !== 'templates') expressions.push({ key: argo.controllerInstanceIdLabel, operator: 'In', values: [o.instanceId] });
  return { namespaceSelector, objectSelector: expressions.length ? { matchExpressions: expressions } : {} };
}

function common(o: WebhookOptions) {
  // The API server accepts 1–30 whole seconds; the guard stays at 5 or less.
  const timeout = o.timeoutSeconds !== undefined && Number.isFinite(o.timeoutSeconds) ? Math.floor(o.timeoutSeconds) : 5;
  return { admissionReviewVersions: ['v1'], sideEffects: 'None', timeoutSeconds: Math.min(Math.max(timeout, 1), 5) };
}

export function mutatingWebhookConfiguration(o: WebhookOptions) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.name, labels: { 'app.kubernetes.io/name': guard.name } },
    webhooks: [
      {
        name: webhookNames.mutatePods,
        clientConfig: clientConfig(o, '/mutate'),
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }],
        ...selectors(o, 'pods'),
        matchConditions: [ownedByWorkflow],
        failurePolicy: o.failurePolicy?.pods ?? 'Ignore',
        // The patch is idempotent, so a re-run after another webhook's change costs one call and changes nothing.
        reinvocationPolicy: 'IfNeeded',
        ...common(o),
      },
    ],
  };
}

export function validatingWebhookConfiguration(o: WebhookOptions) {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: o.name, labels: { 'app.kubernetes.io/name': guard.name } },
    webhooks: [
      {
        name: webhookNames.validatePods,
        clientConfig: clientConfig(o, '/validate'),
        rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'], scope: 'Namespaced' }],
        ...selectors(o, 'pods'),
        matchConditions: [ownedByWorkflow],
        failurePolicy: o.failurePolicy?.pods ?? 'Ignore',
        ...common(o),
      },
      {
        name: webhookNames.validateWorkflows,
        clientConfig: clientConfig(o, '/validate'),
        rules: [{ apiGroups: [argo.group], apiVersions: [argo.version], resources: [argo.resources.workflows], operations: ['CREATE'], scope: 'Namespaced' }],
        ...selectors(o, 'workflows'),
        failurePolicy: o.failurePolicy?.workflows ?? 'Ignore',
        ...common(o),
      },
      {
        name: webhookNames.validateTemplates,
        clientConfig: clientConfig(o, '/validate'),
        rules: [
          {
            apiGroups: [argo.group],
            apiVersions: [argo.version],
            resources: [argo.resources.workflowTemplates, argo.resources.clusterWorkflowTemplates, argo.resources.cronWorkflows],
            operations: ['CREATE', 'UPDATE'],
            scope: '*',
          },
        ],
        ...selectors(o, 'templates'),
        matchConditions: [specChanged],
        failurePolicy: o.failurePolicy?.templates ?? 'Ignore',
        ...common(o),
      },
    ],
  };
}
