// The chart as Helm renders it, for the default values and every certificate and install mode: the
// four webhooks are exactly the core's (core/webhooks.ts), RBAC is least privilege, every pod meets
// the restricted Pod Security profile, the generated files are current, and an upgrade to the next
// chart version keeps every name admission depends on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration, webhookNames, type WebhookOptions } from '../../core/webhooks.ts';
import { defaultPolicy } from '../../core/policy/schema.ts';
import { defaultReaperConfigFile, parseReaperConfig } from '../../core/leftover/config.ts';
import { parsePolicy } from '../../core/policy/schema.ts';
import { createMetrics } from '../../webhook/metrics.ts';
import { createReaperMetrics } from '../../reaper/metrics.ts';
import { staleFiles } from '../../scripts/generate-chart-files.ts';
import { chartCopy, chartDir, defaultNamespace, find, helm, helmBinary, one, render, renderError, valuesFile, type Obj } from './helm.ts';
import { caB64, scenarios, type Values } from './scenarios.ts';

const ns = defaultNamespace;
const fullname = 'adg-argo-daemon-guard';
const rendered: Record<string, Obj[]> = {};

beforeAll(async () => {
  await helmBinary();
  await Promise.all(Object.entries(scenarios).map(async ([name, values]) => (rendered[name] = await render({ values }))));
}, 900_000);

/** What the core produces for the options the chart's values stand for. */
function coreConfigs(values: Values) {
  const v = values as {
    instanceId?: string;
    excludedNamespaces?: string[];
    webhook?: { failurePolicy?: WebhookOptions['failurePolicy']; timeoutSeconds?: number; service?: { port?: number } };
  };
  const o: WebhookOptions = {
    name: fullname,
    clientConfig: { service: { namespace: ns, name: `${fullname}-webhook`, port: v.webhook?.service?.port ?? 443 } },
    caBundle: '',
    excludedNamespaces: [ns, ...(v.excludedNamespaces ?? [])],
    failurePolicy: { pods: 'Ignore', workflows: 'Ignore', templates: 'Ignore', ...v.webhook?.failurePolicy },
    ...(v.instanceId ? { instanceId: v.instanceId } : {}),
    timeoutSeconds: v.webhook?.timeoutSeconds ?? 5,
  };
  const strip = (cfg: { webhooks: { clientConfig: Record<string, unknown> }[] }) => {
    const copy = structuredClone(cfg) as unknown as { metadata: unknown; webhooks: { clientConfig: Record<string, unknown> }[] };
    for (const w of copy.webhooks) delete w.clientConfig.caBundle;
    return copy.webhooks;
  };
  return { MutatingWebhookConfiguration: strip(mutatingWebhookConfiguration(o)), ValidatingWebhookConfiguration: strip(validatingWebhookConfiguration(o)) };
}

type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[] };
const rulesOf = (o: Obj) => (o.rules ?? []) as Rule[];
const roles = (objs: Obj[]) => objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
const podSpecs = (objs: Obj[]) =>
  objs
    .filter((o) => o.kind === 'Deployment' || o.kind === 'Job' || o.kind === 'Pod')
    .map((o) => ({ obj: o, spec: o.kind === 'Pod' ? (o as unknown as { spec: PodSpec }).spec : (o as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec }));
type Container = { name: string; args?: string[]; securityContext?: Record<string, unknown>; readinessProbe?: Probe; livenessProbe?: Probe; startupProbe?: Probe; resources?: unknown; volumeMounts?: { name: string; mountPath: string }[] };
type Probe = { httpGet: { path: string; port: string; scheme?: string } };
type PodSpec = { securityContext: Record<string, unknown>; containers: Container[]; serviceAccountName: string; volumes?: Record<string, unknown>[]; topologySpreadConstraints?: unknown[] };

function deployment(objs: Obj[], component: 'webhook' | 'reaper') {
  const d = one(objs, 'Deployment', `${fullname}-${component}`, ns) as unknown as { spec: { replicas: number; strategy: unknown; template: { spec: PodSpec } } };
  return { replicas: d.spec.replicas, strategy: d.spec.strategy, pod: d.spec.template.spec, container: d.spec.template.spec.containers[0]! };
}

describe('generated files', () => {
  it('files/webhooks.json, values.schema.json and the README values table are what the core produces now', () => {
    expect(staleFiles(), 'run `npm run chart:generate` and commit the result').toEqual([]);
  });

  it('values.yaml holds the core defaults: the policy (every rule warns, 24h) and the reaper config', () => {
    const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as { policy: unknown; reaper: { config: unknown } };
    expect(values.policy).toEqual(defaultPolicy);
    const { instanceId: _, ...reaperDefaults } = defaultReaperConfigFile;
    expect(values.reaper.config).toEqual(reaperDefaults);
  });
});

describe('helm lint', () => {
  it.each(Object.keys(scenarios))('%s values pass `helm lint --strict`', async (name) => {
    const r = await helm(['lint', '--strict', chartDir, '--namespace', ns, '-f', valuesFile(scenarios[name]!)]);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
    expect(r.code).toBe(0);
  });
});

describe('the four webhooks are the core definition', () => {
  it.each(Object.keys(scenarios))('%s: rules, selectors, matchConditions, names and options equal core/webhooks.ts', (name) => {
    const objs = rendered[name]!;
    const expected = coreConfigs(scenarios[name]!);
    const watch = (scenarios[name] as { namespaced?: { enabled: boolean; namespaces: string[] } }).namespaced;
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const) {
      const cfg = one(objs, kind, fullname) as unknown as { webhooks: { namespaceSelector: { matchExpressions: unknown[] }; clientConfig: Record<string, unknown> }[] };
      const want = structuredClone(expected[kind]) as unknown as { namespaceSelector: { matchExpressions: unknown[] } }[];
      // Namespaced mode adds one expression to the core's selector: only the listed namespaces.
      if (watch?.enabled) for (const w of want) w.namespaceSelector.matchExpressions.push({ key: 'kubernetes.io/metadata.name', operator: 'In', values: watch.namespaces });
      const got = structuredClone(cfg.webhooks);
      // No lookup in `helm template`: the caBundle is absent (never ""), except when given as a value.
      for (const w of got) {
        if (name === 'existingSecret') expect(w.clientConfig.caBundle).toBe(caB64);
        else expect(w.clientConfig).not.toHaveProperty('caBundle');
        delete w.clientConfig.caBundle;
      }
      expect(got).toEqual(want);
    }
  });

  it('the configuration names follow the release, the webhook names are the core\'s', () => {
    const objs = rendered.default!;
    expect(one(objs, 'MutatingWebhookConfiguration').metadata.name).toBe(fullname);
    expect(one(objs, 'ValidatingWebhookConfiguration').metadata.name).toBe(fullname);
    const names = [...find(objs, 'MutatingWebhookConfiguration'), ...find(objs, 'ValidatingWebhookConfiguration')].flatMap((c) => (c.webhooks as { name: string }[]).map((w) => w.name));
    expect(names).toEqual(Object.values(webhookNames));
  });

  it('certManager mode asks cert-manager to inject the CA of the serving Certificate', () => {
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(one(rendered.certManager!, kind).metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': `${ns}/${fullname}-webhook` });
      expect(one(rendered.default!, kind).metadata.annotations).toBeUndefined();
    }
  });

  it('excluded namespaces: the release namespace, the extra ones, kube-system once; pods and Workflows only of the instance id', () => {
    const cfg = one(rendered.everything!, 'ValidatingWebhookConfiguration') as unknown as { webhooks: { name: string; namespaceSelector: unknown; objectSelector: unknown; failurePolicy: string; timeoutSeconds: number }[] };
    for (const w of cfg.webhooks) {
      expect(w.namespaceSelector).toEqual({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [ns, 'monitoring', 'kube-system'] }] });
      expect(w.failurePolicy).toBe('Fail');
      expect(w.timeoutSeconds).toBe(3);
    }
    const byName = Object.fromEntries(cfg.webhooks.map((w) => [w.name, w.objectSelector]));
    expect(byName[webhookNames.validateWorkflows]).toEqual({ matchExpressions: [{ key: 'workflows.argoproj.io/controller-instanceid', operator: 'In', values: ['ci'] }] });
    expect(byName[webhookNames.validateTemplates]).toEqual({});
  });
});

describe('least-privilege RBAC', () => {
  it.each(Object.keys(scenarios))('%s: no wildcards, no subresources (no pods/exec), no secrets except get/update by name in a Role', (name) => {
    const objs = rendered[name]!;
    for (const role of roles(objs)) {
      for (const rule of rulesOf(role)) {
        const all = [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs, ...(rule.resourceNames ?? [])];
        expect(all.filter((x) => x.includes('*')), `${role.kind} ${role.metadata.name}`).toEqual([]);
        expect((rule.resources ?? []).filter((r) => r.includes('/')), `${role.kind} ${role.metadata.name}`).toEqual([]);
        expect(rule.verbs).not.toContain('escalate');
        expect(rule.verbs).not.toContain('bind');
        expect(rule.verbs).not.toContain('impersonate');
        if (rule.resources?.includes('secrets')) {
          expect(role.kind, 'secrets only through a namespaced Role').toBe('Role');
          expect(role.metadata.namespace).toBe(ns);
          expect(rule.resources).toEqual(['secrets']);
          expect(rule.resourceNames).toEqual([`${fullname}-webhook-certs`]);
          expect([...rule.verbs].sort()).toEqual(['get', 'update']);
        }
        if (rule.resources?.some((r) => r.endsWith('webhookconfigurations'))) expect(rule.resourceNames).toEqual([fullname]);
      }
    }
    const secretRules = roles(objs).flatMap((r) => rulesOf(r).filter((x) => x.resources?.includes('secrets')));
    const selfManaged = !(scenarios[name] as { certs?: unknown }).certs;
    expect(secretRules).toHaveLength(selfManaged ? 1 : 0);
  });

  it('cluster mode: exactly the grants the issue lists, one ServiceAccount per component', () => {
    const objs = rendered.default!;
    const rules = (kind: string, name: string) => rulesOf(one(objs, kind, name)).map((r) => ({ ...r, verbs: [...r.verbs].sort() }));
    expect(rules('ClusterRole', `${fullname}-webhook`)).toEqual([{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]);
    expect(rules('ClusterRole', `${fullname}-reaper`)).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['delete', 'get', 'list', 'watch'] },
      { apiGroups: ['argoproj.io'], resources: ['workflows'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    expect(rules('Role', `${fullname}-reaper-lease`)).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [`${fullname}-reaper`], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    expect(rules('ClusterRole', `${fullname}-webhook-certs`)).toEqual([
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: [fullname], verbs: ['get', 'patch'] },
    ]);
    expect(rules('ClusterRole', `${fullname}-uninstall`)).toEqual([
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: [fullname], verbs: ['delete'] },
    ]);
    // Each binding names its own component's ServiceAccount and nothing else.
    for (const b of objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
      const subjects = b.subjects as { kind: string; name: string; namespace: string }[];
      expect(subjects).toHaveLength(1);
      expect(subjects[0]!.kind).toBe('ServiceAccount');
      expect(subjects[0]!.namespace).toBe(ns);
      const component = b.metadata.name.replace(`${fullname}-`, '').split('-')[0];
      expect(subjects[0]!.name).toBe(`${fullname}-${component}`);
    }
    expect(find(objs, 'ServiceAccount').map((s) => s.metadata.name).sort()).toEqual([`${fullname}-reaper`, `${fullname}-uninstall`, `${fullname}-webhook`]);
  });

  it('namespaced mode: pods, Workflows, ConfigMaps and Events only through Roles in the listed namespaces', () => {
    const objs = rendered.namespaced!;
    const clusterResources = find(objs, 'ClusterRole').flatMap((r) => rulesOf(r).flatMap((x) => x.resources ?? []));
    expect(clusterResources.sort()).toEqual(['mutatingwebhookconfigurations', 'mutatingwebhookconfigurations', 'validatingwebhookconfigurations', 'validatingwebhookconfigurations']);
    for (const target of ['argo', 'team-a']) {
      expect(rulesOf(one(objs, 'Role', `${fullname}-webhook`, target))).toEqual([{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }]);
      expect(rulesOf(one(objs, 'Role', `${fullname}-reaper`, target)).map((r) => r.resources![0])).toEqual(['pods', 'workflows', 'events']);
      expect(find(objs, 'RoleBinding', undefined, target)).toHaveLength(2);
    }
    const namespaces = new Set(find(objs, 'Role').map((r) => r.metadata.namespace));
    expect([...namespaces].sort()).toEqual(['argo', ns, 'team-a'].sort());
    const reaperConfig = parseYaml((one(objs, 'ConfigMap', `${fullname}-reaper-config`).data as Record<string, string>)['config.yaml']!) as { namespaces: string[] };
    expect(reaperConfig.namespaces).toEqual(['argo', 'team-a']);
  });

  it('certManager and existingSecret: the webhook has no Secret access at all and cannot patch its configurations', () => {
    for (const name of ['certManager', 'existingSecret']) {
      const objs = rendered[name]!;
      expect(find(objs, 'Secret')).toEqual([]);
      expect(roles(objs).flatMap((r) => rulesOf(r)).filter((x) => x.resources?.includes('secrets'))).toEqual([]);
      expect(roles(objs).flatMap((r) => rulesOf(r)).filter((x) => x.verbs.includes('patch') && x.resources?.some((y) => y.endsWith('webhookconfigurations')))).toEqual([]);
    }
  });
});

describe('pods', () => {
  it.each(Object.keys(scenarios))('%s: every pod meets the restricted Pod Security profile', (name) => {
    const specs = podSpecs(rendered[name]!);
    // The two Deployments, the uninstall hook's Job, the helm test pod.
    expect(specs.map((x) => x.obj.kind).sort()).toEqual(['Deployment', 'Deployment', 'Job', 'Pod']);
    for (const { obj, spec } of specs) {
      expect(spec.securityContext, obj.metadata.name).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      for (const c of spec.containers) {
        expect(c.securityContext, `${obj.metadata.name}/${c.name}`).toMatchObject({
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          privileged: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
        expect(c.resources, `${obj.metadata.name}/${c.name} resources`).toBeTruthy();
      }
      // hostPath, hostNetwork, hostPID: none.
      expect(JSON.stringify(spec)).not.toMatch(/hostPath|hostNetwork|hostPID|hostIPC/);
    }
  });

  it('webhook: 2 replicas rolled one at a time, HTTPS probes on /healthz and /readyz, spread over nodes and zones, a PDB', () => {
    const objs = rendered.default!;
    const w = deployment(objs, 'webhook');
    expect(w.replicas).toBe(2);
    expect(w.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(w.container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
    expect(w.container.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(w.container.startupProbe!.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect((w.pod.topologySpreadConstraints as { topologyKey: string }[]).map((t) => t.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    expect(one(objs, 'PodDisruptionBudget', `${fullname}-webhook`).spec).toMatchObject({ minAvailable: 1 });
    expect(one(objs, 'Service', `${fullname}-webhook`).spec).toMatchObject({ ports: [{ name: 'https', port: 443, targetPort: 'https' }] });
  });

  it('reaper: 2 replicas electing a leader through the release\'s Lease, config from the ConfigMap, HTTP probes', () => {
    const objs = rendered.default!;
    const r = deployment(objs, 'reaper');
    expect(r.replicas).toBe(2);
    expect(r.container.args).toEqual([
      'reaper',
      '--config=/etc/argo-daemon-guard/reaper/config.yaml',
      '--port=8081',
      `--lease-namespace=${ns}`,
      `--lease-name=${fullname}-reaper`,
      '--log-level=info',
    ]);
    expect(r.container.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
    expect(one(objs, 'PodDisruptionBudget', `${fullname}-reaper`).spec).toMatchObject({ minAvailable: 1 });
  });

  it('the policy and reaper ConfigMaps load with the core loaders; instanceId reaches the reaper', () => {
    for (const [name, values] of Object.entries(scenarios)) {
      const objs = rendered[name]!;
      const policy = parsePolicy('policy ConfigMap', (one(objs, 'ConfigMap', `${fullname}-policy`).data as Record<string, string>)['policy.yaml']!);
      expect(policy).toEqual(defaultPolicy);
      const config = parseReaperConfig('reaper ConfigMap', (one(objs, 'ConfigMap', `${fullname}-reaper-config`).data as Record<string, string>)['config.yaml']!);
      expect(config.instanceId).toBe((values as { instanceId?: string }).instanceId);
    }
  });

  it('certificate modes: the webhook manages its Secret, or reads the mounted cert-manager / user Secret', () => {
    const args = (name: string) => deployment(rendered[name]!, 'webhook').container.args!;
    expect(args('default')).toEqual([
      'webhook',
      '--port=8443',
      '--policy=/etc/argo-daemon-guard/policy/policy.yaml',
      '--log-level=info',
      '--manage-certs',
      `--cert-secret=${fullname}-webhook-certs`,
      `--namespace=${ns}`,
      `--webhook-config-name=${fullname}`,
      `--service-name=${fullname}-webhook`,
    ]);
    expect(args('everything')).toContain('--extra-san=guard.example.com');
    const secret = one(rendered.default!, 'Secret', `${fullname}-webhook-certs`, ns);
    expect(secret).not.toHaveProperty('data');
    expect(secret).not.toHaveProperty('stringData');
    expect(secret.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    for (const [name, secretName] of [['certManager', `${fullname}-webhook-tls`], ['existingSecret', 'my-webhook-tls']] as const) {
      const w = deployment(rendered[name]!, 'webhook');
      expect(w.container.args).toContain('--tls-cert=/etc/argo-daemon-guard/tls/tls.crt');
      expect(w.container.args).toContain('--tls-key=/etc/argo-daemon-guard/tls/tls.key');
      expect(w.container.args).not.toContain('--manage-certs');
      expect(w.pod.volumes).toContainEqual({ name: 'tls', secret: { secretName } });
    }
    const cert = one(rendered.certManager!, 'Certificate', `${fullname}-webhook`) as unknown as { spec: { secretName: string; dnsNames: string[]; issuerRef: unknown } };
    expect(cert.spec.secretName).toBe(`${fullname}-webhook-tls`);
    expect(cert.spec.dnsNames).toEqual([`${fullname}-webhook.${ns}.svc`, `${fullname}-webhook.${ns}.svc.cluster.local`]);
    expect(cert.spec.issuerRef).toEqual({ name: `${fullname}-ca`, kind: 'Issuer', group: 'cert-manager.io' });
    expect(find(rendered.certManager!, 'Issuer')).toHaveLength(2);
    expect(find(rendered.certManagerIssuer!, 'Issuer')).toHaveLength(0);
    expect((one(rendered.certManagerIssuer!, 'Certificate') as unknown as { spec: { issuerRef: unknown } }).spec.issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  it('the pre-delete hook runs `uninstall-webhooks` for this release\'s configurations before anything is deleted', () => {
    const job = one(rendered.default!, 'Job', `${fullname}-uninstall`) as unknown as Obj & { spec: { template: { spec: PodSpec } } };
    expect(job.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-delete', 'helm.sh/hook-weight': '0' });
    const c = job.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(['uninstall-webhooks', `--name=${fullname}`, '--ignore-not-found']);
    expect(job.spec.template.spec.serviceAccountName).toBe(`${fullname}-uninstall`);
    for (const kind of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']) {
      expect(Number(one(rendered.default!, kind, `${fullname}-uninstall`).metadata.annotations!['helm.sh/hook-weight'])).toBeLessThan(0);
    }
  });
});

describe('labels, optional objects, schema', () => {
  it('every object carries the standard app.kubernetes.io labels', () => {
    for (const o of rendered.everything!) {
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'argo-daemon-guard',
        'app.kubernetes.io/instance': 'adg',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/part-of': 'argo-daemon-guard',
        'app.kubernetes.io/version': '0.1.0',
        'helm.sh/chart': 'argo-daemon-guard-0.1.0',
        team: 'platform',
      });
      expect(o.metadata.labels!['app.kubernetes.io/component'], `${o.kind}/${o.metadata.name}`).toBeTruthy();
    }
  });

  it('NetworkPolicy, ServiceMonitor and PrometheusRule only when asked for', () => {
    for (const kind of ['NetworkPolicy', 'ServiceMonitor', 'PrometheusRule']) {
      expect(find(rendered.default!, kind)).toEqual([]);
      expect(find(rendered.everything!, kind).length).toBeGreaterThan(0);
    }
    const sm = one(rendered.everything!, 'ServiceMonitor', `${fullname}-webhook`) as unknown as { metadata: { labels: Record<string, string> }; spec: { endpoints: { scheme: string; tlsConfig: unknown }[] } };
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.endpoints[0]).toMatchObject({ scheme: 'https', tlsConfig: { serverName: `${fullname}-webhook.${ns}.svc`, ca: { secret: { name: `${fullname}-webhook-certs`, key: 'ca-bundle.crt' } } } });
  });

  it('the alerts use only metrics the webhook and the reaper export', async () => {
    const rule = one(rendered.everything!, 'PrometheusRule') as unknown as { spec: { groups: { rules: { alert: string; expr: string }[] }[] } };
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'ArgoDaemonGuardDaemonStuck',
        'ArgoDaemonGuardLeftoversGrowing',
        'ArgoDaemonGuardWebhookErrors',
        'ArgoDaemonGuardNoReaperLeader',
        'ArgoDaemonGuardWatchesFailing',
        'ArgoDaemonGuardDecisionsUnknown',
      ]),
    );
    const exported = new Set<string>();
    for (const m of [createMetrics({ defaultMetrics: false }), createReaperMetrics({ defaultMetrics: false })]) {
      for (const metric of await m.registry.getMetricsAsJSON()) exported.add(metric.name);
    }
    const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\bargo_daemon_guard_[a-z_]+/g)].map((x) => x[0])));
    expect(used.size).toBeGreaterThan(8);
    // Counters are exported as <name>_total; prom-client's JSON names them with the suffix already.
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
    for (const a of alerts) expect(a.expr, a.alert).not.toMatch(/\{\s*\}/);
  });

  it.each([
    ['an unknown top-level value', { replicaCount: 3 }, 'replicaCount'],
    ['an unknown policy rule', { policy: { rules: { sidecars: { mode: 'enforce' } } } }, 'sidecars'],
    ['a bad policy mode', { policy: { rules: { hostPath: { mode: 'deny' } } } }, '/policy/rules/hostPath/mode'],
    ['a bad reaper duration', { reaper: { config: { graceMargin: '30 seconds' } } }, 'graceMargin'],
    ['instanceId inside the reaper config', { reaper: { config: { instanceId: 'x' } } }, 'instanceId'],
    ['a bad certificate mode', { certs: { mode: 'vault' } }, '/certs/mode'],
    ['a timeout above 5 s', { webhook: { timeoutSeconds: 10 } }, 'timeoutSeconds'],
    ['a failurePolicy other than Ignore/Fail', { webhook: { failurePolicy: { pods: 'Retry' } } }, '/webhook/failurePolicy/pods'],
  ])('values.schema.json refuses %s', async (_what, values, mention) => {
    expect(await renderError({ values })).toContain(mention);
  });

  it.each([
    ['existingSecret without a caBundle', { certs: { mode: 'existingSecret', existingSecret: { name: 'tls' } } }, 'certs.existingSecret.caBundle is required'],
    ['existingSecret without a Secret name', { certs: { mode: 'existingSecret' } }, 'certs.existingSecret.name is required'],
    ['namespaced mode without namespaces', { namespaced: { enabled: true } }, 'namespaced.namespaces'],
    ['two different namespace lists', { namespaced: { enabled: true, namespaces: ['a'] }, reaper: { config: { namespaces: ['b'] } } }, 'namespaced.namespaces only'],
  ])('refuses %s with a message saying what to set', async (_what, values, mention) => {
    expect(await renderError({ values })).toContain(mention);
  });

  it('needs Kubernetes 1.30 (matchConditions)', async () => {
    expect(await renderError({ kubeVersion: '1.29.9' })).toMatch(/kubeVersion|incompatible/i);
    await expect(render({ kubeVersion: '1.30.0' })).resolves.toBeTruthy();
  });
});

describe('upgrade to the next chart version (render diff)', () => {
  it('keeps every object identity, the webhook configuration and webhook names, the Secret, the Lease and the caBundle source', async () => {
    const before = rendered.default!;
    const next = chartCopy('0.2.0');
    const after = await render({ chart: next, values: { webhook: { logLevel: 'debug', replicas: 3 }, reaper: { config: { dryRun: true } }, policy: { rules: { hostPath: { mode: 'enforce' } } } } });
    const ids = (objs: Obj[]) => objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
    // Same identities: helm deletes nothing and creates nothing on this upgrade, so admission never has a gap.
    expect(ids(after)).toEqual(ids(before));
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const hooks = (objs: Obj[]) => (one(objs, kind).webhooks as { name: string; clientConfig: Record<string, unknown> }[]).map((w) => ({ name: w.name, service: w.clientConfig.service, hasCaBundle: 'caBundle' in w.clientConfig }));
      expect(hooks(after)).toEqual(hooks(before));
      // Never an empty caBundle that would wipe the live one: the field is absent unless looked up.
      expect(hooks(after).every((h) => !h.hasCaBundle)).toBe(true);
    }
    const secret = (objs: Obj[]) => one(objs, 'Secret');
    expect(secret(after)).toEqual({ ...secret(before), metadata: { ...secret(before).metadata, labels: { ...secret(before).metadata.labels, 'helm.sh/chart': 'argo-daemon-guard-0.2.0', 'app.kubernetes.io/version': '0.2.0' } } });
    const certArgs = (objs: Obj[]) => deployment(objs, 'webhook').container.args!.filter((a) => /^--(manage-certs|cert-secret|namespace|webhook-config-name|service-name)/.test(a));
    expect(certArgs(after)).toEqual(certArgs(before));
    expect(deployment(after, 'reaper').container.args).toEqual(deployment(before, 'reaper').container.args);
    // Values did change what they should.
    expect(deployment(after, 'webhook').replicas).toBe(3);
    expect(deployment(after, 'webhook').container.args).toContain('--log-level=debug');
  });
});
