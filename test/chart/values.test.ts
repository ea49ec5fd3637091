// The chart on the clusters people run: each part alone, existing ServiceAccounts, OpenShift's ids,
// the host network, extra arguments/environment/volumes, selectors and annotations on the webhook
// configurations, PodDisruptionBudgets, a registry mirror, the helm test pod, alerts with runbooks and
// a dashboard whose every query reads a metric the code really updates; and the combinations that
// cannot work refused with the values named.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { chartDir, defaultNamespace, find, helm, helmBinary, one, render, renderError, valuesFile, type Obj } from './helm.ts';
import { caB64, platform, variants } from './scenarios.ts';
import { deadMetrics, exportedMetrics } from './metrics-usage.ts';

const ns = defaultNamespace;
const fullname = 'adg-argo-daemon-guard';

type Container = { name: string; image: string; args: string[]; env: { name: string; value?: string }[]; ports?: { containerPort: number }[]; securityContext: Record<string, unknown>; volumeMounts: { name: string; mountPath: string }[] };
type PodSpec = { serviceAccountName?: string; hostNetwork?: boolean; dnsPolicy?: string; securityContext: Record<string, unknown>; containers: Container[]; volumes: { name: string }[] };
type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
type Webhook = { name: string; namespaceSelector: Selector; objectSelector: Selector };
type Alert = { alert: string; expr: string; annotations: Record<string, string> };

const pod = (objs: Obj[], component: 'webhook' | 'reaper') => (one(objs, 'Deployment', `${fullname}-${component}`, ns) as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
const testPod = (objs: Obj[]) => (one(objs, 'Pod', `${fullname}-test`) as unknown as { spec: PodSpec }).spec;
const webhooks = (objs: Obj[]) => [...find(objs, 'MutatingWebhookConfiguration'), ...find(objs, 'ValidatingWebhookConfiguration')].flatMap((c) => c.webhooks as Webhook[]);
const alerts = (objs: Obj[]) => find(objs, 'PrometheusRule').flatMap((r) => (r as unknown as { spec: { groups: { rules: Alert[] }[] } }).spec.groups.flatMap((g) => g.rules));
const component = (o: Obj) => o.metadata.labels?.['app.kubernetes.io/component'];
const images = (objs: Obj[]) =>
  objs.flatMap((o) => {
    const spec = o.kind === 'Pod' ? (o as unknown as { spec: PodSpec }).spec : (o as unknown as { spec?: { template?: { spec?: PodSpec } } }).spec?.template?.spec;
    return spec?.containers?.map((c) => c.image) ?? [];
  });

const webhookAlerts = ['ArgoDaemonGuardWebhookErrors', 'ArgoDaemonGuardWebhookUnreachable', 'ArgoDaemonGuardPolicyRejected', 'ArgoDaemonGuardCertificateExpiring'];

const openShift = ['webhook', 'reaper'].flatMap((p) => ['podSecurityContext', 'securityContext'].flatMap((sc) => ['runAsUser', 'runAsGroup'].flatMap((f) => ['--set', `${p}.${sc}.${f}=null`])));

const r: Record<string, Obj[]> = {};
beforeAll(async () => {
  await helmBinary();
  const cases: Record<string, Parameters<typeof render>[0]> = {
    default: {},
    webhookOnly: { values: variants.webhookOnly! },
    reaperOnly: { values: variants.reaperOnly! },
    platform: { values: platform },
    openShift: { extraArgs: openShift },
    openShiftFile: { values: variants.openShift! },
    certManager: { values: { certs: { mode: 'certManager' }, webhook: { configurationAnnotations: { a: 'b' } } } },
    existingSecret: { values: { certs: { mode: 'existingSecret', existingSecret: { name: 'my-tls', caBundle: caB64 } } } },
    named: { values: { webhook: { serviceAccount: { name: 'guard-webhook', annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/x' } } } } },
  };
  await Promise.all(Object.entries(cases).map(async ([name, o]) => (r[name] = await render(o))));
}, 900_000);

describe('either part alone', () => {
  it('webhook.enabled=false: nothing of the webhook (no configurations, Secret, RBAC, PDB, ServiceMonitor, alerts, hook)', () => {
    const objs = r.reaperOnly!;
    expect(objs.filter((o) => component(o) === 'webhook').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'Secret', 'Job']) expect(find(objs, kind)).toEqual([]);
    expect(find(objs, 'ConfigMap').map((c) => c.metadata.name).sort()).toEqual([`${fullname}-dashboard`, `${fullname}-reaper-config`]);
    expect(alerts(objs).map((a) => a.alert).filter((a) => webhookAlerts.includes(a))).toEqual([]);
    expect(alerts(objs).length).toBeGreaterThan(0);
    expect(one(objs, 'Deployment').metadata.name).toBe(`${fullname}-reaper`);
    expect(testPod(objs).containers[0]!.args).toEqual(['self-test', `--reaper-url=http://${fullname}-reaper-metrics.${ns}.svc:8081`, '--timeout=60']);
  });

  it('reaper.enabled=false: nothing of the reaper (no Lease Role, ConfigMap, metrics Service, PDB, ServiceMonitor, alerts)', () => {
    const objs = r.webhookOnly!;
    expect(objs.filter((o) => component(o) === 'reaper').map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
    expect(find(objs, 'Role').map((x) => x.metadata.name)).toEqual([`${fullname}-webhook-certs`]);
    expect(alerts(objs).map((a) => a.alert).sort()).toEqual([...webhookAlerts].sort());
    expect(one(objs, 'Deployment').metadata.name).toBe(`${fullname}-webhook`);
    expect(testPod(objs).containers[0]!.args).toEqual(['self-test', `--webhook-url=https://${fullname}-webhook.${ns}.svc:443`, '--ca-file=/etc/argo-daemon-guard/ca/ca.crt', '--timeout=60']);
  });

  it('both on (the default): every object of both parts', () => {
    expect(find(r.default!, 'Deployment').map((d) => d.metadata.name).sort()).toEqual([`${fullname}-reaper`, `${fullname}-webhook`]);
  });
});

describe('ServiceAccounts', () => {
  it('create=false: the pods run as the named account, every binding grants it the part\'s rights, none is created', () => {
    const objs = r.platform!;
    expect(pod(objs, 'webhook').serviceAccountName).toBe('corp-webhook');
    expect(pod(objs, 'reaper').serviceAccountName).toBe('corp-reaper');
    expect(find(objs, 'ServiceAccount').map((s) => s.metadata.name)).toEqual([`${fullname}-uninstall`]);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
    const subjectOf = (name: string) => (one(bindings, bindings.find((b) => b.metadata.name === name)!.kind, name).subjects as { name: string }[])[0]!.name;
    for (const name of [`${fullname}-webhook`, `${fullname}-webhook-certs`]) expect(subjectOf(name)).toBe('corp-webhook');
    for (const name of [`${fullname}-reaper`, `${fullname}-reaper-lease`]) expect(subjectOf(name)).toBe('corp-reaper');
    // Same rights as the chart's own accounts get by default.
    const rules = (objs: Obj[]) => find(objs, 'ClusterRole', `${fullname}-reaper`)[0]!.rules;
    expect(rules(objs)).toEqual(rules(r.default!));
  });

  it('create=true with a name: that name, with its annotations', () => {
    const sa = one(r.named!, 'ServiceAccount', 'guard-webhook');
    expect(sa.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/x' });
    expect(pod(r.named!, 'webhook').serviceAccountName).toBe('guard-webhook');
    expect((one(r.named!, 'ClusterRoleBinding', `${fullname}-webhook`).subjects as { name: string }[])[0]!.name).toBe('guard-webhook');
  });
});

describe('security contexts', () => {
  it('defaults: today\'s restricted settings, as values', () => {
    const w = pod(r.default!, 'webhook');
    expect(w.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(w.containers[0]!.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it.each(['openShift', 'openShiftFile'])('OpenShift (%s: --set or a values file): ids set to null are dropped everywhere; non-root, no escalation, no capabilities, RuntimeDefault stay', (name) => {
    const objs = r[name]!;
    const specs = [pod(objs, 'webhook'), pod(objs, 'reaper'), testPod(objs), (one(objs, 'Job') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec];
    for (const spec of specs) {
      expect(spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(spec.containers[0]!.securityContext).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    }
  });

  it('one field overridden, the rest kept', async () => {
    const objs = await render({ extraArgs: ['--set', 'reaper.securityContext.runAsUser=2000', '--set', 'reaper.podSecurityContext.fsGroup=2000'] });
    expect(pod(objs, 'reaper').containers[0]!.securityContext).toMatchObject({ runAsUser: 2000, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod(objs, 'reaper').securityContext).toMatchObject({ fsGroup: 2000, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod(objs, 'webhook').securityContext).not.toHaveProperty('fsGroup');
  });
});

describe('host network, extra arguments, environment and volumes', () => {
  it('webhook.hostNetwork: ClusterFirstWithHostNet and the configured port on the node; the reaper stays on the pod network', () => {
    const w = pod(r.platform!, 'webhook');
    expect(w.hostNetwork).toBe(true);
    expect(w.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(w.containers[0]!.args).toContain('--port=10253');
    expect(w.containers[0]!.ports).toEqual([{ name: 'https', containerPort: 10253, protocol: 'TCP' }]);
    expect(pod(r.platform!, 'reaper').hostNetwork).toBeUndefined();
    expect(pod(r.default!, 'webhook').hostNetwork).toBeUndefined();
  });

  it('extraArgs, extraEnv, extraVolumes and extraVolumeMounts are added to each part, after the chart\'s own', () => {
    const w = pod(r.platform!, 'webhook');
    const c = w.containers[0]!;
    expect(c.args.at(-1)).toBe('--extra-san=guard.corp.example');
    expect(c.args[0]).toBe('webhook');
    expect(c.env.map((e) => e.name)).toEqual(['POD_NAME', 'POD_NAMESPACE', 'HTTPS_PROXY', 'NO_PROXY']);
    expect(w.volumes.map((v) => v.name)).toEqual(['policy', 'tmp', 'corp-ca']);
    expect(c.volumeMounts.at(-1)).toEqual({ name: 'corp-ca', mountPath: '/etc/ssl/corp', readOnly: true });
    const rp = pod(r.platform!, 'reaper');
    expect(rp.containers[0]!.args.at(-1)).toBe('--dry-run');
    expect(rp.containers[0]!.env.at(-1)).toEqual({ name: 'HTTPS_PROXY', value: 'http://proxy.corp:3128' });
    expect(rp.volumes.map((v) => v.name)).toEqual(['config', 'tmp', 'scratch']);
    expect(rp.containers[0]!.volumeMounts.at(-1)).toEqual({ name: 'scratch', mountPath: '/scratch' });
  });
});

describe('webhook configurations', () => {
  it('configurationAnnotations and configurationLabels on both; cert-manager\'s annotation kept beside them', () => {
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const c = one(r.platform!, kind);
      expect(c.metadata.annotations).toEqual({ 'argocd.argoproj.io/sync-options': 'ServerSideApply=true' });
      expect(c.metadata.labels).toMatchObject({ 'policy.corp/owner': 'platform', 'app.kubernetes.io/instance': 'adg' });
      expect(one(r.certManager!, kind).metadata.annotations).toEqual({ a: 'b', 'cert-manager.io/inject-ca-from': `${ns}/${fullname}-webhook` });
    }
  });

  it('namespaceSelector adds to the built-in exclusions, objectSelector to each webhook\'s own (the Argo-pod selector for pods)', () => {
    const byName = Object.fromEntries(webhooks(r.platform!).map((w) => [w.name, w]));
    const builtIn = { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [ns, 'kube-system'] };
    for (const w of Object.values(byName)) {
      expect(w.namespaceSelector).toEqual({ matchLabels: { 'guard.corp/enabled': 'true' }, matchExpressions: [builtIn, { key: 'tier', operator: 'NotIn', values: ['system'] }] });
    }
    const exempt = { key: 'guard.corp/exempt', operator: 'DoesNotExist' };
    expect(byName['mutate-pods.argo-daemon-guard.io']!.objectSelector).toEqual({ matchExpressions: [{ key: 'workflows.argoproj.io/workflow', operator: 'Exists' }, exempt] });
    expect(byName['validate-pods.argo-daemon-guard.io']!.objectSelector).toEqual({ matchExpressions: [{ key: 'workflows.argoproj.io/workflow', operator: 'Exists' }, exempt] });
    expect(byName['validate-templates.argo-daemon-guard.io']!.objectSelector).toEqual({ matchExpressions: [exempt] });
    // Unset: exactly the built-in selectors.
    for (const w of webhooks(r.default!)) expect(w.namespaceSelector).toEqual({ matchExpressions: [builtIn] });
  });
});

describe('PodDisruptionBudgets', () => {
  it('maxUnavailable instead of minAvailable; none for a part with 1 replica', () => {
    expect(one(r.platform!, 'PodDisruptionBudget').metadata.name).toBe(`${fullname}-webhook`);
    expect(one(r.platform!, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: '50%' });
    expect(one(r.platform!, 'PodDisruptionBudget').spec).not.toHaveProperty('minAvailable');
    expect(find(r.default!, 'PodDisruptionBudget').map((p) => (p.spec as { minAvailable: number }).minAvailable)).toEqual([1, 1]);
  });
});

describe('images', () => {
  it('global.imageRegistry prefixes every image, the hook\'s and the test pod\'s too; the digest stays', () => {
    const all = images(r.platform!);
    expect(all).toHaveLength(4);
    for (const image of all) expect(image).toBe(`registry.corp.example/mirror/ghcr.io/argo-daemon-guard/argo-daemon-guard@sha256:${'a'.repeat(64)}`);
    for (const image of images(r.default!)) expect(image).toBe('ghcr.io/argo-daemon-guard/argo-daemon-guard:0.1.0');
  });
});

describe('helm test', () => {
  it('a test-hook pod runs self-test against both Services, trusting the CA the webhook configurations trust', () => {
    const p = one(r.default!, 'Pod', `${fullname}-test`);
    expect(p.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    const spec = testPod(r.default!);
    expect(spec.containers[0]!.args).toEqual([
      'self-test',
      `--webhook-url=https://${fullname}-webhook.${ns}.svc:443`,
      '--ca-file=/etc/argo-daemon-guard/ca/ca.crt',
      `--reaper-url=http://${fullname}-reaper-metrics.${ns}.svc:8081`,
      '--timeout=60',
    ]);
    expect((spec as unknown as { automountServiceAccountToken: boolean }).automountServiceAccountToken).toBe(false);
    const ca = (objs: Obj[]) => testPod(objs).volumes.find((v) => v.name === 'ca');
    expect(ca(r.default!)).toEqual({ name: 'ca', secret: { secretName: `${fullname}-webhook-certs`, items: [{ key: 'ca-bundle.crt', path: 'ca.crt' }] } });
    expect(ca(r.certManager!)).toEqual({ name: 'ca', secret: { secretName: `${fullname}-webhook-tls`, items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(ca(r.existingSecret!)).toEqual({ name: 'ca', configMap: { name: `${fullname}-test-ca` } });
    expect((one(r.existingSecret!, 'ConfigMap', `${fullname}-test-ca`).data as Record<string, string>)['ca.crt']).toBe(Buffer.from(caB64, 'base64').toString());
  });
});

describe('alerts and dashboard', () => {
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');

  it('every alert links its runbook: a section of the chart README that says what it means, how to check, what to do', () => {
    const all = alerts(r.webhookOnly!).concat(alerts(r.reaperOnly!));
    expect(all.length).toBe(10);
    for (const a of all) {
      expect(a.annotations.runbook_url, a.alert).toBe(`https://github.com/argo-daemon-guard/argo-daemon-guard/blob/main/charts/argo-daemon-guard/README.md#${a.alert.toLowerCase()}`);
      const section = readme.split(`\n### ${a.alert}\n`)[1]?.split('\n### ')[0]?.split('\n## ')[0];
      expect(section, `README section ### ${a.alert}`).toBeTruthy();
      for (const part of ['**Means**', '**Check**', '**Do**']) expect(section, `${a.alert} runbook: ${part}`).toContain(part);
    }
  });

  it('metrics.prometheusRule.disabled leaves those alerts out; an unknown name is refused by name', async () => {
    expect(alerts(r.platform!).map((a) => a.alert)).not.toContain('ArgoDaemonGuardWebhookUnreachable');
    expect(alerts(r.platform!).length).toBe(9);
    expect(await renderError({ values: { metrics: { prometheusRule: { enabled: true, disabled: ['ArgoDaemonGuardWebhookDown'] } } } })).toContain('"ArgoDaemonGuardWebhookDown" is not an alert of this chart');
  });

  it('the dashboard: a ConfigMap labeled grafana_dashboard "1" with the guard\'s panels', () => {
    const cm = one(r.platform!, 'ConfigMap', `${fullname}-dashboard`);
    expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Argo' });
    const dashboard = JSON.parse((cm.data as Record<string, string>)['argo-daemon-guard.json']!) as { uid: string; panels: { type: string; title: string }[] };
    expect(dashboard.uid).toBe('argo-daemon-guard');
    const titles = dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.title.toLowerCase());
    for (const topic of ['admissions', 'findings by rule and mode', 'admission latency', 'decisions', 'leftover', 'reaps by reason and outcome', 'reap latency', 'stuck', 'leader', 'dry-run', 'circuit breaker', 'watch restarts', 'certificate'])
      expect(titles.some((t) => t.includes(topic)), topic).toBe(true);
    expect(find(r.default!, 'ConfigMap', `${fullname}-dashboard`)).toEqual([]);
  });

  it('every alert and every dashboard query reads a metric the code exports and really updates', () => {
    const cm = one(r.platform!, 'ConfigMap', `${fullname}-dashboard`);
    const dashboard = JSON.parse((cm.data as Record<string, string>)['argo-daemon-guard.json']!) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const queries = [
      ...alerts(r.webhookOnly!).concat(alerts(r.reaperOnly!)).map((a) => ({ where: `alert ${a.alert}`, expr: a.expr })),
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
    ];
    expect(queries.length).toBeGreaterThan(25);
    expect(deadMetrics(queries)).toEqual([]);
  });

  it('the check itself: a metric nothing updates, or one not exported, is reported', () => {
    const exported = exportedMetrics();
    expect(exported.get('argo_daemon_guard_admissions_total')!.updatedIn).toContain('webhook/app.ts');
    expect(exported.get('argo_daemon_guard_admission_duration_seconds_bucket')!.key).toBe('admissionDuration');
    expect(deadMetrics([{ where: 'q', expr: 'rate(argo_daemon_guard_no_such_thing_total[5m])' }])).toEqual(['q: argo_daemon_guard_no_such_thing_total is not exported by webhook/metrics.ts or reaper/metrics.ts']);
  });
});

describe('values that cannot work are refused, naming them', () => {
  it.each([
    ['the webhook off with its certificate settings', { webhook: { enabled: false }, certs: { mode: 'certManager' } }, 'webhook.enabled=false, but certs.mode=certManager configure the webhook'],
    ['the webhook off with hostNetwork', { webhook: { enabled: false, hostNetwork: true } }, 'webhook.hostNetwork'],
    ['both parts off', { webhook: { enabled: false }, reaper: { enabled: false } }, 'webhook.enabled and reaper.enabled are both false'],
    ['hostNetwork on a port below 1024 as non-root', { webhook: { hostNetwork: true, port: 443 } }, "webhook.port=443 is below 1024, which a non-root process cannot bind on the node's network (webhook.hostNetwork=true)"],
    ['a port below 1024 as non-root', { webhook: { port: 443 } }, 'webhook.port=443 is below 1024'],
    ['an existing ServiceAccount without its name', { reaper: { serviceAccount: { create: false } } }, 'reaper.serviceAccount.create=false needs reaper.serviceAccount.name'],
    ['both minAvailable and maxUnavailable', { webhook: { podDisruptionBudget: { maxUnavailable: 1 } } }, 'webhook.podDisruptionBudget: set minAvailable or maxUnavailable, not both'],
  ])('%s', async (_what, values, message) => {
    expect(await renderError({ values })).toContain(message);
  });

  it('helm install refuses them too (a client-side dry run: the same checks, no cluster)', async () => {
    const res = await helm(['install', 'adg', chartDir, '--namespace', ns, '--dry-run=client', '-f', valuesFile({ webhook: { enabled: false }, certs: { mode: 'certManager' } })]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('INSTALLATION FAILED');
    expect(res.stderr).toContain('webhook.enabled=false, but certs.mode=certManager configure the webhook');
    const ok = await helm(['install', 'adg', chartDir, '--namespace', ns, '--dry-run=client']);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
  });

  it('a port below 1024 is fine as root', async () => {
    const objs = await render({ values: { webhook: { hostNetwork: true, port: 443, securityContext: { runAsUser: 0, runAsNonRoot: false }, podSecurityContext: { runAsUser: 0, runAsNonRoot: false } } } });
    expect(pod(objs, 'webhook').containers[0]!.args).toContain('--port=443');
  });

  it.each([
    ['a misspelled security context field', { webhook: { securityContext: { runAsUsr: 1 } } }, "additional properties 'runAsUsr' not allowed"],
    ['a misspelled selector field', { webhook: { namespaceSelector: { matchLabel: { a: 'b' } } } }, "additional properties 'matchLabel' not allowed"],
    ['a bad selector operator', { webhook: { objectSelector: { matchExpressions: [{ key: 'a', operator: 'Has' }] } } }, '/webhook/objectSelector/matchExpressions/0/operator'],
    ['a misspelled dashboard switch', { metrics: { grafanaDashboard: { enable: true } } }, "additional properties 'enable' not allowed"],
    ['a misspelled ServiceAccount field', { reaper: { serviceAccount: { crate: false } } }, "additional properties 'crate' not allowed"],
    ['an unknown part setting', { webhook: { extraContainers: [] } }, "additional properties 'extraContainers' not allowed"],
  ])('the schema stays strict: %s is refused by name', async (_what, values, mention) => {
    expect(await renderError({ values })).toContain(mention);
  });
});

describe('helm lint', () => {
  it('the platform values pass `helm lint --strict`', async () => {
    const res = await helm(['lint', '--strict', chartDir, '--namespace', ns, '-f', valuesFile(platform)]);
    expect(res.stderr + res.stdout).toContain('0 chart(s) failed');
    expect(res.code).toBe(0);
  });
});
