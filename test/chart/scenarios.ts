// The values the chart is rendered with in the tests: the default, each certificate mode, each install
// mode, and everything optional switched on.
export type Values = Record<string, unknown>;

const caPem = '-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n';
export const caB64 = Buffer.from(caPem).toString('base64');

export const scenarios: Record<string, Values> = {
  default: {},
  certManager: { certs: { mode: 'certManager' } },
  certManagerIssuer: { certs: { mode: 'certManager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } },
  existingSecret: { certs: { mode: 'existingSecret', existingSecret: { name: 'my-webhook-tls', caBundle: caB64 } } },
  namespaced: { namespaced: { enabled: true, namespaces: ['argo', 'team-a'] } },
  instanceId: { instanceId: 'prod-controller' },
  everything: {
    instanceId: 'ci',
    excludedNamespaces: ['monitoring', 'kube-system'],
    webhook: { failurePolicy: { pods: 'Fail', workflows: 'Fail', templates: 'Fail' }, timeoutSeconds: 3, service: { port: 8443 }, extraSans: ['guard.example.com', '10.0.0.7'] },
    networkPolicy: { enabled: true, webhookFrom: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
    metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } }, prometheusRule: { enabled: true } },
    commonLabels: { team: 'platform' },
  },
};

/** What a platform team sets on the clusters it runs: every knob beyond the defaults at once. */
export const platform = {
  global: { imageRegistry: 'registry.corp.example/mirror/' },
  image: { digest: `sha256:${'a'.repeat(64)}` },
  webhook: {
    hostNetwork: true,
    port: 10253,
    serviceAccount: { create: false, name: 'corp-webhook' },
    extraArgs: ['--extra-san=guard.corp.example'],
    extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy.corp:3128' }, { name: 'NO_PROXY', value: '.svc,10.0.0.0/8' }],
    extraVolumes: [{ name: 'corp-ca', configMap: { name: 'corp-ca' } }],
    extraVolumeMounts: [{ name: 'corp-ca', mountPath: '/etc/ssl/corp', readOnly: true }],
    configurationAnnotations: { 'argocd.argoproj.io/sync-options': 'ServerSideApply=true' },
    configurationLabels: { 'policy.corp/owner': 'platform' },
    namespaceSelector: { matchLabels: { 'guard.corp/enabled': 'true' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['system'] }] },
    objectSelector: { matchExpressions: [{ key: 'guard.corp/exempt', operator: 'DoesNotExist' }] },
    podDisruptionBudget: { minAvailable: null, maxUnavailable: '50%' },
  },
  reaper: {
    replicas: 1,
    serviceAccount: { create: false, name: 'corp-reaper' },
    extraArgs: ['--dry-run'],
    extraEnv: [{ name: 'HTTPS_PROXY', value: 'http://proxy.corp:3128' }],
    extraVolumes: [{ name: 'scratch', emptyDir: {} }],
    extraVolumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
  },
  metrics: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true, disabled: ['ArgoDaemonGuardWebhookUnreachable'] }, grafanaDashboard: { enabled: true, annotations: { grafana_folder: 'Argo' } } },
};


/** Each part alone, and OpenShift's assigned ids (null drops a field), with everything optional on. */
const monitoring = { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } };
const noIds = { runAsUser: null, runAsGroup: null };
export const variants: Record<string, Values> = {
  platform,
  webhookOnly: { reaper: { enabled: false }, metrics: monitoring, networkPolicy: { enabled: true } },
  reaperOnly: { webhook: { enabled: false }, metrics: monitoring, networkPolicy: { enabled: true } },
  openShift: { webhook: { podSecurityContext: noIds, securityContext: noIds }, reaper: { podSecurityContext: noIds, securityContext: noIds } },
};
