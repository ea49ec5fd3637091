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
