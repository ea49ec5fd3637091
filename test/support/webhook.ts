// Shared by the webhook's tests: an Argo daemon pod as the controller creates it, AdmissionReview
// requests, a real HTTPS client that trusts a test CA, and a log sink.
import { request, Agent } from 'node:https';
import { Writable } from 'node:stream';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createLogger, type Logger } from '../../runtime/log.ts';
import { createCA, issueServingCert, type KeyPairPem } from '../../webhook/tls/pki.ts';

export const workflowName = 'daemon-step-dvbnn';
export const workflowUid = '6c1d3b9a-8f2e-4a57-9d0c-2e7f1a4b5c6d';
/** argo-daemons.md §1: node `daemon-step-dvbnn[0].influx(0)` has id `daemon-step-dvbnn-2254877734`. */
export const nodeName = `${workflowName}[0].influx(0)`;
export const nodeId = `${workflowName}-2254877734`;
export const podName = `${workflowName}-influx-2254877734`;
export const namespace = 'argo';

/** ARGO_TEMPLATE as the controller marshals it: inputs/outputs/metadata always present, daemon only when true. */
export function influxTemplate(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'influx',
    inputs: {},
    outputs: {},
    metadata: {},
    daemon: true,
    container: {
      name: '',
      image: 'influxdb:1.2',
      resources: {},
      readinessProbe: { httpGet: { path: '/ping', port: 8086 }, initialDelaySeconds: 5, timeoutSeconds: 1 },
    },
    ...overrides,
  };
}

const executorImage = 'quay.io/argoproj/argoexec:v3.7.18';

function executorEnv(container: string, template: string | undefined) {
  return [
    { name: 'ARGO_POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'ARGO_POD_UID', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.uid' } } },
    { name: 'GODEBUG', value: 'x509ignoreCN=0' },
    { name: 'ARGO_WORKFLOW_NAME', value: workflowName },
    { name: 'ARGO_WORKFLOW_UID', value: workflowUid },
    { name: 'ARGO_CONTAINER_NAME', value: container },
    ...(template === undefined ? [] : [{ name: 'ARGO_TEMPLATE', value: template }]),
    { name: 'ARGO_NODE_ID', value: nodeId },
    { name: 'ARGO_INCLUDE_SCRIPT_OUTPUT', value: 'false' },
    { name: 'ARGO_DEADLINE', value: '0001-01-01T00:00:00Z' },
    { name: 'ARGO_PROGRESS_FILE', value: '/var/run/argo/progress' },
    { name: 'ARGO_PROGRESS_PATCH_TICK_DURATION', value: '1m0s' },
    { name: 'ARGO_PROGRESS_FILE_TICK_DURATION', value: '3s' },
  ];
}

/**
 * A daemon pod in the legacy layout (v3.6 – v4.x default): ARGO_TEMPLATE in the `init` container
 * only, `wait` and `main` without it. `template` replaces the env value (a JSON string, or "offloaded").
 */
export function daemonPod(template: string = JSON.stringify(influxTemplate())): Record<string, any> {
  const mounts = [{ name: 'var-run-argo', mountPath: '/var/run/argo' }];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName,
      namespace,
      labels: { 'workflows.argoproj.io/workflow': workflowName, 'workflows.argoproj.io/completed': 'false' },
      annotations: {
        'workflows.argoproj.io/node-id': nodeId,
        'workflows.argoproj.io/node-name': nodeName,
        'kubectl.kubernetes.io/default-container': 'main',
      },
      ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: workflowName, uid: workflowUid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      initContainers: [
        {
          name: 'init',
          image: executorImage,
          command: ['argoexec', 'init', '--loglevel', 'info', '--log-format', 'text', '--gloglevel', '0'],
          env: executorEnv('init', template),
          resources: { requests: { cpu: '10m', memory: '64Mi' } },
          volumeMounts: mounts,
        },
      ],
      containers: [
        {
          name: 'wait',
          image: executorImage,
          command: ['argoexec', 'wait', '--loglevel', 'info', '--log-format', 'text', '--gloglevel', '0'],
          env: executorEnv('wait', undefined),
          resources: { requests: { cpu: '10m', memory: '64Mi' } },
          volumeMounts: mounts,
        },
        {
          name: 'main',
          image: 'influxdb:1.2',
          command: ['/var/run/argo/argoexec', 'emissary', '--loglevel', 'info', '--log-format', 'text', '--gloglevel', '0', '--', 'influxd'],
          env: executorEnv('main', undefined),
          resources: {},
          readinessProbe: { httpGet: { path: '/ping', port: 8086 }, initialDelaySeconds: 5, timeoutSeconds: 1 },
          volumeMounts: mounts,
        },
      ],
      volumes: [{ name: 'var-run-argo', emptyDir: {} }],
      restartPolicy: 'Never',
      serviceAccountName: 'default',
      enableServiceLinks: false,
    },
  };
}

let uidCounter = 0;

/** An AdmissionReview v1 request for a pod CREATE, as the API server sends it. */
export function podReview(pod: unknown, opts: { uid?: string; dryRun?: boolean } = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? `705ab4f5-6393-11e8-b7cc-${String(++uidCounter).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: podName,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:argo:argo', uid: 'e0ad0a8c', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: opts.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export interface TestPki {
  ca: KeyPairPem;
  serving: KeyPairPem;
}

export async function testPki(commonName = 'test-ca'): Promise<TestPki> {
  const ca = await createCA(commonName, 1);
  const serving = await issueServingCert(ca, { commonName: 'localhost', dnsNames: ['localhost'], ips: ['127.0.0.1'], validDays: 1 });
  return { ca, serving };
}

export function tempDir(prefix = 'adg-webhook-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  /** SHA-256 fingerprint of the certificate the server presented. */
  peerFingerprint: string;
}

/** One HTTPS request over real TLS, trusting only `ca`; a fresh connection unless an agent is given. */
export function httpsRequest(
  port: number,
  opts: { method?: string; path: string; body?: string | Buffer; headers?: Record<string, string>; ca: string | string[]; agent?: Agent },
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const body = opts.body;
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
        path: opts.path,
        ca: opts.ca,
        agent: opts.agent ?? false,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }), ...opts.headers },
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, peerFingerprint: peer });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A pino logger whose JSON lines land in `lines`. */
export function captureLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

/** Polls `probe` until it returns a truthy value; fails the test with `what` after `ms`. */
export async function eventually<T>(what: string, probe: () => T | Promise<T>, ms = 15_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The value of one sample in Prometheus text, or undefined when absent. */
export function sample(metricsText: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(/,(?=[a-zA-Z_]\w*=)/) : [];
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}
