// Thousands of malformed AdmissionReviews against the admission handler: it never throws, and it
// always answers either an AdmissionReview with the request's uid and a boolean `allowed`, or (only
// when no string uid can be read) a 400 with a JSON error.
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPolicy, parsePolicy, type Policy } from '../core/policy/schema.ts';
import { createLogger } from '../runtime/log.ts';
import { createAdmissionHandler, createApp, type Reply } from './app.ts';
import { createMetrics } from './metrics.ts';
import type { ConfigMapReader } from './offloaded.ts';
import { listen, type RunningServer } from './server.ts';
import { ServingTls } from './tls/reloading.ts';
import { daemonPod, httpsRequest, influxTemplate, testPki, type TestPki } from '../test/support/webhook.ts';

const strict = parsePolicy(
  'strict',
  `
maxLifetime: 2h
defaults: { requests: { cpu: 100m, memory: 128Mi }, limits: { memory: 1Gi } }
rules:
  readinessProbe: { mode: enforce }
  resources: { mode: enforce, requests: [cpu, memory], limits: [memory] }
  registries: { mode: audit, allow: [docker.io/library] }
  privileged: { mode: enforce }
  hostNetwork: { mode: warn }
  hostPath: { mode: audit }
  daemonsPerWorkflow: { mode: enforce, max: 1 }
  maxLifetime: { mode: enforce }
namespaces:
  - { names: [dev-*], mode: warn }
exemptions:
  - { namespaces: [kube-*] }
`,
);

// --- generators ----------------------------------------------------------------------------------

const junk = fc.anything({ maxDepth: 3, withNullPrototype: false });
/** Mostly the expected shape, sometimes anything at all. */
const maybe = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: junk });
/** Mostly left as in the realistic pod (null), sometimes replaced. */
const sometimes = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: a });

const templateObject = fc.record(
  {
    name: maybe(fc.constantFrom('influx', 'redis', '', 'main')),
    daemon: maybe(fc.boolean()),
    container: maybe(
      fc.record(
        {
          name: maybe(fc.string()),
          image: maybe(fc.constantFrom('influxdb:1.2', 'docker.io/library/redis', 'evil.example/x', '')),
          resources: maybe(fc.record({ requests: maybe(fc.dictionary(fc.constantFrom('cpu', 'memory'), maybe(fc.string()))), limits: junk }, { requiredKeys: [] })),
          readinessProbe: junk,
          securityContext: maybe(fc.record({ privileged: maybe(fc.boolean()) }, { requiredKeys: [] })),
        },
        { requiredKeys: [] },
      ),
    ),
    containerSet: maybe(fc.record({ containers: fc.array(maybe(fc.record({ name: maybe(fc.constantFrom('main', 'side')), image: junk }, { requiredKeys: [] })), { maxLength: 3 }) })),
    script: junk,
    steps: junk,
    volumes: junk,
    activeDeadlineSeconds: maybe(fc.oneof(fc.integer(), fc.string())),
  },
  { requiredKeys: [] },
);

/** What ARGO_TEMPLATE may hold: real-looking JSON, any JSON, any text, or the offload marker. */
const argoTemplateValue = fc.oneof(
  templateObject.map((t) => JSON.stringify(t)),
  fc.json({ maxDepth: 3 }),
  fc.string(),
  fc.constant('offloaded'),
  fc.constant(JSON.stringify(influxTemplate())),
);

/** The realistic daemon pod with random parts replaced by random or mistyped values. */
const pod = fc
  .record({
    template: argoTemplateValue,
    name: maybe(fc.constantFrom('daemon-step-dvbnn-influx-2254877734', 'x', '')),
    labels: sometimes(maybe(fc.dictionary(fc.constantFrom('workflows.argoproj.io/workflow', 'workflows.argoproj.io/component', 'argo-daemon-guard.io/daemon', 'app'), maybe(fc.string())))),
    annotations: sometimes(maybe(fc.dictionary(fc.constantFrom('workflows.argoproj.io/node-id', 'argo-daemon-guard.io/lifetime-cap'), maybe(fc.string())))),
    owners: sometimes(junk),
    containers: sometimes(junk),
    initContainers: sometimes(maybe(fc.array(junk, { maxLength: 2 }))),
    deadline: sometimes(junk),
    hostNetwork: sometimes(junk),
    dropSpec: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  })
  .map((g) => {
    const p = daemonPod(g.template);
    p.metadata.name = g.name;
    if (g.labels !== null) p.metadata.labels = g.labels;
    if (g.annotations !== null) p.metadata.annotations = g.annotations;
    if (g.owners !== null) p.metadata.ownerReferences = g.owners;
    if (g.containers !== null) p.spec.containers = g.containers;
    if (g.initContainers !== null) p.spec.initContainers = [...(Array.isArray(g.initContainers) ? g.initContainers : [g.initContainers]), ...p.spec.initContainers];
    if (g.deadline !== null) p.spec.activeDeadlineSeconds = g.deadline;
    if (g.hostNetwork !== null) p.spec.hostNetwork = g.hostNetwork;
    if (g.dropSpec) delete p.spec;
    return p;
  });

const workflowish = fc.record(
  {
    apiVersion: maybe(fc.constant('argoproj.io/v1alpha1')),
    kind: maybe(fc.constantFrom('Workflow', 'WorkflowTemplate', 'ClusterWorkflowTemplate', 'CronWorkflow')),
    metadata: maybe(fc.record({ name: maybe(fc.string()), namespace: junk, labels: junk }, { requiredKeys: [] })),
    spec: maybe(
      fc.record(
        {
          entrypoint: junk,
          templates: maybe(fc.array(maybe(templateObject), { maxLength: 4 })),
          workflowSpec: junk,
          hostNetwork: junk,
          volumes: junk,
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);

const podKind = { group: '', version: 'v1', kind: 'Pod' };
const argoKinds = fc.constantFrom(
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'Workflow' },
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'CronWorkflow' },
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'WorkflowTemplate' },
  { group: 'argoproj.io', version: 'v1alpha1', kind: 'ClusterWorkflowTemplate' },
);
const otherKind = fc.constant({ group: 'apps', version: 'v1', kind: 'Deployment' });

function requestOf(kind: fc.Arbitrary<unknown>, object: fc.Arbitrary<unknown>) {
  return fc.record(
    {
      uid: fc.oneof({ weight: 8, arbitrary: fc.uuid() }, fc.string(), fc.constant(''), junk),
      kind: maybe(kind),
      resource: maybe(fc.record({ group: fc.string(), version: fc.string(), resource: fc.constantFrom('pods', 'workflows', 'x') })),
      subResource: sometimes(maybe(fc.constantFrom('exec', 'status', ''))),
      name: junk,
      namespace: maybe(fc.constantFrom('argo', 'dev-team', 'kube-system', '')),
      operation: maybe(fc.constantFrom('CREATE', 'UPDATE', 'DELETE')),
      dryRun: maybe(fc.boolean()),
      object: maybe(object),
      oldObject: junk,
    },
    { requiredKeys: ['uid', 'kind', 'object'] },
  );
}

const request = fc.oneof(
  { weight: 4, arbitrary: requestOf(fc.constant(podKind), pod) },
  { weight: 2, arbitrary: requestOf(argoKinds, workflowish) },
  { weight: 1, arbitrary: requestOf(fc.oneof(otherKind, argoKinds, fc.constant(podKind)), fc.oneof(pod, workflowish, junk)) },
);

const reviewShaped = fc.record(
  {
    apiVersion: maybe(fc.constant('admission.k8s.io/v1')),
    kind: maybe(fc.constant('AdmissionReview')),
    request: fc.oneof({ weight: 8, arbitrary: request }, { weight: 1, arbitrary: junk }),
  },
  { requiredKeys: ['kind', 'request'] },
);

/** Request bodies: AdmissionReview-shaped mostly, then arbitrary JSON, then arbitrary text and bytes. */
const body: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 12, arbitrary: reviewShaped.map((r) => Buffer.from(JSON.stringify(r) ?? '')) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }).map((j) => Buffer.from(j)) },
  { weight: 1, arbitrary: fc.string().map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
);

// --- the oracle ----------------------------------------------------------------------------------

/** The uid a correct handler must echo, computed without the core. */
function readableUid(raw: Buffer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  const req = (parsed as { request?: unknown } | null)?.request;
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return undefined;
  const uid = (req as { uid?: unknown }).uid;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

function checkReply(raw: Buffer, reply: { status: number; body: any }): void {
  const uid = readableUid(raw);
  expect(() => JSON.stringify(reply.body)).not.toThrow();
  if (uid === undefined) {
    expect(reply.status).toBe(400);
    expect(typeof reply.body.error).toBe('string');
    expect(reply.body.error.length).toBeGreaterThan(0);
    return;
  }
  expect(reply.status).toBe(200);
  expect(reply.body.apiVersion).toBe('admission.k8s.io/v1');
  expect(reply.body.kind).toBe('AdmissionReview');
  const r = reply.body.response;
  expect(r.uid).toBe(uid);
  expect(typeof r.allowed).toBe('boolean');
  if (!r.allowed) {
    expect(r.status.code).toBe(403);
    expect(typeof r.status.message).toBe('string');
  }
  if (r.warnings !== undefined) expect(r.warnings.every((w: unknown) => typeof w === 'string')).toBe(true);
  if (r.patch !== undefined) {
    expect(r.patchType).toBe('JSONPatch');
    expect(Array.isArray(JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8')))).toBe(true);
  }
}

// --- the handler's surroundings --------------------------------------------------------------------

const configMaps: ConfigMapReader = {
  async readConfigMapKey(ns, name) {
    const pick = (ns.length + name.length) % 3;
    if (pick === 0) return { found: true, value: JSON.stringify(influxTemplate()) };
    if (pick === 1) return { found: false };
    throw new Error('stand-in API failure');
  },
};

function deps(policy: () => Policy) {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return { logger: createLogger('debug', sink), metrics: createMetrics({ defaultMetrics: false }), policy, configMaps, offloadedTimeoutMs: 1_000 };
}

describe('admission handler under malformed input', () => {
  it('never throws and always answers with the uid or a 400 JSON error (in process)', async () => {
    let policy: Policy = defaultPolicy;
    const handle = createAdmissionHandler(deps(() => policy));
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('mutate' as const, 'validate' as const), fc.boolean(), async (raw, endpoint, useStrict) => {
        policy = useStrict ? strict : defaultPolicy;
        let reply: Reply | undefined;
        let thrown: unknown;
        try {
          reply = await handle(endpoint, raw);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeUndefined();
        checkReply(raw, reply!);
      }),
      { numRuns: 3000 },
    );
  });

  describe('over HTTPS', () => {
    let pki: TestPki;
    let server: RunningServer;
    beforeAll(async () => {
      pki = await testPki();
      const d = deps(() => strict);
      const tls = new ServingTls('test', d.logger);
      tls.apply(pki.serving, 'test');
      server = await listen(createApp({ ...d, readiness: () => ({ ready: true, detail: {} }) }), tls, { port: 0, host: '127.0.0.1', logger: d.logger });
    });
    afterAll(async () => {
      await server.close(1_000);
    });

    it('the same holds through express and the body reader', async () => {
      await fc.assert(
        fc.asyncProperty(body, fc.constantFrom('/mutate', '/validate'), async (raw, path) => {
          const res = await httpsRequest(server.port, { path, body: raw, ca: pki.ca.certPem });
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          checkReply(raw, { status: res.status, body: res.json });
        }),
        { numRuns: 300 },
      );
    });
  });
});
