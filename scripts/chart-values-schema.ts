// The chart's values.schema.json, built here so that its `policy` and `reaper.config` parts are the
// core's own schemas (core/policy/schema.ts, core/leftover/config.ts), never a copy that can drift.
// scripts/generate-chart-files.ts writes it; test/chart checks the committed file equals this.
import { policySchema } from '../core/policy/schema.ts';
import { reaperConfigSchema } from '../core/leftover/config.ts';

type Schema = Record<string, unknown>;

/** A core schema embedded as a sub-schema: without its $id and title (they name a standalone document). */
function embedded(schema: object, description: string, drop: string[] = []): Schema {
  const copy = structuredClone(schema) as Schema;
  delete copy.$id;
  delete copy.title;
  const properties = copy.properties as Record<string, unknown>;
  for (const p of drop) delete properties[p];
  return { ...copy, description };
}

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });
const obj = (description: string, properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  additionalProperties: false,
  description,
  properties,
  ...extra,
});
/** A Kubernetes object passed through as is (resources, affinity, ...): checked by the API server. */
const kube = (description: string): Schema => ({ type: 'object', description });
const intOrPercent = (description: string): Schema => ({ type: ['integer', 'string'], pattern: '^\\d+%$', minimum: 0, description });
const kubeList = (description: string): Schema => ({ type: 'array', items: { type: 'object' }, description });
const stringMap = (description: string): Schema => ({ type: 'object', additionalProperties: { type: 'string' }, description });

/** A value that may be set to null to drop the field from the rendered object. */
const nullable = (schema: Schema): Schema => ({ ...schema, type: [...[schema.type as string | string[]].flat(), 'null'] });

/** A Kubernetes label selector, checked here so that a typo fails at install and not at the API server. */
const labelSelector = (description: string): Schema =>
  obj(description, {
    matchLabels: stringMap('Labels that must all match'),
    matchExpressions: {
      type: 'array',
      description: 'Expressions that must all match',
      items: obj('A label selector requirement', {
        key: str('Label key', { minLength: 1 }),
        operator: str('Operator', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
        values: { type: 'array', items: { type: 'string' }, description: 'Values for In and NotIn' },
      }, { required: ['key', 'operator'] }),
    },
  });

const seccompProfile = nullable(obj('Seccomp profile', { type: str('RuntimeDefault, Localhost or Unconfined', { enum: ['RuntimeDefault', 'Localhost', 'Unconfined'] }), localhostProfile: str('Profile file, for Localhost') }));
const idField = (what: string) => nullable(int(`${what}; null: none set (OpenShift assigns one)`, { minimum: 0 }));

/** The pod's and the container's security context: today's restricted defaults, each field overridable or droppable (null). */
function securityContexts(component: string): Record<string, Schema> {
  return {
    podSecurityContext: obj(`Pod security context of the ${component} pods; null drops a field`, {
      runAsNonRoot: nullable(bool('Refuse to start as root')),
      runAsUser: idField('User id'),
      runAsGroup: idField('Group id'),
      fsGroup: idField('Group owning mounted volumes'),
      fsGroupChangePolicy: nullable(str('OnRootMismatch or Always', { enum: ['OnRootMismatch', 'Always'] })),
      supplementalGroups: nullable({ type: 'array', items: { type: 'integer' }, description: 'Extra group ids' }),
      seccompProfile,
      seLinuxOptions: nullable(kube('SELinux options')),
      appArmorProfile: nullable(kube('AppArmor profile')),
      sysctls: nullable(kubeList('Namespaced sysctls')),
    }),
    securityContext: obj(`Security context of the ${component} container; null drops a field`, {
      runAsNonRoot: nullable(bool('Refuse to start as root')),
      runAsUser: idField('User id'),
      runAsGroup: idField('Group id'),
      allowPrivilegeEscalation: nullable(bool('Allow privilege escalation')),
      readOnlyRootFilesystem: nullable(bool('Read-only root filesystem (the container writes only to its /tmp emptyDir)')),
      privileged: nullable(bool('Privileged container')),
      capabilities: nullable(obj('Capabilities', { add: { type: 'array', items: { type: 'string' }, description: 'Capabilities to add' }, drop: { type: 'array', items: { type: 'string' }, description: 'Capabilities to drop' } })),
      seccompProfile,
      seLinuxOptions: nullable(kube('SELinux options')),
      appArmorProfile: nullable(kube('AppArmor profile')),
    }),
  };
}

/** Additions to a part's container and pod, passed through as Kubernetes objects. */
function extras(component: string): Record<string, Schema> {
  return {
    extraArgs: { type: 'array', items: { type: 'string' }, description: `Arguments appended to the ${component}'s command line` },
    extraEnv: kubeList(`Environment variables (EnvVar objects) added to the ${component} container, e.g. HTTPS_PROXY and NO_PROXY`),
    extraVolumes: kubeList(`Volumes added to the ${component} pods`),
    extraVolumeMounts: kubeList(`Volume mounts added to the ${component} container`),
  };
}

const dnsLabel = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const dnsSubdomain = '[a-z0-9]([-a-z0-9.]*[a-z0-9])?';
const namespaceNames = (description: string): Schema => ({ type: 'array', items: { type: 'string', pattern: dnsLabel, maxLength: 63 }, description, uniqueItems: true });
const logLevel = (component: string) => str(`Log level of the ${component}`, { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] });
const failurePolicy = (what: string, why: string) => str(`failurePolicy of the webhook for ${what}. ${why}`, { enum: ['Ignore', 'Fail'] });

function scheduling(component: string): Record<string, Schema> {
  return {
    resources: kube(`Resource requests and limits of the ${component} container`),
    podDisruptionBudget: obj(`PodDisruptionBudget of the ${component}; never rendered for 1 replica (it would block node drains)`, {
      enabled: bool(`Create a PodDisruptionBudget for the ${component} when it has 2 or more replicas`),
      minAvailable: nullable(intOrPercent('Pods that must stay available during a voluntary disruption; null to use maxUnavailable')),
      maxUnavailable: nullable(intOrPercent('Pods that may be unavailable during a voluntary disruption; set minAvailable to null with it')),
    }),
    topologySpreadConstraints: kubeList(
      `Topology spread constraints of the ${component} pods; empty: spread over nodes and zones, maxSkew 1, ScheduleAnyway (so a one-node cluster still schedules both replicas)`,
    ),
    nodeSelector: stringMap(`Node selector of the ${component} pods`),
    tolerations: kubeList(`Tolerations of the ${component} pods`),
    affinity: kube(`Affinity of the ${component} pods`),
    priorityClassName: str(`PriorityClass of the ${component} pods`),
    podAnnotations: stringMap(`Extra annotations on the ${component} pods`),
    podLabels: stringMap(`Extra labels on the ${component} pods`),
    serviceAccount: obj(`The ${component}'s ServiceAccount`, {
      create: bool(`Create the ${component}'s ServiceAccount; false: use the existing one named by name (the chart's bindings still grant it the ${component}'s rights)`),
      name: str(`ServiceAccount name; empty: <fullname>-${component} (required when create is false)`, { pattern: `^(${dnsSubdomain})?$`, maxLength: 253 }),
      annotations: stringMap(`Annotations on the ${component}'s ServiceAccount (created by the chart)`),
    }),
    ...securityContexts(component),
    ...extras(component),
  };
}

export function valuesSchema(): Schema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'argo-daemon-guard chart values',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: {
        type: 'object',
        description: 'Helm global values (an umbrella chart may set others; this chart reads only imageRegistry)',
        properties: { imageRegistry: str('Registry (host, optionally with a path) prefixed to every image of the chart: <imageRegistry>/<image.repository>. Empty: image.repository as it is', { pattern: '^([^/\\s]+(/[^\\s]+)*)?$' }) },
      },
      nameOverride: str('Replaces the chart name in resource names'),
      fullnameOverride: str('Replaces the release-and-chart name prefix of every resource (webhook configurations, Secret, Lease, ...)', { maxLength: 40 }),
      commonLabels: stringMap('Extra labels on every object the chart creates'),
      image: obj('The one image with every entry point (webhook, reaper, uninstall-webhooks)', {
        repository: str('Image repository', { minLength: 1 }),
        tag: str('Image tag; empty: the chart\'s appVersion'),
        digest: str('Image digest (sha256:...); when set it is used instead of the tag', { pattern: '^(sha256:[a-f0-9]{64})?$' }),
        pullPolicy: str('Image pull policy', { enum: ['Always', 'IfNotPresent', 'Never'] }),
      }),
      imagePullSecrets: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } }, description: 'Pull secrets for the image' },
      instanceId: str(
        "Argo's controller instance id (workflows.argoproj.io/controller-instanceid). Set it when Argo runs with one: only that controller's pods and Workflows go to the webhooks and the reaper. Empty: all (templates are always checked)",
        { pattern: '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$', maxLength: 63 },
      ),
      namespaced: obj('Argo installed in namespaced mode', {
        enabled: bool('Grant access only in the listed namespaces (Roles there, no ClusterRole over pods, Workflows or ConfigMaps) and send only their objects to the webhooks'),
        namespaces: namespaceNames('The namespaces Argo runs Workflows in (exact names; each must exist before install)'),
      }),
      excludedNamespaces: namespaceNames('More namespaces never sent to the webhooks; kube-system and the release namespace always are'),
      policy: embedded(
        policySchema,
        'The daemon policy (the policy file, mounted from a ConfigMap and reloaded on change without a restart). Same schema as `argo-daemon-guard lint --policy`; see the Policy reference in the project README. The default enforces nothing',
      ),
      webhook: obj('The admission webhook', {
        enabled: bool('Install the webhook; false: the reaper alone (no webhook Deployment, Service, RBAC, webhook configurations, PDB, certificates, ServiceMonitor, alerts or uninstall hook)'),
        hostNetwork: bool("Run the webhook in the node's network namespace (the API server cannot reach pod IPs, e.g. EKS with a custom CNI), with dnsPolicy ClusterFirstWithHostNet, listening on webhook.port on the node"),
        replicas: int('Webhook replicas (2 or more keeps admission up through a node drain or an upgrade)', { minimum: 1 }),
        port: int('HTTPS port the webhook listens on (admission, /healthz, /readyz, /metrics); below 1024 only as root (refused otherwise)', { minimum: 1, maximum: 65535 }),
        service: obj('The webhook Service', { port: int('Service port the API server calls', { minimum: 1, maximum: 65535 }) }),
        failurePolicy: obj('What the API server does when the webhook cannot answer', {
          pods: failurePolicy('pods (mutate and validate)', 'Ignore: the backstop never blocks Argo'),
          workflows: failurePolicy('Workflows', 'Fail is the strict choice: no Workflow is admitted unchecked, at the cost of blocking submissions while the webhook is down'),
          templates: failurePolicy('WorkflowTemplates, ClusterWorkflowTemplates and CronWorkflows', 'Fail is the strict choice'),
        }),
        timeoutSeconds: int('Admission timeout per call, seconds', { minimum: 1, maximum: 5 }),
        logLevel: logLevel('webhook'),
        extraSans: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'selfManaged certificates only: more DNS names or IPs for the serving certificate' },
        configurationAnnotations: stringMap('Extra annotations on both webhook configurations (GitOps tools, policy engines)'),
        configurationLabels: stringMap('Extra labels on both webhook configurations'),
        namespaceSelector: labelSelector('Added to every webhook\'s namespaceSelector, on top of the built-in exclusions (kube-system, the release namespace, excludedNamespaces): only namespaces matching it are sent'),
        objectSelector: labelSelector('Added to every webhook\'s objectSelector (for pods, on top of the Argo-pod selector): only objects matching it are sent. A selector users can match by labeling their own objects is an opt-out: prefer namespaceSelector'),
        ...scheduling('webhook'),
      }),
      reaper: obj('The leftover-daemon reaper', {
        enabled: bool('Install the reaper; false: the webhook alone (no reaper Deployment, Services, RBAC, ConfigMap, PDB, ServiceMonitor or alerts)'),
        replicas: int('Reaper replicas; one holds the Lease and acts, the others stand by', { minimum: 1 }),
        port: int('Plain HTTP port for /healthz, /readyz and /metrics', { minimum: 1024, maximum: 65535 }),
        logLevel: logLevel('reaper'),
        config: embedded(
          reaperConfigSchema,
          'The reaper config file (mounted from a ConfigMap, re-read at run time: dryRun switches without a restart). instanceId comes from the top-level instanceId; in namespaced mode namespaces comes from namespaced.namespaces',
          ['instanceId'],
        ),
        ...scheduling('reaper'),
      }),
      certs: obj('The webhook\'s serving certificate', {
        mode: str(
          'selfManaged: the webhook creates and renews a CA and serving certificate in a Secret the chart pre-creates, and sets the caBundle itself. certManager: a cert-manager Certificate, caBundle injected by cert-manager\'s cainjector. existingSecret: a kubernetes.io/tls Secret you provide, with its CA in caBundle',
          { enum: ['selfManaged', 'certManager', 'existingSecret'] },
        ),
        selfManaged: obj('selfManaged mode', {
          secretName: str('Name of the pre-created Secret; empty: <fullname>-webhook-certs'),
          keepSecret: bool('Keep the Secret (and so the CA) on helm uninstall (helm.sh/resource-policy: keep), so a reinstall trusts the same CA at once'),
        }),
        certManager: obj('certManager mode', {
          issuerRef: obj(
            'Issuer of the serving certificate; empty: the chart creates a self-signed CA and an Issuer for it in the release namespace',
            { name: str('Issuer name'), kind: str('Issuer or ClusterIssuer', { enum: ['Issuer', 'ClusterIssuer'] }), group: str('Issuer API group') },
          ),
          duration: str('Serving certificate lifetime', { pattern: '^(\\d+h)?(\\d+m)?(\\d+s)?$' }),
          renewBefore: str('Renew this long before expiry', { pattern: '^(\\d+h)?(\\d+m)?(\\d+s)?$' }),
        }),
        existingSecret: obj('existingSecret mode', {
          name: str('A kubernetes.io/tls Secret in the release namespace with tls.crt and tls.key covering <fullname>-webhook.<namespace>.svc'),
          caBundle: str('Base64 of the PEM CA that issued it; empty: read from the Secret\'s ca.crt at install (not possible with helm template)'),
        }),
      }),
      networkPolicy: obj('NetworkPolicies for the webhook and reaper pods (ingress only: egress to the API server stays open)', {
        enabled: bool('Create the NetworkPolicies'),
        webhookFrom: kubeList('Peers allowed to reach the webhook port (admission and /metrics); empty: any source (the API server\'s address differs per cluster)'),
        metricsFrom: kubeList('Peers allowed to reach the reaper\'s metrics port; empty: any source'),
      }),
      metrics: obj('Prometheus Operator objects', {
        serviceMonitor: obj('ServiceMonitors for the webhook (HTTPS) and the reaper (HTTP)', {
          enabled: bool('Create the ServiceMonitors (needs the monitoring.coreos.com CRDs)'),
          interval: str('Scrape interval'),
          scrapeTimeout: str('Scrape timeout'),
          labels: stringMap('Extra labels, e.g. the one your Prometheus selects ServiceMonitors by'),
        }),
        prometheusRule: obj('A PrometheusRule with the alerts listed in the chart README', {
          enabled: bool('Create the PrometheusRule (needs the monitoring.coreos.com CRDs)'),
          labels: stringMap('Extra labels, e.g. the one your Prometheus selects rules by'),
          leftoversFor: str('How long leftover daemons may keep growing before ArgoDaemonGuardLeftoversGrowing fires'),
          unknownFor: str('How long decisions may stay "unknown" before ArgoDaemonGuardDecisionsUnknown fires'),
          disabled: { type: 'array', items: { type: 'string', pattern: '^ArgoDaemonGuard[A-Za-z]+$' }, uniqueItems: true, description: 'Alerts not to render, by name (an unknown name is refused)' },
          runbookBaseUrl: str('Base of every alert\'s runbook_url; each alert links to #<alert name in lower case> (the chart README\'s Alerts section)', { minLength: 1 }),
        }),
        grafanaDashboard: obj('A Grafana dashboard for the guard in a ConfigMap (for the Grafana sidecar that loads labeled ConfigMaps)', {
          enabled: bool('Create the dashboard ConfigMap, labeled grafana_dashboard: "1"'),
          labels: stringMap('Extra labels on the ConfigMap'),
          annotations: stringMap('Annotations on the ConfigMap (e.g. grafana_folder)'),
        }),
      }),
      uninstallHook: obj('The pre-delete hook that deletes the two webhook configurations first, so an uninstall never leaves a dangling webhook', {
        enabled: bool('Run `argo-daemon-guard uninstall-webhooks` before helm uninstall deletes anything'),
        resources: kube('Resources of the hook Job\'s container'),
      }),
    },
  };
}
