// What the benchmarks send: daemon pods as Argo's controller creates them (test/fixtures/pods.ts, the
// same builder the tests use) and a Workflow with 20 templates, wrapped in AdmissionReviews
// (test/fixtures/admission.ts) or sent to the API server as they are.
import { admissionReview, type Json } from '../test/fixtures/admission.ts';
import { nodeIdOf, workflowPod, type Layout, type Pod } from '../test/fixtures/pods.ts';

export const benchWorkflow = { name: 'nightly-integration-7xk2p', namespace: 'ci', uid: '3f6b2c1e-8a4d-4f0e-9b7a-5c2d1e0f9a8b' } as const;

/** A database daemon as teams write it: probe, resources, env, mounts, an init step, inputs. */
export const postgresTemplate: Json = {
  name: 'postgres-fixture',
  daemon: true,
  inputs: { parameters: [{ name: 'db-name', value: 'integration' }, { name: 'pg-version', value: '16' }] },
  metadata: {
    labels: { 'app.kubernetes.io/name': 'postgres-fixture', 'app.kubernetes.io/part-of': 'nightly-integration', team: 'payments' },
    annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9187' },
  },
  activeDeadlineSeconds: 7200,
  container: {
    image: 'docker.io/library/postgres:16.4-alpine',
    command: ['docker-entrypoint.sh'],
    args: ['postgres', '-c', 'max_connections=200', '-c', 'shared_buffers=256MB', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    env: [
      { name: 'POSTGRES_DB', value: 'integration' },
      { name: 'POSTGRES_USER', value: 'ci' },
      { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'ci-postgres', key: 'password' } } },
      { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
      { name: 'POSTGRES_INITDB_ARGS', value: '--encoding=UTF8 --locale=C.UTF-8 --data-checksums' },
      { name: 'TZ', value: 'UTC' },
    ],
    ports: [{ name: 'postgres', containerPort: 5432, protocol: 'TCP' }],
    resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
    readinessProbe: { exec: { command: ['pg_isready', '-U', 'ci', '-d', 'integration', '-h', '127.0.0.1'] }, initialDelaySeconds: 2, periodSeconds: 2, failureThreshold: 30 },
    volumeMounts: [
      { name: 'pgdata', mountPath: '/var/lib/postgresql/data' },
      { name: 'init-scripts', mountPath: '/docker-entrypoint-initdb.d', readOnly: true },
    ],
  },
  sidecars: [
    {
      name: 'exporter',
      image: 'quay.io/prometheuscommunity/postgres-exporter:v0.15.0',
      env: [{ name: 'DATA_SOURCE_NAME', value: 'postgresql://ci@127.0.0.1:5432/integration?sslmode=disable' }],
      ports: [{ name: 'metrics', containerPort: 9187 }],
      resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    },
  ],
  volumes: [
    { name: 'pgdata', emptyDir: { medium: 'Memory', sizeLimit: '2Gi' } },
    { name: 'init-scripts', configMap: { name: 'ci-postgres-init' } },
  ],
};

/** The same daemon written carelessly: every rule the default policy can report fires on it. */
export const everyRuleTemplate: Json = {
  name: 'redis-anything-goes',
  daemon: true,
  activeDeadlineSeconds: 200_000, // over maxLifetime (24h): capped, and the maxLifetime rule reports it
  container: {
    image: 'redis:7-alpine', // no readinessProbe, no requests
    command: ['redis-server', '--save', '', '--appendonly', 'no'],
    securityContext: { privileged: true },
  },
  volumes: [{ name: 'host-cache', hostPath: { path: '/var/cache/redis' } }],
};

/** Labels and annotations a real Workflow's pods carry besides Argo's own (spec.podMetadata). */
const podMetadata = {
  extraLabels: { team: 'payments', 'cost-center': 'cc-4711', 'workflows.argoproj.io/workflow-template': 'nightly-integration', environment: 'ci' },
  extraAnnotations: { 'workflows.argoproj.io/scheduled-time': '2026-11-23T02:00:00Z', 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' },
};

export interface PodOptions {
  layout?: Layout;
  template?: Json;
  workflow?: { name: string; namespace: string; uid: string };
  /** Step index, so every pod of a run has its own node. */
  step?: number;
  hostNetwork?: boolean;
  generateName?: boolean;
  instanceId?: string;
}

/** A daemon pod of the benchmark Workflow, as Argo's controller would create it. */
export function daemonPod(o: PodOptions = {}): Pod {
  const wf = o.workflow ?? benchWorkflow;
  const template = o.template ?? postgresTemplate;
  const nodeName = `${wf.name}[${o.step ?? 0}].${String(template.name)}`;
  const pod = workflowPod({
    workflow: wf.name,
    namespace: wf.namespace,
    workflowUid: wf.uid,
    nodeName,
    template,
    layout: o.layout ?? 'legacy',
    ...podMetadata,
    ...(o.instanceId ? { instanceId: o.instanceId } : {}),
    ...(o.hostNetwork ? { hostNetwork: true } : {}),
  });
  pod.spec.serviceAccountName = 'default';
  if (o.generateName) {
    const meta = pod.metadata as Json;
    meta.generateName = `${String(meta.name).slice(0, 40)}-`;
    delete meta.name;
  }
  return pod;
}

/** A Workflow with 20 templates: two daemons, their clients, a DAG of test shards, loops, an exit handler. */
export function twentyTemplateWorkflow(): Json {
  const shard = (i: number): Json => ({
    name: `test-shard-${i}`,
    inputs: { parameters: [{ name: 'db-host' }, { name: 'shard', value: String(i) }] },
    container: {
      image: 'ghcr.io/acme/payments-tests:2026.11.22',
      command: ['pytest'],
      args: ['-n', '4', '--shard', String(i), '--db', '{{inputs.parameters.db-host}}'],
      env: [{ name: 'CI', value: 'true' }, { name: 'PYTHONUNBUFFERED', value: '1' }],
      resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '4Gi' } },
    },
  });
  const templates: Json[] = [
    {
      name: 'main',
      steps: [
        [{ name: 'postgres', template: 'postgres-fixture' }, { name: 'cache', template: 'redis-anything-goes' }],
        [{ name: 'migrate', template: 'migrate', arguments: { parameters: [{ name: 'db-host', value: '{{steps.postgres.ip}}' }] } }],
        [{ name: 'seed', template: 'seed', withItems: ['accounts', 'ledgers', 'merchants'] }],
        [{ name: 'tests', template: 'tests', arguments: { parameters: [{ name: 'db-host', value: '{{steps.postgres.ip}}' }] } }],
        [{ name: 'report', template: 'report' }],
      ],
    },
    postgresTemplate,
    everyRuleTemplate,
    { name: 'migrate', inputs: { parameters: [{ name: 'db-host' }] }, container: { image: 'ghcr.io/acme/payments-migrations:2026.11.22', command: ['migrate', 'up'], resources: { requests: { cpu: '100m', memory: '128Mi' } } } },
    { name: 'seed', inputs: { parameters: [{ name: 'item' }] }, script: { image: 'docker.io/library/python:3.12-slim', command: ['python'], source: 'import sys\nprint("seeding", sys.argv)\n' } },
    {
      name: 'tests',
      inputs: { parameters: [{ name: 'db-host' }] },
      dag: {
        tasks: Array.from({ length: 12 }, (_, i) => ({
          name: `shard-${i}`,
          template: `test-shard-${i}`,
          arguments: { parameters: [{ name: 'db-host', value: '{{inputs.parameters.db-host}}' }] },
        })),
      },
    },
    ...Array.from({ length: 12 }, (_, i) => shard(i)),
    { name: 'report', container: { image: 'ghcr.io/acme/junit-report:1.4', command: ['report'], args: ['--out', '/tmp/report.xml'] } },
    { name: 'cleanup', container: { image: 'docker.io/library/alpine:3.20', command: ['sh', '-c', 'echo done'] } },
  ];
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { generateName: 'nightly-integration-', namespace: benchWorkflow.namespace, labels: { team: 'payments', 'workflows.argoproj.io/workflow-template': 'nightly-integration' } },
    spec: {
      entrypoint: 'main',
      onExit: 'cleanup',
      serviceAccountName: 'ci-runner',
      podMetadata: { labels: podMetadata.extraLabels },
      volumes: [{ name: 'scratch', emptyDir: {} }],
      templates,
    },
  };
}

/** The AdmissionReviews the handler benchmark rotates through, with where each goes. */
export function handlerRequests(): { kind: string; path: '/mutate' | '/validate'; body: string }[] {
  const podReview = JSON.stringify(admissionReview(daemonPod() as unknown as Json, { uid: '705ab4f5-6393-11e8-b7cc-42010a800001' }));
  const wfReview = JSON.stringify(admissionReview(twentyTemplateWorkflow(), { uid: '705ab4f5-6393-11e8-b7cc-42010a800002' }));
  return [
    { kind: 'pod/mutate', path: '/mutate', body: podReview },
    { kind: 'pod/validate', path: '/validate', body: podReview },
    { kind: 'workflow/validate', path: '/validate', body: wfReview },
  ];
}

export { nodeIdOf };
