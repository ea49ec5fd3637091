// The reaper at scale on the test cluster: 10,000 Workflows with a realistic status (20 nodes each:
// the root Steps node, 6 step groups, 13 pod nodes) — 8,000 finished, 2,000 running a daemon scope — and
// the 2,000 daemon pods of the running ones, Running under kwok. Creating them is timed on its own.
// Then the reaper from this checkout, compiled as the image ships it (npm run build), under its own
// client certificate (the chart's RBAC), is measured:
//   cold sync:   process start → caches synced (and the list alone: listening → synced);
//   memory:      RSS once synced, and its peak;
//   idle:        CPU and API requests per minute over a quiet minute (requests counted by the API
//                server itself: apiserver_flowcontrol_dispatched_requests_total of a FlowSchema that
//                matches only the reaper's user; reads of pods and Workflows from the audit log);
//   decisions:   500 Workflows changed → the decisions they cause, and the API reads made for them;
//   reaping:     500 scopes end at once; from the end of grace to the delete (the pod's
//                deletionTimestamp appearing on a watch of this process) and to the pod gone, with the
//                rate limit and circuit breaker raised; then 500 more with their defaults.
import { readFileSync, statSync, openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { stringify } from 'yaml';
import { argo, guard } from '../core/keys.ts';
import { compileProduct } from '../scripts/compile.ts';
import { repoRoot } from '../scripts/generate-chart-files.ts';
import { reaperSpec } from '../test/cluster/components.ts';
import { installReaperRbac, reaperHealth } from '../test/cluster/reaper.ts';
import { clientIdentities } from '../test/cluster/pki.ts';
import { freePort } from '../test/cluster/ports.ts';
import { fetchText } from '../test/cluster/kubeconfig.ts';
import { logFileOf, start, stop, waitFor } from '../test/cluster/processes.ts';
import type { ClusterState } from '../test/cluster/state.ts';
import { apiRequest } from '../test/cluster/state.ts';
import { api, ensureNamespace, keepAliveClient, pool } from './lib/cluster.ts';
import { cpuSeconds, peakRssMiB, rssMiB } from './lib/machine.ts';
import { log, sleep, table } from './lib/report.ts';
import { round, summarize, type Summary } from './lib/stats.ts';
import { daemonPod, nodeIdOf, postgresTemplate } from './payloads.ts';

export interface ReaperOptions {
  workflows?: number;
  pods?: number;
  /** Scopes ended at once with the limits raised. */
  ending?: number;
  /** Scopes ended at once with the default rate limit and circuit breaker. */
  defaultsEnding?: number;
  idleSeconds?: number;
  cpuProfDir?: string;
}

export interface ReapArm {
  settings: Record<string, unknown>;
  ended: number;
  deleted: number;
  wouldReap: number;
  /** End of grace → delete issued (deletionTimestamp seen), ms. */
  toDelete: Summary;
  /** End of grace → pod gone, ms. */
  toGone: Summary;
  /** End of grace → the last of them deleted, s. */
  lastDeleteSeconds: number;
  /** Deletes per pod uid in the API server's audit log: each must be 1. */
  maxDeletesPerPod: number;
  /** The end-of-grace → delete latencies (ms), for the chart. */
  samples?: Float64Array;
}

export interface FloorArm {
  pods: number;
  toDelete: Summary;
  lastDeleteSeconds: number;
  samples?: Float64Array;
}

export interface ReaperResults {
  syncSeconds: number;
  listSeconds: number;
  /** The same list made by the bench itself: what the API server alone takes. */
  apiListSeconds: number;
  /** RSS 30 s after the caches synced (the garbage of the first lists collected). */
  rssMB: number;
  /** RSS right as the caches synced. */
  rssAtSyncMB: number;
  peakRssMB: number;
  /** A second cold start with the V8 heap capped as in a container with the chart's memory limit. */
  capped: { maxOldSpaceMB: number; syncSeconds: number; rssMB: number; peakRssMB: number };
  /** The reaper's V8 heap 30 s after sync (its own /metrics): what of the RSS is JavaScript objects. */
  heap: { usedMB: number; totalMB: number; newSpaceMB: number; externalMB: number };
  reapP99Ms: number;
  reapP50Ms: number;
  /**
   * The same burst without the reaper: the bench deletes 500 daemon pods at one instant, as the reaper's
   * user (its priority level), 32 at once, with the reaper's preconditions — alone, and after a read of
   * each Workflow (the reaper's two requests per reap). From that instant to the deletionTimestamp seen.
   */
  floor: { deletes: FloorArm; readAndDelete: FloorArm };
  scale: { workflows: number; runningWorkflows: number; pods: number; nodesPerWorkflow: number; workflowBytes: number };
  creation: { workflowsSeconds: number; workflowsPerSecond: number; podsSeconds: number; podsRunningSeconds: number };
  idle: { seconds: number; cpuPercent: number; apiRequestsPerMinute: number; podAndWorkflowReadsPerMinute: number; rssMB: number };
  decisions: { workflowsChanged: number; decisions: number; apiReads: number; readsPerDecision: number };
  raised: ReapArm;
  defaults: ReapArm;
  samples: { raised: Float64Array; defaults: Float64Array; floorDeletes: Float64Array; floorReadAndDelete: Float64Array };
}

const namespace = 'bench-reaper';
/** Creates in flight at once while setting up (the keep-alive pool has as many connections). */
const createConcurrency = 24;
const instanceId = 'argo-daemon-guard-bench';
const flowSchema = 'bench-reaper';
const nodeTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Argo's node map for a 20-node Steps workflow; the daemon runs in step group 0. */
export function workflowStatus(wf: string, o: { running: boolean; startedAt: number; finishedAt?: number }): Record<string, unknown> {
  const started = nodeTime(o.startedAt);
  const finished = o.finishedAt !== undefined ? nodeTime(o.finishedAt) : undefined;
  const nodes: Record<string, Record<string, unknown>> = {};
  const groups = 6;
  const podNodes: string[][] = Array.from({ length: groups }, () => []);
  const daemonName = `${wf}[0].${String(postgresTemplate.name)}`;
  podNodes[0]!.push(daemonName);
  for (let i = 0; podNodes.flat().length < 13; i++) podNodes[1 + (i % (groups - 1))]!.push(`${wf}[${1 + (i % (groups - 1))}].step-${i}`);
  const groupIds = Array.from({ length: groups }, (_, g) => nodeIdOf(wf, `${wf}[${g}]`));
  nodes[wf] = {
    id: wf, name: wf, displayName: wf, type: 'Steps', templateName: 'main', templateScope: `local/${wf}`,
    phase: o.running ? 'Running' : 'Succeeded', startedAt: started, ...(finished ? { finishedAt: finished } : {}),
    progress: '13/13', resourcesDuration: { cpu: 212, memory: 1840 }, children: [groupIds[0]], outboundNodes: [nodeIdOf(wf, podNodes[groups - 1]![0]!)],
  };
  for (let g = 0; g < groups; g++) {
    const name = `${wf}[${g}]`;
    const pods = podNodes[g]!.map((n) => nodeIdOf(wf, n));
    nodes[groupIds[g]!] = {
      id: groupIds[g], name, displayName: `[${g}]`, type: 'StepGroup', templateScope: `local/${wf}`, phase: o.running && g === 0 ? 'Running' : 'Succeeded',
      boundaryID: wf, startedAt: started, ...(finished || g > 0 ? { finishedAt: finished ?? started } : {}), progress: `${pods.length}/${pods.length}`,
      nodeFlag: {}, children: g + 1 < groups ? [...pods, groupIds[g + 1]] : pods,
    };
    for (const n of podNodes[g]!) {
      const isDaemon = n === daemonName;
      nodes[nodeIdOf(wf, n)] = {
        id: nodeIdOf(wf, n), name: n, displayName: n.slice(n.lastIndexOf('.') + 1), type: 'Pod', templateName: isDaemon ? postgresTemplate.name : 'test-shard',
        templateScope: `local/${wf}`, phase: isDaemon && o.running ? 'Running' : 'Succeeded', boundaryID: wf, startedAt: started, finishedAt: finished ?? started,
        ...(isDaemon && o.running ? { daemoned: true } : {}), progress: '1/1', resourcesDuration: { cpu: 14, memory: 122 },
        outputs: { exitCode: '0' }, hostNodeName: 'kwok-node-0', children: g + 1 < groups ? [groupIds[g + 1]] : [],
      };
    }
  }
  return { phase: o.running ? 'Running' : 'Succeeded', startedAt: started, ...(finished ? { finishedAt: finished } : {}), progress: '13/13', nodes, resourcesDuration: { cpu: 212, memory: 1840 }, artifactRepositoryRef: { default: true, artifactRepository: {} }, artifactGCStatus: { notSpecified: true } };
}

export function workflowBody(name: string, status: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name, namespace, labels: { [argo.controllerInstanceIdLabel]: instanceId, 'workflows.argoproj.io/phase': String(status.phase), team: 'payments' } },
    spec: {
      entrypoint: 'main',
      templates: [
        { name: 'main', steps: [[{ name: String(postgresTemplate.name), template: String(postgresTemplate.name) }], ...Array.from({ length: 5 }, (_, g) => [{ name: `step-${g}`, template: 'test-shard' }])] },
        postgresTemplate,
        { name: 'test-shard', container: { image: 'ghcr.io/acme/payments-tests:2026.11.22', command: ['pytest'], args: ['-n', '4'], resources: { requests: { cpu: '1', memory: '2Gi' } } } },
      ],
    },
    status,
  };
}

/** The daemon with small requests, so 2,000 of them fit on the fake node (1,000 CPU). */
const smallPostgres = { ...postgresTemplate, container: { ...(postgresTemplate.container as Record<string, unknown>), resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } } } };

/** A daemon pod of a running Workflow, labeled as the webhook would have (kwok completes unlabeled Argo pods). */
function benchPod(wf: { name: string; uid: string }): Record<string, unknown> {
  const pod = daemonPod({ workflow: { name: wf.name, namespace, uid: wf.uid }, step: 0, instanceId, template: smallPostgres });
  pod.metadata.labels[guard.daemonLabel] = 'true';
  pod.metadata.labels[guard.workflowUidLabel] = wf.uid;
  pod.metadata.annotations[guard.templateAnnotation] = String(postgresTemplate.name);
  pod.spec.terminationGracePeriodSeconds = 1;
  return pod as unknown as Record<string, unknown>;
}

interface PodTimes {
  deleteSeenAt?: number;
  goneAt?: number;
}

/** A watch on the namespace's pods: when each pod (by name) got its deletionTimestamp and when it went. */
function watchPods(s: ClusterState, resourceVersion: string): { times: Map<string, PodTimes>; stop(): void } {
  const times = new Map<string, PodTimes>();
  const p = new Pool(s.server, { connect: { ca: readFileSync(s.pki.ca.cert), cert: readFileSync(s.pki.clients.admin.cert), key: readFileSync(s.pki.clients.admin.key) }, bodyTimeout: 0 });
  const abort = new AbortController();
  void (async () => {
    let rv = resourceVersion;
    while (!abort.signal.aborted) {
      try {
        const res = await p.request({ method: 'GET', path: `/api/v1/namespaces/${namespace}/pods?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, signal: abort.signal });
        let buf = '';
        for await (const chunk of res.body) {
          const now = Date.now();
          buf += chunk.toString();
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            const e = JSON.parse(line) as { type: string; object: { metadata: { name: string; resourceVersion: string; deletionTimestamp?: string } } };
            rv = e.object.metadata.resourceVersion ?? rv;
            if (e.type === 'BOOKMARK') continue;
            const t = times.get(e.object.metadata.name) ?? {};
            if (e.object.metadata.deletionTimestamp && t.deleteSeenAt === undefined) t.deleteSeenAt = now;
            if (e.type === 'DELETED') {
              t.goneAt = now;
              t.deleteSeenAt ??= now;
            }
            times.set(e.object.metadata.name, t);
          }
        }
      } catch {
        if (!abort.signal.aborted) await sleep(200);
      }
    }
  })();
  return { times, stop: () => (abort.abort(), void p.close().catch(() => {})) };
}

/** Audit-log lines written after `offset` (the harness logs pods and argoproj.io at Metadata level). */
function auditSince(s: ClusterState, offset: number): { user: string; verb: string; resource: string; name: string; code: number; stage: string }[] {
  const file = join(s.stateDir, 'logs', 'audit.log');
  const size = statSync(file).size;
  if (size <= offset) return [];
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(size - offset);
  readSync(fd, buf, 0, buf.length, offset);
  closeSync(fd);
  const out = [];
  for (const line of buf.toString('utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const e = JSON.parse(line) as { user?: { username?: string }; verb?: string; objectRef?: { resource?: string; name?: string }; responseStatus?: { code?: number }; stage?: string };
      out.push({ user: e.user?.username ?? '', verb: e.verb ?? '', resource: e.objectRef?.resource ?? '', name: e.objectRef?.name ?? '', code: e.responseStatus?.code ?? 0, stage: e.stage ?? '' });
    } catch {
      /* a line being written */
    }
  }
  return out;
}

function auditSize(s: ClusterState): number {
  try {
    return statSync(join(s.stateDir, 'logs', 'audit.log')).size;
  } catch {
    return 0;
  }
}

async function dispatched(s: ClusterState): Promise<number> {
  const r = await apiRequest(s, '/metrics');
  let n = 0;
  for (const line of r.body.split('\n')) if (line.startsWith('apiserver_flowcontrol_dispatched_requests_total{') && line.includes(`flow_schema="${flowSchema}"`)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  return n;
}

async function reaperCounter(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const r = await fetchText(`http://127.0.0.1:${port}/metrics`);
  let n = 0;
  for (const line of r.body.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) n += Number(m[3]);
  }
  return n;
}

async function reaperHeap(port: number): Promise<ReaperResults['heap']> {
  const mb = async (name: string, labels: Record<string, string> = {}) => round((await reaperCounter(port, name, labels)) / 2 ** 20, 1);
  return {
    usedMB: await mb('nodejs_heap_size_used_bytes'),
    totalMB: await mb('nodejs_heap_size_total_bytes'),
    newSpaceMB: await mb('nodejs_heap_space_size_total_bytes', { space: 'new' }),
    externalMB: await mb('nodejs_external_memory_bytes'),
  };
}

export async function runReaperBench(s: ClusterState, o: ReaperOptions = {}): Promise<ReaperResults> {
  const total = o.workflows ?? 10_000;
  const running = o.pods ?? 2_000;
  const ending = o.ending ?? 500;
  const defaultsEnding = o.defaultsEnding ?? 500;
  const idleSeconds = o.idleSeconds ?? 60;
  if (ending + defaultsEnding > running) throw new Error('more scopes to end than running workflows');

  // The webhooks play no part here (pods are created labeled); unregistered, creation is quicker.
  for (const kind of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) await api(s, `/apis/admissionregistration.k8s.io/v1/${kind}/argo-daemon-guard`, { method: 'DELETE', ok: [200, 404] });
  await ensureNamespace(s, namespace);
  await installReaperRbac(s, [namespace]);
  await api(s, '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas', {
    method: 'POST',
    ok: [201, 409],
    body: {
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'FlowSchema',
      metadata: { name: flowSchema },
      spec: {
        matchingPrecedence: 500,
        priorityLevelConfiguration: { name: 'workload-low' },
        distinguisherMethod: { type: 'ByUser' },
        rules: [{ subjects: [{ kind: 'User', user: { name: clientIdentities.reaper.commonName } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], clusterScope: true, namespaces: ['*'] }], nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }] }],
      },
    },
  });

  // ---- Create the Workflows and pods (timed apart from everything measured) ----
  const client = keepAliveClient(s, createConcurrency + 8);
  const t0 = Date.now();
  const startedAt = t0 - 3600_000;
  const names = Array.from({ length: total }, (_, i) => `nightly-${String(i).padStart(5, '0')}`);
  const uids = new Map<string, string>();
  /** The daemon pod of a running Workflow, by name, as benchPod names it. */
  const podNameOf = (workflow: string) => String((benchPod({ name: workflow, uid: uids.get(workflow)! }).metadata as { name: string }).name);
  let workflowBytes = 0;
  // Bounded concurrency (the API server, not the bench, is the limit), and no server-side field
  // validation: these bodies are generated here and known good, and checking each 12 kB status against
  // Argo's full CRD schema for unknown fields is most of what a create costs.
  await pool(names, createConcurrency, async (name, i) => {
    const isRunning = i < running;
    const body = workflowBody(name, workflowStatus(name, isRunning ? { running: true, startedAt } : { running: false, startedAt, finishedAt: startedAt + 1800_000 }));
    const text = JSON.stringify(body);
    if (i === 0) workflowBytes = Buffer.byteLength(text);
    const r = await client.request<{ metadata: { uid: string } }>('POST', `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows?fieldValidation=Ignore`, text);
    uids.set(name, r.body.metadata.uid);
    if ((i + 1) % 2000 === 0) log(`created ${i + 1}/${total} Workflows (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  });
  const workflowsSeconds = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  const runningNames = names.slice(0, running);
  await pool(runningNames, createConcurrency, async (name) => {
    await client.request('POST', `/api/v1/namespaces/${namespace}/pods?fieldValidation=Ignore`, JSON.stringify(benchPod({ name, uid: uids.get(name)! })));
  });
  const podsSeconds = (Date.now() - t1) / 1000;
  const countRunning = async () => {
    let n = 0;
    let cont = '';
    do {
      const q = new URLSearchParams({ limit: '1000', fieldSelector: 'status.phase=Running', ...(cont ? { continue: cont } : {}) });
      const r = await client.request<{ items: unknown[]; metadata: { continue?: string } }>('GET', `/api/v1/namespaces/${namespace}/pods?${q}`);
      n += r.body.items.length;
      cont = r.body.metadata.continue ?? '';
    } while (cont);
    return n;
  };
  for (let i = 0; ; i++) {
    const n = await countRunning();
    if (n === running) break;
    if (i > 600) throw new Error(`only ${n} of ${running} daemon pods Running after 10 minutes`);
    if (i % 10 === 0) log(`${n}/${running} daemon pods Running`);
    await sleep(1000);
  }
  const podsRunningSeconds = (Date.now() - t1) / 1000;
  log(`created ${total} Workflows in ${workflowsSeconds.toFixed(1)} s (${(total / workflowsSeconds).toFixed(0)}/s, ${workflowBytes} B each), ${running} pods in ${podsSeconds.toFixed(1)} s, all Running after ${podsRunningSeconds.toFixed(1)} s`);

  // How long the API server takes to list them (the same pages the reaper asks for), for reference.
  const tList = Date.now();
  let listed = 0;
  let cont = '';
  do {
    const q = new URLSearchParams({ limit: '500', ...(cont ? { continue: cont } : {}) });
    const r = await client.request<{ items: unknown[]; metadata: { continue?: string } }>('GET', `/apis/argoproj.io/v1alpha1/workflows?${q}`);
    listed += r.body.items.length;
    cont = r.body.metadata.continue ?? '';
  } while (cont);
  const apiListSeconds = (Date.now() - tList) / 1000;
  log(`the API server lists the ${listed} Workflows in ${apiListSeconds.toFixed(1)} s (pages of 500, as the admin)`);

  // ---- Start the reaper ----
  const name = 'bench-reaper';
  const configFile = join(s.stateDir, `${name}.yaml`);
  // The default margin: long enough for the bench to write 500 statuses before the grace ends.
  const graceMargin = 30;
  const raisedSettings = { graceMargin: `${graceMargin}s`, resync: '10m', rateLimit: { perMinute: 100_000 }, circuitBreaker: { maxReaps: 100_000, window: '10m' } };
  writeFileSync(configFile, stringify(raisedSettings));
  const port = await freePort();
  // The reaper as the image runs it: compiled (npm run build), not the .ts sources through Node's type stripper.
  const { cliMain } = await compileProduct(join(repoRoot, '.cache', 'bench-build'));
  const spec = reaperSpec(s, { name, configFile, port, kubeconfig: s.kubeconfigs.reaper, leaseNamespace: namespace, cliMain });
  const env = o.cpuProfDir ? { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${o.cpuProfDir}` } : process.env;
  const logFile = logFileOf(s.stateDir, name);
  writeFileSync(logFile, '');
  const proc = start(s.stateDir, { ...spec, env });
  const lines = () => readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  try {
    const synced = await waitFor({ what: 'reaper caches synced', timeoutMs: 180_000, intervalMs: 100 }, async () => lines().find((l) => l.msg === 'caches synced'), proc);
    const listening = lines().find((l) => l.msg === 'reaper health endpoint listening')!;
    const syncSeconds = (Date.parse(String(synced.time)) - Date.parse(proc.startedAt)) / 1000;
    const listSeconds = (Date.parse(String(synced.time)) - Date.parse(String(listening.time))) / 1000;
    await waitFor({ what: 'reaper leading', timeoutMs: 60_000 }, async () => (await reaperHealth(port))?.leader === true || undefined, proc);
    const inCluster = await api<{ items: unknown[]; metadata: { remainingItemCount?: number } }>(s, '/apis/argoproj.io/v1alpha1/workflows?limit=1');
    const allWorkflows = inCluster.items.length + (inCluster.metadata.remainingItemCount ?? 0);
    if (Number(synced.pods) !== running || Number(synced.workflows) !== allWorkflows) throw new Error(`reaper synced ${synced.pods} pods and ${synced.workflows} Workflows, expected ${running} and ${allWorkflows}`);
    log(`reaper synced in ${syncSeconds.toFixed(2)} s (list ${listSeconds.toFixed(2)} s): ${synced.pods} pods, ${synced.workflows} Workflows`);
    // The first decisions and the garbage of the first lists settle before "idle" starts.
    const rssAtSync = round(rssMiB(proc.pid), 1);
    await sleep(30_000);
    const rssMB = round(rssMiB(proc.pid), 1);
    const heap = await reaperHeap(port);
    log(`RSS ${rssMB} MB; V8 heap ${heap.usedMB} MB used of ${heap.totalMB} MB (new space ${heap.newSpaceMB} MB), external ${heap.externalMB} MB`);

    // ---- Idle ----
    const cpu0 = cpuSeconds(proc.pid);
    const req0 = await dispatched(s);
    const audit0 = auditSize(s);
    const idleStart = Date.now();
    await sleep(idleSeconds * 1000);
    const idleElapsed = (Date.now() - idleStart) / 1000;
    const cpu1 = cpuSeconds(proc.pid);
    const req1 = await dispatched(s);
    const reads = auditSince(s, audit0).filter((e) => e.user === clientIdentities.reaper.commonName && ['get', 'list', 'watch'].includes(e.verb) && e.stage !== 'ResponseStarted');
    const idle = {
      seconds: round(idleElapsed, 1),
      cpuPercent: round(((cpu1 - cpu0) / idleElapsed) * 100, 2),
      apiRequestsPerMinute: round(((req1 - req0) / idleElapsed) * 60, 1),
      podAndWorkflowReadsPerMinute: round((reads.length / idleElapsed) * 60, 1),
      rssMB: round(rssMiB(proc.pid), 1),
    };
    log(`idle ${idle.seconds} s: CPU ${idle.cpuPercent} %, ${idle.apiRequestsPerMinute} API requests/min, ${idle.podAndWorkflowReadsPerMinute} pod/Workflow reads/min, RSS ${idle.rssMB} MB`);

    // ---- Decisions in steady state: change 500 live Workflows; count decisions and reads ----
    const changed = runningNames.slice(ending + defaultsEnding, ending + defaultsEnding + Math.min(500, running - ending - defaultsEnding));
    const touchSet = changed.length ? changed : runningNames.slice(0, Math.min(500, running));
    const d0 = await reaperCounter(port, 'argo_daemon_guard_reaper_decisions_total');
    const audit1 = auditSize(s);
    await pool(touchSet, 16, async (n) => {
      await client.request('PATCH', `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows/${n}`, { metadata: { annotations: { 'bench.argo-daemon-guard.io/touched': String(Date.now()) } } }, { contentType: 'application/merge-patch+json' });
    });
    await sleep(5000);
    const d1 = await reaperCounter(port, 'argo_daemon_guard_reaper_decisions_total');
    const decisionReads = auditSince(s, audit1).filter((e) => e.user === clientIdentities.reaper.commonName && ['get', 'list'].includes(e.verb) && ['pods', 'workflows'].includes(e.resource) && e.stage !== 'ResponseStarted').length;
    const decisions = { workflowsChanged: touchSet.length, decisions: d1 - d0, apiReads: decisionReads, readsPerDecision: round(decisionReads / Math.max(1, d1 - d0), 4) };
    log(`${touchSet.length} Workflows changed: ${decisions.decisions} decisions, ${decisionReads} API reads of pods/Workflows`);

    // ---- Reaping: scopes end at once ----
    const rv = (await api<{ metadata: { resourceVersion: string } }>(s, `/api/v1/namespaces/${namespace}/pods?limit=1`)).metadata.resourceVersion;
    const watch = watchPods(s, rv);
    const endScopes = async (batch: string[], arm: string, settings: Record<string, unknown>, waitFor: (deleted: number, would: number) => boolean, timeoutMs: number): Promise<ReapArm> => {
      const auditFrom = auditSize(s);
      const podNames = new Map(batch.map((n) => [n, podNameOf(n)]));
      // One finishedAt for all, on a whole second (Argo writes seconds): every pod is due at the same moment.
      const endedAt = Math.floor(Date.now() / 1000) * 1000;
      const tPatch = Date.now();
      await pool(batch, 32, async (n) => {
        await client.request('PATCH', `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows/${n}`, { status: workflowStatus(n, { running: false, startedAt, finishedAt: endedAt }) }, { contentType: 'application/merge-patch+json' });
      });
      const patchSeconds = (Date.now() - tPatch) / 1000;
      const graceEnd = endedAt + (1 + graceMargin) * 1000;
      log(`${arm}: ${batch.length} scopes ended (status written in ${patchSeconds.toFixed(1)} s); grace ends ${((graceEnd - Date.now()) / 1000).toFixed(1)} s from now`);
      if (Date.now() > graceEnd) log(`${arm}: WARNING: writing the statuses took longer than the grace; latencies start late`);
      const batchPodNames = new Set(podNames.values());
      const logStart = readFileSync(logFile).length;
      const records = () =>
        readFileSync(logFile)
          .subarray(logStart)
          .toString('utf8')
          .split('\n')
          .filter((l) => l.startsWith('{') && l.includes('"event":"reap"'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((a) => batchPodNames.has(String(a.pod)));
      const count = () => {
        const r = records();
        return { deleted: new Set(r.filter((a) => a.outcome === 'deleted').map((a) => a.podUid)).size, would: new Set(r.filter((a) => a.outcome === 'would-reap').map((a) => a.podUid)).size };
      };
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const c = count();
        if (waitFor(c.deleted, c.would) || Date.now() > deadline) break;
        await sleep(500);
      }
      await sleep(2000);
      const c = count();
      const toDelete: number[] = [];
      const toGone: number[] = [];
      let last = 0;
      for (const pn of batchPodNames) {
        const t = watch.times.get(pn);
        if (t?.deleteSeenAt !== undefined) {
          toDelete.push(t.deleteSeenAt - graceEnd);
          last = Math.max(last, t.deleteSeenAt - graceEnd);
        }
        if (t?.goneAt !== undefined) toGone.push(t.goneAt - graceEnd);
      }
      const deletes = new Map<string, number>();
      // The reaper's own deletes (kwok, as the kubelet, finishes each graceful delete with one of its own).
      for (const e of auditSince(s, auditFrom)) {
        if (e.user === clientIdentities.reaper.commonName && e.verb === 'delete' && e.resource === 'pods' && e.stage === 'ResponseComplete' && e.code === 200 && batchPodNames.has(e.name)) deletes.set(e.name, (deletes.get(e.name) ?? 0) + 1);
      }
      return {
        settings,
        ended: batch.length,
        deleted: c.deleted,
        wouldReap: c.would,
        toDelete: summarize(toDelete),
        toGone: summarize(toGone),
        lastDeleteSeconds: round(last / 1000, 2),
        maxDeletesPerPod: Math.max(0, ...deletes.values()),
        samples: Float64Array.from(toDelete),
      };
    };

    const raised = await endScopes(runningNames.slice(0, ending), 'raised limits', raisedSettings, (d) => d >= ending, 300_000);
    log(`raised limits: ${raised.deleted}/${raised.ended} deleted; end of grace → delete p50 ${raised.toDelete.p50Ms} ms p99 ${raised.toDelete.p99Ms} ms; last at ${raised.lastDeleteSeconds} s`);

    // The defaults (rate limit 60/min, breaker 100 in 10 min); the rest of the settings as before.
    const defaultsSettings = { graceMargin: `${graceMargin}s`, resync: '10m' };
    writeFileSync(configFile, stringify(defaultsSettings));
    await waitFor({ what: 'reaper config reloaded', timeoutMs: 30_000 }, async () => lines().filter((l) => l.msg === 'reaper config loaded').length >= 2 || undefined, proc);
    const batch2 = runningNames.slice(ending, ending + defaultsEnding);
    const defaults = await endScopes(batch2, 'defaults', { ...defaultsSettings, rateLimit: { perMinute: 60 }, circuitBreaker: { maxReaps: 100, window: '10m' } }, (d, w) => d + w >= batch2.length || d >= batch2.length, 15 * 60_000);
    log(`defaults: ${defaults.deleted}/${defaults.ended} deleted, ${defaults.wouldReap} would-reap (the circuit breaker opens at 100); last delete ${defaults.lastDeleteSeconds} s after the end of grace`);

    // ---- The floor: the same burst from a bare client, the reaper still running and watching ----
    const spare = runningNames.slice(ending + defaultsEnding);
    const half = Math.min(ending, Math.floor(spare.length / 2));
    const floorClient = keepAliveClient(s, 32, 'reaper');
    const floorArm = async (batch: string[], label: string, readWorkflow: boolean): Promise<FloorArm> => {
      const pinned = new Map<string, { uid: string; resourceVersion: string }>();
      for (const n of batch) {
        const podName = podNameOf(n);
        const p = await api<{ metadata: { uid: string; resourceVersion: string } }>(s, `/api/v1/namespaces/${namespace}/pods/${podName}`);
        pinned.set(podName, { uid: p.metadata.uid, resourceVersion: p.metadata.resourceVersion });
      }
      await sleep(2000);
      const at = Date.now();
      const pods = [...pinned.entries()];
      await pool(pods, 32, async ([podName, pin], i) => {
        if (readWorkflow) await floorClient.request('GET', `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows/${batch[i]}`);
        await floorClient.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${podName}`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 1, preconditions: pin });
      });
      await waitFor({ what: `${label}: every deletionTimestamp seen`, timeoutMs: 120_000, intervalMs: 200 }, async () => pods.every(([n]) => watch.times.get(n)?.deleteSeenAt !== undefined) || undefined);
      const times = pods.map(([n]) => watch.times.get(n)!.deleteSeenAt! - at);
      const arm = { pods: pods.length, toDelete: summarize(times), lastDeleteSeconds: round(Math.max(...times) / 1000, 2), samples: Float64Array.from(times) };
      log(`${label}: ${arm.pods} deletes, p50 ${arm.toDelete.p50Ms} ms p99 ${arm.toDelete.p99Ms} ms; last at ${arm.lastDeleteSeconds} s`);
      return arm;
    };
    let floor: ReaperResults['floor'];
    try {
      floor = {
        deletes: await floorArm(spare.slice(0, half), 'floor: deletes alone', false),
        readAndDelete: await floorArm(spare.slice(half, 2 * half), 'floor: Workflow read + delete', true),
      };
    } finally {
      await floorClient.close();
    }
    watch.stop();

    const peak = round(peakRssMiB(proc.pid), 1);

    // Cold start again with the heap capped (the chart limits the reaper to 512Mi): does it sync, and
    // how high does it go?
    await stop(s.stateDir, name);
    const maxOldSpaceMB = 256;
    const cappedLog = logFileOf(s.stateDir, `${name}-capped`);
    writeFileSync(cappedLog, '');
    const cappedProc = start(s.stateDir, { ...reaperSpec(s, { name: `${name}-capped`, configFile, port: await freePort(), kubeconfig: s.kubeconfigs.reaper, leaseNamespace: namespace, cliMain }), env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${maxOldSpaceMB}` } });
    let capped: ReaperResults['capped'];
    try {
      const cappedLines = () => readFileSync(cappedLog, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const cappedSynced = await waitFor({ what: 'capped reaper caches synced', timeoutMs: 180_000, intervalMs: 100 }, async () => cappedLines().find((l) => l.msg === 'caches synced'), cappedProc);
      await sleep(30_000);
      capped = { maxOldSpaceMB, syncSeconds: round((Date.parse(String(cappedSynced.time)) - Date.parse(cappedProc.startedAt)) / 1000, 2), rssMB: round(rssMiB(cappedProc.pid), 1), peakRssMB: round(peakRssMiB(cappedProc.pid), 1) };
      log(`with --max-old-space-size=${maxOldSpaceMB}: synced in ${capped.syncSeconds} s, RSS ${capped.rssMB} MB, peak ${capped.peakRssMB} MB`);
    } finally {
      await stop(s.stateDir, `${name}-capped`);
    }
    return {
      syncSeconds: round(syncSeconds, 2),
      listSeconds: round(listSeconds, 2),
      apiListSeconds: round(apiListSeconds, 2),
      rssMB,
      rssAtSyncMB: rssAtSync,
      peakRssMB: peak,
      capped,
      heap,
      reapP99Ms: raised.toDelete.p99Ms,
      reapP50Ms: raised.toDelete.p50Ms,
      floor: { deletes: withoutSamples(floor.deletes), readAndDelete: withoutSamples(floor.readAndDelete) },
      scale: { workflows: total, runningWorkflows: running, pods: running, nodesPerWorkflow: 20, workflowBytes },
      creation: { workflowsSeconds: round(workflowsSeconds, 1), workflowsPerSecond: round(total / workflowsSeconds, 1), podsSeconds: round(podsSeconds, 1), podsRunningSeconds: round(podsRunningSeconds, 1) },
      idle,
      decisions,
      raised: withoutSamples(raised),
      defaults: withoutSamples(defaults),
      samples: { raised: raised.samples ?? new Float64Array(), defaults: defaults.samples ?? new Float64Array(), floorDeletes: floor.deletes.samples ?? new Float64Array(), floorReadAndDelete: floor.readAndDelete.samples ?? new Float64Array() },
    };
  } finally {
    await stop(s.stateDir, name);
    await client.close();
    if (o.cpuProfDir) log(`reaper CPU profile in ${o.cpuProfDir}`);
  }
}

function withoutSamples<A extends { samples?: Float64Array }>(a: A): Omit<A, 'samples'> {
  const { samples: _samples, ...rest } = a;
  return rest;
}

export function reaperTables(r: ReaperResults): string {
  const arm = (label: string, a: ReapArm) => [label, JSON.stringify(a.settings.rateLimit ?? '-'), JSON.stringify(a.settings.circuitBreaker ?? '-'), `${a.deleted}/${a.ended}`, a.wouldReap, a.toDelete.p50Ms, a.toDelete.p99Ms, a.toGone.p99Ms, a.lastDeleteSeconds, a.maxDeletesPerPod];
  return (
    table(`Reaper at scale: ${r.scale.workflows} Workflows (${r.scale.nodesPerWorkflow} nodes, ${r.scale.workflowBytes} B each), ${r.scale.pods} daemon pods`, ['measure', 'value', 'target'], [
      ['cold sync (start → caches synced)', `${r.syncSeconds} s (lists ${r.listSeconds} s; the API server alone: ${r.apiListSeconds} s)`, '≤ 20 s'],
      ['RSS 30 s after sync / at sync / peak', `${r.rssMB} / ${r.rssAtSyncMB} / ${r.peakRssMB} MB`, '≤ 250 MB'],
      ['V8 heap used / total (new space) / external', `${r.heap.usedMB} / ${r.heap.totalMB} (${r.heap.newSpaceMB}) / ${r.heap.externalMB} MB`, ''],
      [`the same with --max-old-space-size=${r.capped.maxOldSpaceMB}: sync, RSS, peak`, `${r.capped.syncSeconds} s, ${r.capped.rssMB} MB, peak ${r.capped.peakRssMB} MB`, 'fits the chart\'s 512Mi'],
      ['CPU at idle', `${r.idle.cpuPercent} % of a core`, ''],
      ['API requests at idle (FlowSchema of the reaper)', `${r.idle.apiRequestsPerMinute} /min`, ''],
      ['pod/Workflow reads at idle (audit log)', `${r.idle.podAndWorkflowReadsPerMinute} /min`, ''],
      [`decisions for ${r.decisions.workflowsChanged} changed Workflows`, `${r.decisions.decisions} decisions, ${r.decisions.apiReads} API reads`, '0 reads per decision'],
      ['creating the Workflows', `${r.creation.workflowsSeconds} s (${r.creation.workflowsPerSecond}/s)`, ''],
      ['creating the pods / until all Running', `${r.creation.podsSeconds} s / ${r.creation.podsRunningSeconds} s`, ''],
    ]) +
    table('Reaping scopes that end at once: from the end of grace (pod grace 1 s + graceMargin) to the delete (ms)', ['arm', 'rateLimit', 'circuitBreaker', 'deleted', 'would-reap', 'p50', 'p99', 'gone p99', 'last delete (s)', 'deletes per pod (max)'], [arm('raised limits', r.raised), arm('defaults', r.defaults)]) +
    table('The floor: the same burst from a bare client as the reaper\'s user, 32 at once, preconditioned; from the instant it starts to the delete (ms)', ['arm', 'pods', 'p50', 'p99', 'last delete (s)'], [
      ['deletes alone', r.floor.deletes.pods, r.floor.deletes.toDelete.p50Ms, r.floor.deletes.toDelete.p99Ms, r.floor.deletes.lastDeleteSeconds],
      ['Workflow read + delete (the reaper\'s requests)', r.floor.readAndDelete.pods, r.floor.readAndDelete.toDelete.p50Ms, r.floor.readAndDelete.toDelete.p99Ms, r.floor.readAndDelete.lastDeleteSeconds],
    ])
  );
}
