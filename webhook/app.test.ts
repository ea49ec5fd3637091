// The webhook as the API server sees it: HTTPS with a certificate made by the test, AdmissionReview
// round trips on a realistic Argo daemon pod, the 400 contract, metrics, logs, dry run, offloaded
// templates through a stand-in ConfigMap reader, and a graceful shutdown that drains.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { applyPatch } from 'rfc6902';
import { guard } from '../core/keys.ts';
import { startWebhook, type RunningWebhook } from './main.ts';
import type { ConfigMapKey, ConfigMapReader } from './offloaded.ts';
import {
  captureLogger,
  daemonPod,
  eventually,
  httpsRequest,
  influxTemplate,
  namespace,
  podName,
  podReview,
  sample,
  tempDir,
  testPki,
  workflowUid,
  type TestPki,
} from '../test/support/webhook.ts';

const running: RunningWebhook[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close(1_000);
});

async function start(opts: { policy?: string; configMaps?: ConfigMapReader; pki?: TestPki; offloadedTimeoutMs?: number } = {}) {
  const pki = opts.pki ?? (await testPki());
  const dir = tempDir();
  writeFileSync(join(dir, 'tls.crt'), pki.serving.certPem);
  writeFileSync(join(dir, 'tls.key'), pki.serving.keyPem);
  let policyFile: string | undefined;
  if (opts.policy !== undefined) writeFileSync((policyFile = join(dir, 'policy.yaml')), opts.policy);
  const { logger, lines } = captureLogger('debug');
  const wh = await startWebhook(
    { certs: { mode: 'files', certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') }, kubeconfig: undefined, port: 0, host: '127.0.0.1', policy: policyFile, logLevel: 'debug' },
    {
      logger,
      kube: { ok: false, reason: 'no cluster credentials' },
      ...(opts.configMaps ? { configMaps: opts.configMaps } : {}),
      ...(opts.offloadedTimeoutMs ? { offloadedTimeoutMs: opts.offloadedTimeoutMs } : {}),
    },
  );
  running.push(wh);
  const call = (path: string, body?: unknown, raw?: string | Buffer) =>
    httpsRequest(wh.port, { path, ca: pki.ca.certPem, ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const metrics = async () => (await call('/metrics')).text;
  return { wh, pki, dir, lines, call, metrics };
}

function decodePatch(response: { patch?: string; patchType?: string }): any[] {
  expect(response.patchType).toBe('JSONPatch');
  return JSON.parse(Buffer.from(response.patch!, 'base64').toString('utf8'));
}

const enforceResources = `
rules:
  resources: { mode: enforce, requests: [cpu, memory] }
`;

describe('admission round trips over HTTPS', () => {
  it('mutate labels a legacy-layout daemon pod and caps its lifetime, touching none of Argo\'s keys', async () => {
    const { call, lines, metrics } = await start();
    const pod = daemonPod();
    const review = podReview(pod);
    const res = await call('/mutate', review);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.json).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } });

    const patched = structuredClone(pod);
    const errors = applyPatch(patched, decodePatch(res.json.response));
    expect(errors.every((e) => e === null)).toBe(true);
    expect(patched.metadata.labels).toEqual({ ...pod.metadata.labels, [guard.daemonLabel]: 'true', [guard.workflowUidLabel]: workflowUid });
    expect(patched.metadata.annotations).toEqual({ ...pod.metadata.annotations, [guard.templateAnnotation]: 'influx', [guard.lifetimeCapAnnotation]: '86400' });
    expect(patched.spec.activeDeadlineSeconds).toBe(86400);
    expect(patched.metadata.ownerReferences).toEqual(pod.metadata.ownerReferences);
    expect(patched.spec.containers).toEqual(pod.spec.containers);

    // A second pass over its own output changes nothing.
    const again = await call('/mutate', podReview(patched));
    expect(again.json.response.allowed).toBe(true);
    expect(again.json.response.patch).toBeUndefined();

    const line = lines.find((l) => l.msg === 'admission' && l.uid === review.request.uid);
    expect(line).toMatchObject({ level: 'info', name: 'argo-daemon-guard', endpoint: 'mutate', kind: 'Pod', namespace, objectName: podName, decision: 'labeled', dryRun: false, findings: [] });
    expect(typeof line!.latencyMs).toBe('number');
    const text = await metrics();
    // The first pass labeled the daemon; the second found it labeled already and had nothing to patch.
    expect(sample(text, 'argo_daemon_guard_admissions_total', { endpoint: 'mutate', kind: 'Pod', decision: 'labeled' })).toBe(1);
    expect(sample(text, 'argo_daemon_guard_admissions_total', { endpoint: 'mutate', kind: 'Pod', decision: 'allow' })).toBe(1);
    expect(sample(text, 'argo_daemon_guard_admission_duration_seconds_count', { endpoint: 'mutate' })).toBe(2);
    expect(sample(text, 'argo_daemon_guard_admission_duration_seconds_bucket', { endpoint: 'mutate', le: '0.0001' })).toBeDefined();
    expect(text).not.toContain(podName);
  });

  it('validate warns with the default policy and names the template, the rule and the fix', async () => {
    const { call, metrics } = await start();
    const res = await call('/validate', podReview(daemonPod()));
    expect(res.status).toBe(200);
    const r = res.json.response;
    expect(r.allowed).toBe(true);
    expect(r.warnings.join('\n')).toMatch(/template influx: resources: .*fix: /);
    expect(r.auditAnnotations.decision).toBe('warn');
    expect(sample(await metrics(), 'argo_daemon_guard_policy_findings_total', { rule: 'resources', mode: 'warn' })).toBe(1);
  });

  it('validate denies under an enforce policy with a 403 status that names template and rule', async () => {
    const { call, metrics } = await start({ policy: enforceResources });
    const res = await call('/validate', podReview(daemonPod()));
    const r = res.json.response;
    expect(r.allowed).toBe(false);
    expect(r.status.code).toBe(403);
    expect(r.status.message).toMatch(/template influx: resources: /);
    expect(sample(await metrics(), 'argo_daemon_guard_admissions_total', { endpoint: 'validate', kind: 'Pod', decision: 'deny' })).toBe(1);
  });

  it('an audit-mode finding changes nothing in the answer but is logged and counted', async () => {
    const { call, lines, metrics } = await start({ policy: 'rules:\n  resources: { mode: audit }\n' });
    const review = podReview(daemonPod());
    const res = await call('/validate', review);
    expect(res.json.response.allowed).toBe(true);
    expect(res.json.response.warnings).toBeUndefined();
    expect(sample(await metrics(), 'argo_daemon_guard_policy_findings_total', { rule: 'resources', mode: 'audit' })).toBe(1);
    const line = lines.find((l) => l.uid === review.request.uid && l.msg === 'admission');
    expect(line).toMatchObject({ level: 'info', decision: 'allow', findings: [{ template: 'influx', rule: 'resources', mode: 'audit' }] });
  });

  it('a dry run gets the same answer and leaves no trace in metrics or the info log', async () => {
    const { call, lines, metrics } = await start({ policy: 'rules:\n  resources: { mode: audit }\n  readinessProbe: { mode: enforce }\n' });
    const before = await metrics();
    const dry = podReview(daemonPod(), { dryRun: true, uid: 'dry-1' });
    const real = podReview(daemonPod(), { uid: 'dry-1' });
    const dryMutate = await call('/mutate', dry);
    const dryValidate = await call('/validate', dry);
    const after = await metrics();
    for (const name of ['argo_daemon_guard_admissions_total', 'argo_daemon_guard_policy_findings_total', 'argo_daemon_guard_admission_duration_seconds_count']) {
      expect(after.split('\n').filter((l) => l.startsWith(name))).toEqual(before.split('\n').filter((l) => l.startsWith(name)));
    }
    expect(lines.filter((l) => l.uid === 'dry-1' && l.level !== 'debug')).toEqual([]);
    expect(lines.find((l) => l.uid === 'dry-1')).toMatchObject({ dryRun: true, level: 'debug' });

    expect((await call('/mutate', real)).json).toEqual(dryMutate.json);
    expect((await call('/validate', real)).json).toEqual(dryValidate.json);
    expect(sample(await metrics(), 'argo_daemon_guard_policy_findings_total', { rule: 'resources', mode: 'audit' })).toBe(1);
  });

  it('a Workflow is validated at submission', async () => {
    const { call } = await start({ policy: enforceResources });
    const wf = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { generateName: 'daemon-step-', namespace },
      spec: {
        entrypoint: 'main',
        templates: [
          { name: 'main', steps: [[{ name: 'influx', template: 'influx' }]] },
          { name: 'influx', daemon: true, container: { image: 'influxdb:1.2', readinessProbe: { httpGet: { path: '/ping', port: 8086 } } } },
        ],
      },
    };
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'wf-1', kind: { group: 'argoproj.io', version: 'v1alpha1', kind: 'Workflow' }, resource: { group: 'argoproj.io', version: 'v1alpha1', resource: 'workflows' }, namespace, operation: 'CREATE', object: wf },
    };
    const res = await call('/validate', review);
    expect(res.json.response).toMatchObject({ uid: 'wf-1', allowed: false });
    expect(res.json.response.status.message).toMatch(/influx/);
  });
});

describe('requests that cannot be answered with an AdmissionReview', () => {
  it('non-JSON, uid-less, empty and over-limit bodies get 400 with a JSON error', async () => {
    const { call, metrics } = await start();
    for (const [raw, pattern] of [
      ['{not json', /not JSON/],
      ['', /empty body/],
      [JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' } } }), /no uid/],
      [JSON.stringify({ request: { uid: 42 } }), /no uid/],
      [JSON.stringify([1, 2, 3]), /no request/],
    ] as const) {
      const res = await call('/validate', undefined, raw);
      expect(res.status, raw).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.json.error).toMatch(pattern);
    }
    // 9 MiB: above the 8 MiB limit (itself above the API server's 3 MiB), declared and streamed.
    const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
    const res = await call('/mutate', undefined, big);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(/over the 8388608-byte limit/);
    expect(sample(await metrics(), 'argo_daemon_guard_admission_errors_total', { endpoint: 'validate', stage: 'body' })).toBe(5);
  });

  it('a body just under the limit is read whole (a 3 MiB pod is answered)', async () => {
    const { call } = await start();
    const pod = daemonPod();
    pod.metadata.annotations['example.com/blob'] = 'x'.repeat(3 * 1024 * 1024);
    const res = await call('/mutate', podReview(pod, { uid: 'big-1' }));
    expect(res.status).toBe(200);
    expect(res.json.response).toMatchObject({ uid: 'big-1', allowed: true });
  });

  it('a readable uid with a malformed rest gets an allowed AdmissionReview with a warning', async () => {
    const { call, metrics } = await start();
    const res = await call('/mutate', { apiVersion: 'admission.k8s.io/v1', kind: 'Nonsense', request: { uid: 'u-1' } });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
    expect(res.json.response.warnings[0]).toMatch(/not checked/);
    expect(sample(await metrics(), 'argo_daemon_guard_admission_errors_total', { endpoint: 'mutate', stage: 'review' })).toBe(1);
  });

  it('unknown routes and methods answer JSON, never an HTML page', async () => {
    const { call } = await start();
    for (const [path, body] of [['/nope', undefined], ['/healthz', {}]] as const) {
      const res = await call(path, body);
      expect(res.status).toBe(404);
      expect(res.json.error).toMatch(/no route/);
    }
    expect((await call('/healthz')).json).toEqual({ status: 'ok' });
  });
});

describe('offloaded templates', () => {
  function reader(answer: (signal: AbortSignal) => Promise<ConfigMapKey>) {
    const calls: { namespace: string; name: string; key: string }[] = [];
    const r: ConfigMapReader = {
      readConfigMapKey(ns, name, key, signal) {
        calls.push({ namespace: ns, name, key });
        return answer(signal);
      },
    };
    return { r, calls };
  }

  it('reads the ConfigMap named like the pod, in its namespace, and labels the daemon', async () => {
    const { r, calls } = reader(async () => ({ found: true, value: JSON.stringify(influxTemplate()) }));
    const { call, metrics } = await start({ configMaps: r });
    const res = await call('/mutate', podReview(daemonPod('offloaded')));
    expect(calls).toEqual([{ namespace, name: podName, key: 'ARGO_TEMPLATE' }]);
    const ops = decodePatch(res.json.response);
    expect(ops).toContainEqual(expect.objectContaining({ path: '/metadata/labels/argo-daemon-guard.io~1daemon', value: 'true' }));
    expect(sample(await metrics(), 'argo_daemon_guard_offloaded_template_reads_total', { outcome: 'ok' })).toBe(1);
  });

  for (const [outcome, answer, reason] of [
    ['missing-key', async () => ({ found: true, value: undefined }), /has no ARGO_TEMPLATE key/],
    ['not-found', async () => ({ found: false }), /not found/],
    ['timeout', (signal: AbortSignal) => new Promise<ConfigMapKey>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))), /timed out/],
    ['error', async () => Promise.reject(new Error('connection refused')), /connection refused/],
  ] as const) {
    it(`${outcome}: the pod is admitted unlabeled and the log says why`, async () => {
      const { r } = reader(answer as (s: AbortSignal) => Promise<ConfigMapKey>);
      const { call, lines, metrics } = await start({ configMaps: r, offloadedTimeoutMs: 200 });
      const review = podReview(daemonPod('offloaded'));
      const res = await call('/mutate', review);
      expect(res.json.response).toMatchObject({ uid: review.request.uid, allowed: true });
      expect(res.json.response.patch).toBeUndefined();
      const line = lines.find((l) => l.uid === review.request.uid && l.msg === 'admission');
      expect(line).toMatchObject({ level: 'info', decision: 'unknown' });
      expect(line!.reason).toMatch(reason);
      expect(res.json.response.auditAnnotations.reason).toMatch(reason);
      expect(sample(await metrics(), 'argo_daemon_guard_offloaded_template_reads_total', { outcome })).toBe(1);
    });
  }

  it('without cluster credentials the pod is admitted unlabeled and the log says so', async () => {
    const { call, lines } = await start();
    const review = podReview(daemonPod('offloaded'));
    const res = await call('/mutate', review);
    expect(res.json.response.patch).toBeUndefined();
    expect(lines.find((l) => l.uid === review.request.uid && l.msg === 'admission')!.reason).toMatch(/no cluster credentials/);
    expect(lines.some((l) => l.level === 'warn' && /offloaded/.test(l.msg))).toBe(true);
  });
});

describe('graceful shutdown', () => {
  it('stops accepting, lets the request in flight finish, then resolves', async () => {
    let release!: (v: ConfigMapKey) => void;
    let reading!: () => void;
    const started = new Promise<void>((r) => (reading = r));
    const r: ConfigMapReader = {
      readConfigMapKey: () => {
        reading();
        return new Promise((resolve) => (release = resolve));
      },
    };
    const { wh, call } = await start({ configMaps: r, offloadedTimeoutMs: 600_000 });
    // The stand-in reader holds the request in flight until the refusal of new connections has been seen.
    const inFlight = call('/mutate', podReview(daemonPod('offloaded'), { uid: 'in-flight' }));
    await started;
    const closing = wh.close(10_000);
    running.splice(running.indexOf(wh), 1);
    const refused = await new Promise<string>((resolve) => {
      const s = connect(wh.port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), resolve('connected')));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    release({ found: true, value: JSON.stringify(influxTemplate()) });
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.json.response).toMatchObject({ uid: 'in-flight', allowed: true });
    expect(await closing).toEqual({ forced: false });
  });

  it('closes idle keep-alive connections instead of waiting for them', async () => {
    const { Agent } = await import('node:https');
    const pki = await testPki();
    const { wh } = await start({ pki });
    const agent = new Agent({ keepAlive: true, ca: pki.ca.certPem });
    const res = await httpsRequest(wh.port, { path: '/healthz', ca: pki.ca.certPem, agent });
    expect(res.status).toBe(200);
    running.splice(running.indexOf(wh), 1);
    expect(await wh.close(60_000)).toEqual({ forced: false });
    agent.destroy();
  });

  it('cuts connections at the deadline when a request never finishes', async () => {
    const r: ConfigMapReader = { readConfigMapKey: () => new Promise(() => {}) };
    let entered!: () => void;
    const inHandler = new Promise<void>((res) => (entered = res));
    const slow: ConfigMapReader = {
      readConfigMapKey: (...a) => {
        entered();
        return r.readConfigMapKey(...a);
      },
    };
    const { wh, call } = await start({ configMaps: slow, offloadedTimeoutMs: 600_000 });
    const pending = call('/mutate', podReview(daemonPod('offloaded'))).catch((e: Error) => e);
    await inHandler;
    running.splice(running.indexOf(wh), 1);
    expect(await wh.close(50)).toEqual({ forced: true });
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('readiness', () => {
  it('reports the policy and the certificate in its JSON', async () => {
    const { call } = await start();
    const res = await call('/readyz');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ready: true, policy: { source: 'built-in default', loaded: true, lastReload: 'success' }, tls: { loaded: true, lastLoadOk: true } });
    await eventually('metrics', async () => (await call('/metrics')).text.includes('process_cpu_user_seconds_total'));
  });
});
