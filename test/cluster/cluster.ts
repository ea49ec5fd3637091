// The local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (one fake
// Node), Argo's CRDs, the project's webhook running from this checkout and registered with the API
// server, and — the whole stack, what `npm run cluster -- up` starts — Argo's own workflow-controller
// and the project's reaper. `up` starts what is missing and returns when everything is ready; `down`
// stops every process it started. State (pid files, logs, kubeconfigs, PKI, etcd data) lives under the state directory,
// ~/.cache/argo-daemon-guard/cluster/ by default; a test run uses its own.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildAll, clusterBinaries, versions, type BinaryName } from './binaries.ts';
import { argoControllerName, argoControllerRunning, startArgoController } from './argo.ts';
import { reaperHealth, stackReaperName, stackReaperRunning, startStackReaper } from './reaper.ts';
import { clusterStateDir } from './paths.ts';
import { ensurePki, type ClientName } from './pki.ts';
import { freePorts } from './ports.ts';
import { fetchText, writeKubeconfig, type TlsFiles } from './kubeconfig.ts';
import { isRunning, killAllNow, logFileOf, readRecord, records, runDir, start, stop, waitFor, type ProcessRecord } from './processes.ts';
import { installArgoCrds, type ArgoCrdVariant } from './crds.ts';
import { apply, objectApi, registerWebhooks } from './webhooks.ts';
import { withLock } from './lock.ts';
import { processStartTime } from './procfs.ts';
import {
  auditPolicyYaml,
  controllerManagerSpec,
  apiserverSpec,
  etcdSpec,
  kwokSpec,
  schedulerSpec,
  webhookSpec,
  type WebhookProcessOptions,
} from './components.ts';
import { adminTls, apiRequest, freshLayout, podCidr, readState, repoRoot, serviceIp, stateFile, type ClusterState, type NodeKinds } from './state.ts';
import { realNet, realNodeComponents, realNodeName, startRealNode, stopRealNode } from './node/real-node.ts';
import { nodeKindTaint } from './node/kubelet.ts';
import { serveImages } from './images/index.ts';

export { adminTls, apiRequest, readState, repoRoot, stagesFile, type ClusterState, type NodeKinds, type WebhookState } from './state.ts';
export { realNodeName } from './node/real-node.ts';
export { controllers, webhookSpec, type WebhookProcessOptions } from './components.ts';

export interface UpOptions {
  stateDir?: string;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
  /** Tie the cluster's life to this process: a watchdog stops everything once it is gone. */
  ownerPid?: number;
  /** Start and register the webhook (default true). */
  webhook?: boolean;
  /** The webhook's policy file (default: the default policy, written to <stateDir>/policy.yaml). */
  policyFile?: string;
  /**
   * Run Argo's workflow-controller (v3.7.18, watching every namespace). Default false here, so test
   * runs that write Workflows by hand start only what they use; the CLI's `up` turns it on.
   */
  argo?: boolean;
  /**
   * Run the reaper (the chart's RBAC, graceMargin 2s; `{dryRun: true}` to only report). Default false
   * here; the CLI's `up` turns it on.
   */
  reaper?: boolean | { dryRun?: boolean };
  /** Argo's CRDs with their schemas (default) or the schema-less ones Argo's install.yaml ships. */
  crds?: ArgoCrdVariant;
  /**
   * 'kwok' (default): one fake node. 'real': a real node (kubelet, containerd) where pods go by
   * default, the kwok node beside it tainted. 'kwok+real': kwok stays the default, the real node is
   * tainted and tests pin their pods to it.
   */
  nodes?: NodeKinds;
}

/** What `npm run cluster -- up` starts: everything. */
export const wholeStack = { webhook: true, argo: true, reaper: true } as const satisfies UpOptions;

const componentOrder = [stackReaperName, argoControllerName, 'webhook', ...realNodeComponents, 'kwok', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'];

function defaultLog(line: string): void {
  process.stderr.write(`[cluster] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Readiness

async function ok(url: string, tls: TlsFiles): Promise<boolean> {
  const r = await fetchText(url, { tls, timeoutMs: 2_000 });
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return true;
}

async function waitEtcd(s: ClusterState, proc?: ProcessRecord) {
  await waitFor({ what: 'etcd /health', timeoutMs: 30_000 }, async () => {
    const r = await fetchText(`http://127.0.0.1:${s.ports.etcdClient}/health`, { timeoutMs: 2_000 });
    return r.status === 200 && r.body.includes('"health":"true"');
  }, proc);
}

async function waitApiserver(s: ClusterState, proc?: ProcessRecord) {
  await waitFor({ what: 'kube-apiserver /readyz', timeoutMs: 90_000 }, () => ok(`${s.server}/readyz`, adminTls(s)), proc);
}

export async function webhookReady(s: ClusterState, port = s.webhook.port): Promise<boolean> {
  return ok(`https://127.0.0.1:${port}/readyz`, { ca: s.webhook.caFile }).catch(() => false);
}

async function waitDefaultServiceAccount(s: ClusterState, proc?: ProcessRecord) {
  await waitFor(
    { what: 'the default ServiceAccount in namespace default', timeoutMs: 60_000 },
    async () => (await apiRequest(s, '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
    proc,
  );
}

async function nodeReady(s: ClusterState, name = s.nodeName): Promise<boolean> {
  const r = await apiRequest(s, `/api/v1/nodes/${name}`);
  if (r.status !== 200) return false;
  const node = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function crdEstablished(s: ClusterState, name: string): Promise<boolean> {
  const r = await apiRequest(s, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
  if (r.status !== 200) return false;
  const crd = JSON.parse(r.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}

export async function waitWebhook(s: ClusterState, proc?: ProcessRecord, port = s.webhook.port, timeoutMs = 30_000) {
  await waitFor({ what: `webhook https://127.0.0.1:${port}/readyz`, timeoutMs }, () => ok(`https://127.0.0.1:${port}/readyz`, { ca: s.webhook.caFile }), proc);
}

// ---------------------------------------------------------------------------------------------------
// Objects the cluster needs

async function createFakeNode(s: ClusterState) {
  const api = objectApi(s.kubeconfig);
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: s.nodeName,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: { 'kubernetes.io/hostname': s.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
    spec: { podCIDR: podCidr, podCIDRs: [podCidr], ...(s.nodes === 'real' ? { taints: [nodeKindTaint('kwok')] } : {}) },
    status: {
      capacity: { cpu: '1000', memory: '4Ti', pods: '10000', 'ephemeral-storage': '100Ti' },
      allocatable: { cpu: '1000', memory: '4Ti', pods: '10000', 'ephemeral-storage': '100Ti' },
    },
  };
  await apply(api, node);
  // The TaintNodesByCondition admission plugin taints every new Node not-ready:NoSchedule; the
  // node-lifecycle controller, which would lift it, is not run here (kwok's heartbeats are too sparse
  // for its grace period), so the harness lifts it once, keeping only the taint of its kind.
  const r = await apiRequest(s, `/api/v1/nodes/${s.nodeName}`, {
    method: 'PATCH',
    body: { spec: { taints: s.nodes === 'real' ? [nodeKindTaint('kwok')] : null } },
    headers: { 'Content-Type': 'application/merge-patch+json' },
  });
  if (r.status !== 200) throw new Error(`removing the not-ready taint of node ${s.nodeName}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------------
// up / down / status

export const defaultPolicyText = '# The default policy (contracts §3): every rule warns, maxLifetime 24h.\n# The webhook reloads this file when it changes.\n{}\n';

/** Everything of the control plane runs (the webhook may be stopped by a test on purpose). */
export function controlPlaneRunning(stateDir: string, nodes: NodeKinds = 'kwok'): boolean {
  const node = nodes === 'kwok' ? [] : realNodeComponents;
  return ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', ...node].every((n) => {
    const r = readRecord(stateDir, n);
    return r !== undefined && isRunning(r);
  });
}

/**
 * Starts the cluster, or returns the running one. Safe to call from two processes at once (a lock
 * in the state directory serialises them).
 */
export async function up(o: UpOptions = {}): Promise<ClusterState> {
  const stateDir = o.stateDir ?? clusterStateDir();
  const log = o.log ?? defaultLog;
  mkdirSync(stateDir, { recursive: true });
  return withLock(join(stateDir, '.lock'), { what: 'cluster up', onWait: (h) => log(`waiting for pid ${h.pid} (${h.what})`) }, async () => {
    const existing = readState(stateDir);
    const sameNodes = o.nodes === undefined || o.nodes === (existing?.nodes ?? 'kwok');
    if (existing && sameNodes && controlPlaneRunning(stateDir, existing.nodes)) {
      const ready = await fetchText(`${existing.server}/readyz`, { tls: adminTls(existing), timeoutMs: 3_000 }).then((r) => r.status === 200, () => false);
      if (ready) {
        if (o.webhook !== false) await ensureWebhook(existing, log);
        await ensureStack(existing, o, log);
        return existing;
      }
    }
    // Anything left of an earlier cluster goes first: a half-started cluster is not worth repairing.
    await downLocked(stateDir, log);
    return startCluster(stateDir, o, log);
  });
}

/** The webhook of a running cluster: started if it is not (or replicas behind the balancer), registered. */
async function ensureWebhook(s: ClusterState, log: (l: string) => void): Promise<void> {
  const r = readRecord(s.stateDir, 'webhook');
  const b = readRecord(s.stateDir, 'webhook-balancer');
  if (!(r && isRunning(r)) && !(b && isRunning(b))) {
    log('webhook is not running: starting it');
    const proc = start(s.stateDir, webhookSpec(s));
    await waitWebhook(s, proc);
  }
  // Idempotent; registers what an earlier `up --no-webhook` left out.
  await registerWebhooks(s.kubeconfig, { url: s.webhook.url, caFile: s.webhook.caFile });
}

/**
 * A cluster started by an older harness lacks the reaper's layout and the client certificates of the
 * reaper and Argo's controller: add them (the CA is kept, so nothing else changes).
 */
async function completeLayout(s: ClusterState): Promise<void> {
  const fresh = freshLayout(s.stateDir, [s.ports.etcdClient, s.ports.etcdPeer, s.ports.apiserver, s.ports.controllerManager, s.ports.scheduler, s.ports.webhook, 0]);
  const missing = (Object.keys(fresh.kubeconfigs) as ClientName[]).filter((n) => !s.kubeconfigs[n] || !existsSync(s.kubeconfigs[n]));
  if (s.reaper && missing.length === 0) return;
  await ensurePki(s.pki.dir, serviceIp, [realNet.hostIp]);
  for (const name of missing) {
    s.kubeconfigs[name] = fresh.kubeconfigs[name];
    s.pki.clients[name] = fresh.pki.clients[name];
    writeKubeconfig(s.kubeconfigs[name], { server: s.server, caFile: s.pki.ca.cert, client: s.pki.clients[name], user: name });
  }
  if (!s.reaper) s.reaper = { ...fresh.reaper!, port: (await freePorts(1))[0]! };
  writeFileSync(stateFile(s.stateDir), JSON.stringify(s, null, 2));
}

/** Argo's controller and the reaper of a running cluster, started if asked for and not running. */
async function ensureStack(s: ClusterState, o: UpOptions, log: (l: string) => void): Promise<void> {
  if (o.argo || o.reaper) await completeLayout(s);
  if (o.argo && !argoControllerRunning(s)) {
    await buildAll(binariesFor(o));
    log('workflow-controller is not running: starting it');
    await startArgoController(s);
  }
  if (o.reaper && !stackReaperRunning(s)) {
    log('reaper is not running: starting it');
    await startStackReaper(s, typeof o.reaper === 'object' ? o.reaper : {});
  }
}

export function binariesFor(o: UpOptions): BinaryName[] {
  const real: BinaryName[] = (o.nodes ?? 'kwok') === 'kwok' ? [] : ['kubelet', 'kube-proxy'];
  return [...clusterBinaries, ...real, ...(o.argo ? (['workflow-controller'] as const) : [])];
}

async function startCluster(stateDir: string, o: UpOptions, log: (l: string) => void): Promise<ClusterState> {
  const t0 = Date.now();
  const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  await buildAll(binariesFor(o));

  // Interrupted while starting: stop what was started, then let the signal end the process.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping what was started`);
    killAllNow(stateDir);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Fresh data and logs each time; the PKI (and so the kubeconfig's credentials) is kept.
    rmSync(join(stateDir, 'etcd'), { recursive: true, force: true });
    if (existsSync(join(stateDir, 'logs'))) {
      rmSync(join(stateDir, 'logs.previous'), { recursive: true, force: true });
      renameSync(join(stateDir, 'logs'), join(stateDir, 'logs.previous'));
    }
    mkdirSync(join(stateDir, 'logs'), { recursive: true });
    mkdirSync(join(stateDir, 'kubeconfig'), { recursive: true });

    const s = freshLayout(stateDir, await freePorts(7));
    s.nodes = o.nodes ?? 'kwok';
    await ensurePki(s.pki.dir, serviceIp, [realNet.hostIp]);
    writeKubeconfig(s.kubeconfig, { server: s.server, caFile: s.pki.ca.cert, client: s.pki.clients.admin, user: 'admin' });
    for (const [name, file] of Object.entries(s.kubeconfigs) as [ClientName, string][]) {
      writeKubeconfig(file, { server: s.server, caFile: s.pki.ca.cert, client: s.pki.clients[name], user: name });
    }
    const auditPolicy = join(stateDir, 'audit-policy.yaml');
    writeFileSync(auditPolicy, auditPolicyYaml);
    if (o.policyFile) s.webhook.policyFile = resolve(o.policyFile);
    else writeFileSync(s.webhook.policyFile, defaultPolicyText);
    writeFileSync(stateFile(stateDir), JSON.stringify(s, null, 2));

    if (o.ownerPid !== undefined) {
      start(stateDir, {
        name: 'watchdog',
        command: process.execPath,
        args: [join(repoRoot, 'test', 'cluster', 'watchdog.ts'), stateDir, String(o.ownerPid), processStartTime(o.ownerPid) ?? ''],
      });
    }

    log(`starting etcd (127.0.0.1:${s.ports.etcdClient})`);
    const etcd = start(stateDir, etcdSpec(s));
    await waitEtcd(s, etcd);
    log(`etcd ready (${elapsed()}); starting kube-apiserver (${s.server})`);
    const apiserver = start(stateDir, apiserverSpec(s, auditPolicy));
    await waitApiserver(s, apiserver);
    log(`kube-apiserver ready (${elapsed()}); starting controller-manager, scheduler, kwok${o.webhook === false ? '' : ', webhook'}${s.nodes === 'kwok' ? '' : ', the real node'}`);

    const cm = start(stateDir, controllerManagerSpec(s));
    const sched = start(stateDir, schedulerSpec(s));
    const kwok = start(stateDir, kwokSpec(s));
    const webhook = o.webhook === false ? undefined : start(stateDir, webhookSpec(s));

    await Promise.all([
      (async () => {
        const crds = await installArgoCrds(s.kubeconfig, o.crds);
        await waitFor({ what: 'Argo CRDs Established', timeoutMs: 60_000 }, async () => {
          for (const name of crds) if (!(await crdEstablished(s, name))) return false;
          return true;
        });
        log(`Argo CRDs (${versions.argo}, ${o.crds ?? 'full'}) established (${elapsed()})`);
      })(),
      (async () => {
        await createFakeNode(s);
        await waitFor({ what: `node ${s.nodeName} Ready (kwok)`, timeoutMs: 60_000 }, () => nodeReady(s), kwok);
        log(`node ${s.nodeName} Ready (${elapsed()})`);
      })(),
      (async () => {
        await waitFor({ what: 'kube-controller-manager /healthz', timeoutMs: 60_000 }, () => ok(`https://127.0.0.1:${s.ports.controllerManager}/healthz`, { ca: s.pki.ca.cert }), cm);
        await waitDefaultServiceAccount(s, cm);
        log(`controller-manager ready, default ServiceAccount exists (${elapsed()})`);
      })(),
      (async () => {
        await waitFor({ what: 'kube-scheduler /readyz', timeoutMs: 60_000 }, () => ok(`https://127.0.0.1:${s.ports.scheduler}/readyz`, { ca: s.pki.ca.cert }), sched);
      })(),
      (async () => {
        if (s.nodes === 'kwok') return;
        // The images the seeds, Argo's examples and the tests name, built here and served on loopback.
        s.registryPort = (await serveImages(stateDir, { argo: [versions.argo], guard: false, log })).endpoint.port;
        writeFileSync(stateFile(stateDir), JSON.stringify(s, null, 2));
        await startRealNode(s, { registryPort: s.registryPort, taints: s.nodes === 'kwok+real' ? [nodeKindTaint('real')] : [], log });
      })(),
      (async () => {
        if (!webhook) return;
        await registerWebhooks(s.kubeconfig, { url: s.webhook.url, caFile: s.webhook.caFile });
        await waitWebhook(s, webhook, s.webhook.port, 60_000);
        log(`webhook ready and registered at ${s.webhook.url} (${elapsed()})`);
      })(),
    ]);
    // Argo's controller and the reaper list Workflows: the CRDs must be established first. Both start
    // at once; the webhook is registered, so the first pod Argo creates is labeled.
    await Promise.all([
      (async () => {
        if (!o.argo) return;
        await startArgoController(s);
        log(`workflow-controller ${versions.argo} started, watching all namespaces (${elapsed()})`);
      })(),
      (async () => {
        if (!o.reaper) return;
        const r = await startStackReaper(s, typeof o.reaper === 'object' ? o.reaper : {});
        log(`reaper ready and leading on :${r.port}, config ${s.reaper!.configFile} (${elapsed()})`);
      })(),
    ]);
    log(`cluster ready in ${elapsed()}`);
    return s;
  } catch (err) {
    // A failed start leaves nothing running: no stray process, no port held.
    log(`start failed: stopping what was started`);
    await downLocked(stateDir, log).catch(() => killAllNow(stateDir));
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Stops every process of the cluster in `stateDir` (none left, no port held) and drops its data. */
export async function down(o: { stateDir?: string; log?: (l: string) => void } = {}): Promise<string[]> {
  const stateDir = o.stateDir ?? clusterStateDir();
  const log = o.log ?? defaultLog;
  if (!existsSync(stateDir)) return [];
  return withLock(join(stateDir, '.lock'), { what: 'cluster down', onWait: (h) => log(`waiting for pid ${h.pid} (${h.what})`) }, () => downLocked(stateDir, log));
}

async function downLocked(stateDir: string, log: (l: string) => void): Promise<string[]> {
  const stopped: string[] = [];
  // The watchdog first (it would otherwise start stopping things too), then the clients of the API
  // server, then the API server, then etcd.
  if (readRecord(stateDir, 'watchdog')?.pid !== process.pid && (await stop(stateDir, 'watchdog'))) {
    stopped.push('watchdog');
    log('stopped watchdog');
  }
  // The real node before anything else it talks to: its containers and mounts go while containerd runs.
  for (const name of await stopRealNode(stateDir, log)) {
    stopped.push(name);
    log(`stopped ${name}`);
  }
  const names = records(stateDir).map((r) => r.name);
  const order = ['watchdog', ...names.filter((n) => !componentOrder.includes(n) && n !== 'watchdog'), ...componentOrder];
  for (const name of order) {
    if (!names.includes(name)) continue;
    if (readRecord(stateDir, name)?.pid === process.pid) {
      // The watchdog stopping the cluster: everything but itself.
      rmSync(join(runDir(stateDir), `${name}.json`), { force: true });
      continue;
    }
    if (await stop(stateDir, name)) {
      stopped.push(name);
      log(`stopped ${name}`);
    }
  }
  rmSync(join(stateDir, 'etcd'), { recursive: true, force: true });
  rmSync(stateFile(stateDir), { force: true });
  return stopped;
}

export interface ComponentStatus {
  name: string;
  running: boolean;
  pid: number | undefined;
  log: string;
  startedAt: string | undefined;
}

export interface ClusterStatus {
  up: boolean;
  stateDir: string;
  kubeconfig: string | undefined;
  server: string | undefined;
  apiserverReady: boolean;
  nodeReady: boolean;
  /** The real node is Ready (undefined: the cluster has none). */
  realNodeReady: boolean | undefined;
  nodes: NodeKinds;
  webhookReady: boolean;
  /** The stack's reaper answers /readyz with caches synced (undefined: not part of this cluster). */
  reaperReady: boolean | undefined;
  reaperLeader: boolean | undefined;
  argoControllerRunning: boolean;
  components: ComponentStatus[];
}

export async function status(o: { stateDir?: string } = {}): Promise<ClusterStatus> {
  const stateDir = o.stateDir ?? clusterStateDir();
  const s = readState(stateDir);
  const components: ComponentStatus[] = records(stateDir).map((r) => ({ name: r.name, running: isRunning(r), pid: r.pid, log: r.logFile, startedAt: r.startedAt }));
  const expected = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', ...((s?.nodes ?? 'kwok') === 'kwok' ? [] : realNodeComponents), 'webhook', argoControllerName, stackReaperName];
  for (const name of expected) {
    if (!components.some((c) => c.name === name)) components.push({ name, running: false, pid: undefined, log: logFileOf(stateDir, name), startedAt: undefined });
  }
  const reaperRecord = components.find((c) => c.name === stackReaperName);
  const health = s?.reaper && reaperRecord?.running ? await reaperHealth(s.reaper.port) : undefined;
  const apiserverReady = s ? await fetchText(`${s.server}/readyz`, { tls: adminTls(s), timeoutMs: 2_000 }).then((r) => r.status === 200, () => false) : false;
  return {
    up: s !== undefined && apiserverReady && controlPlaneRunning(stateDir, s.nodes),
    stateDir,
    kubeconfig: s?.kubeconfig,
    server: s?.server,
    apiserverReady,
    nodeReady: s && apiserverReady ? await nodeReady(s).catch(() => false) : false,
    realNodeReady: s && (s.nodes ?? 'kwok') !== 'kwok' ? apiserverReady && (await nodeReady(s, realNodeName).catch(() => false)) : undefined,
    nodes: s?.nodes ?? 'kwok',
    webhookReady: s ? await webhookReady(s) : false,
    reaperReady: reaperRecord?.running ? health?.ready === true : undefined,
    reaperLeader: reaperRecord?.running ? health?.leader === true : undefined,
    argoControllerRunning: components.some((c) => c.name === argoControllerName && c.running),
    components,
  };
}

// ---------------------------------------------------------------------------------------------------
// The webhook process, for tests that stop, restart or reconfigure it

export async function startWebhook(s: ClusterState, o: WebhookProcessOptions = {}): Promise<ProcessRecord> {
  const proc = start(s.stateDir, webhookSpec(s, o));
  await waitWebhook(s, proc, o.port ?? s.webhook.port);
  return proc;
}

export async function stopWebhook(s: ClusterState, name = 'webhook'): Promise<void> {
  await stop(s.stateDir, name);
}

// ---------------------------------------------------------------------------------------------------
// Two (or more) webhook replicas behind a loopback TCP balancer on the registered port

export interface Replicas {
  /** Component names (pid files, logs): webhook-1, webhook-2, ... */
  names: string[];
  ports: number[];
}

/** Replaces the single webhook with `n` replicas behind the balancer; the registration does not change. */
export async function startWebhookReplicas(s: ClusterState, n = 2, o: { policyFile?: string } = {}): Promise<Replicas> {
  await stopWebhookReplicas(s);
  await stop(s.stateDir, 'webhook');
  const ports = await freePorts(n);
  const names = ports.map((_, i) => `webhook-${i + 1}`);
  await Promise.all(names.map((name, i) => startWebhook(s, { name, port: ports[i]!, ...(o.policyFile ? { policyFile: o.policyFile } : {}) })));
  const balancer = start(s.stateDir, {
    name: 'webhook-balancer',
    command: process.execPath,
    args: [join(repoRoot, 'test', 'cluster', 'balancer.ts'), String(s.webhook.port), ...ports.map(String)],
  });
  await waitWebhook(s, balancer);
  return { names, ports };
}

/** Stops the balancer and every replica (not the single webhook). */
export async function stopWebhookReplicas(s: ClusterState): Promise<void> {
  await stop(s.stateDir, 'webhook-balancer');
  for (const r of records(s.stateDir)) if (/^webhook-\d+$/.test(r.name)) await stop(s.stateDir, r.name);
}

/** Back to one webhook process on the registered port. */
export async function singleWebhook(s: ClusterState): Promise<void> {
  await stopWebhookReplicas(s);
  const r = readRecord(s.stateDir, 'webhook');
  if (!r || !isRunning(r)) await startWebhook(s);
}
