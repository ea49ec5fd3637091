// The reaper in the test cluster: its RBAC (what the chart's reaper ClusterRole grants, bound to the
// reaper's client certificate, so the chart's grants are proven enough on every run), a config for a
// local cluster, and reaper processes from this checkout (components.ts has the command line).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { reaperSpec, type ReaperProcessOptions } from './components.ts';
import { fetchText } from './kubeconfig.ts';
import { clientIdentities } from './pki.ts';
import { isRunning, logFileOf, readRecord, start, stop, waitFor, type ProcessRecord } from './processes.ts';
import type { ClusterState, ReaperState } from './state.ts';
import { apply, guardNamespace, objectApi } from './webhooks.ts';

export const stackReaperName = 'reaper';

/**
 * The stack's reaper config: Argo's own grace (the pod's terminationGracePeriodSeconds) plus a short
 * margin — on a local cluster nothing is slow enough to need the default 30 s — and a quick resync.
 */
export const localReaperConfig = {
  graceMargin: '2s',
  resync: '30s',
} as const;

/** The chart's reaper grants (charts/…/templates/rbac.yaml), cluster-wide, plus its Lease. */
export function reaperRbac(): KubernetesObject[] {
  const name = 'argo-daemon-guard-reaper';
  const subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: clientIdentities.reaper.commonName }];
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete'] },
        { apiGroups: ['argoproj.io'], resources: ['workflows'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        // The chart limits get/update to its one Lease by name in its namespace; test reapers put
        // theirs in namespaces of their own, so here it is any Lease.
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'get', 'update'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects,
    } as KubernetesObject,
  ];
}

export async function installReaperRbac(s: ClusterState, leaseNamespaces: string[] = []): Promise<void> {
  const api = objectApi(s.kubeconfig);
  for (const ns of new Set([guardNamespace, ...leaseNamespaces])) await apply(api, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const obj of reaperRbac()) await apply(api, obj);
}

export interface ReaperHealth {
  ready: boolean;
  leader: boolean;
  pods: number;
  workflows: number;
}

export async function reaperHealth(port: number): Promise<ReaperHealth | undefined> {
  const r = await fetchText(`http://127.0.0.1:${port}/readyz`, { timeoutMs: 2_000 }).catch(() => undefined);
  if (!r || (r.status !== 200 && r.status !== 503)) return undefined;
  try {
    return JSON.parse(r.body) as ReaperHealth;
  } catch {
    return undefined;
  }
}

/** The port a reaper started with `--port 0` reports in its log. */
function portFromLog(logFile: string, offset: number): number | undefined {
  let text = '';
  try {
    text = readFileSync(logFile).subarray(offset).toString('utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; port?: number };
      if (j.msg === 'reaper health endpoint listening' && typeof j.port === 'number') return j.port;
    } catch {
      /* not JSON */
    }
  }
  return undefined;
}

export interface StartedReaper {
  name: string;
  port: number;
  proc: ProcessRecord;
  logFile: string;
  /** Where this run's lines start in the log file (earlier runs of the same name came before). */
  logOffset: number;
}

/**
 * Starts a reaper with the reaper's own identity (the chart's grants) and waits until its caches are
 * synced and it holds its Lease, so that what happens next is its business.
 */
export async function startReaper(s: ClusterState, o: ReaperProcessOptions & { configFile: string; name: string }): Promise<StartedReaper> {
  const logFile = logFileOf(s.stateDir, o.name);
  const logOffset = existsSync(logFile) ? readFileSync(logFile).length : 0;
  const proc = start(s.stateDir, reaperSpec(s, { kubeconfig: s.kubeconfigs.reaper, ...o }));
  const port = o.port || (await waitFor({ what: `${o.name} listening (log ${logFile})`, timeoutMs: 30_000 }, async () => portFromLog(logFile, logOffset), proc));
  await waitFor({ what: `${o.name} ready and leading (http://127.0.0.1:${port}/readyz)`, timeoutMs: 60_000 }, async () => {
    const h = await reaperHealth(port);
    return h?.ready === true && h.leader === true;
  }, proc);
  return { name: o.name, port, proc, logFile, logOffset };
}

export function writeReaperConfig(file: string, config: Record<string, unknown>): void {
  writeFileSync(file, `# reaper config (core/leftover/config.ts), written by the test cluster harness\n${stringify(config)}`);
}

/** The stack's reaper: `up` starts it with localReaperConfig (dry-run if asked) unless told not to. */
export async function startStackReaper(s: ClusterState, o: { dryRun?: boolean } = {}): Promise<StartedReaper> {
  const r = s.reaper;
  if (!r) throw new Error(`the cluster in ${s.stateDir} was started without a reaper layout; run "npm run cluster -- down" and up again`);
  if (!existsSync(r.configFile)) writeReaperConfig(r.configFile, { ...localReaperConfig });
  await installReaperRbac(s, [r.leaseNamespace]);
  return startReaper(s, { name: stackReaperName, configFile: r.configFile, port: r.port, leaseNamespace: r.leaseNamespace, kubeconfig: r.kubeconfig, dryRun: o.dryRun ?? false });
}

export function stackReaperRunning(s: ClusterState): boolean {
  const rec = readRecord(s.stateDir, stackReaperName);
  return rec !== undefined && isRunning(rec);
}

export async function stopStackReaper(s: ClusterState): Promise<void> {
  await stop(s.stateDir, stackReaperName);
}

export type { ReaperState };
