// What the end-to-end tests share: Argo's real controller and reapers on the test cluster, namespaces
// by role (base: webhook only, no reaper; live: the reaper acts; dry: the reaper in --dry-run), the
// reaper's audit records, the API server's audit log, Events and `kubectl describe`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterState } from '../cluster/cluster.ts';
import { argoControllerRunning, startArgoController, stopArgoController } from '../cluster/argo.ts';
import { kubectl } from '../cluster/crds.ts';
import { installReaperRbac, stackReaperRunning, startReaper, startStackReaper, stopStackReaper, writeReaperConfig, type StartedReaper } from '../cluster/reaper.ts';
import { stop } from '../cluster/processes.ts';
import { clientIdentities } from '../cluster/pki.ts';

export type Json = Record<string, unknown>;

/** The reapers' margin on top of each pod's grace: short, as on any local cluster. */
export const graceMarginSeconds = 2;

export const roles = ['base', 'live', 'dry'] as const;
export type Role = (typeof roles)[number];
export const rolePrefix = (role: Role) => `e2e-${role}-`;

export const reaperUser = clientIdentities.reaper.commonName;
export const argoUser = clientIdentities['workflow-controller'].commonName;
export const kwokUser = clientIdentities.kwok.commonName;

export interface E2eStack {
  live: StartedReaper;
  dry: StartedReaper;
  /** Stops what this started, and restarts what it stopped (a reused cluster's own reaper). */
  restore(): Promise<void>;
}

/**
 * Argo's controller (started unless it runs), and two reapers of this checkout with the chart's RBAC:
 * one acting in e2e-live-* namespaces, one with --dry-run in e2e-dry-*. e2e-base-* namespaces have
 * none: what Argo does with the webhook alone. A reused cluster's own reaper (all namespaces) is
 * stopped meanwhile, or it would act in the base and dry namespaces.
 */
export async function startE2eStack(s: ClusterState): Promise<E2eStack> {
  const startedArgo = !argoControllerRunning(s);
  if (startedArgo) await startArgoController(s);
  const hadStackReaper = stackReaperRunning(s);
  if (hadStackReaper) await stopStackReaper(s);
  await installReaperRbac(s, ['e2e-reaper-live', 'e2e-reaper-dry']);
  const liveConfig = join(s.stateDir, 'e2e-reaper-live.yaml');
  const dryConfig = join(s.stateDir, 'e2e-reaper-dry.yaml');
  writeReaperConfig(liveConfig, { graceMargin: `${graceMarginSeconds}s`, resync: '20s', namespaces: [`${rolePrefix('live')}*`] });
  writeReaperConfig(dryConfig, { graceMargin: `${graceMarginSeconds}s`, resync: '20s', namespaces: [`${rolePrefix('dry')}*`] });
  const [live, dry] = await Promise.all([
    startReaper(s, { name: 'e2e-reaper-live', configFile: liveConfig, leaseNamespace: 'e2e-reaper-live' }),
    startReaper(s, { name: 'e2e-reaper-dry', configFile: dryConfig, leaseNamespace: 'e2e-reaper-dry', dryRun: true }),
  ]);
  return {
    live,
    dry,
    async restore() {
      await stop(s.stateDir, live.name);
      await stop(s.stateDir, dry.name);
      if (startedArgo) await stopArgoController(s);
      if (hadStackReaper) await startStackReaper(s);
    },
  };
}

// ---- Logs ---------------------------------------------------------------------------------------------

function jsonLines(file: string, offset = 0): Json[] {
  if (!existsSync(file)) return [];
  return readFileSync(file)
    .subarray(offset)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Json];
      } catch {
        return [];
      }
    });
}

/** The reaper's audit records (event "reap") of this run of it. */
export function reapRecords(r: StartedReaper): Json[] {
  return jsonLines(r.logFile, r.logOffset).filter((x) => x.event === 'reap');
}

export interface AuditEntry {
  verb: string;
  user: string;
  namespace: string;
  name: string;
  resource: string;
  subresource: string | undefined;
  code: number | undefined;
  at: number;
  requestURI: string;
}

/** The API server's audit log (ResponseComplete entries) for pods in the namespaces `keep` accepts. */
export function auditEntries(s: ClusterState, keep: (namespace: string) => boolean): AuditEntry[] {
  return jsonLines(join(s.stateDir, 'logs', 'audit.log'))
    .filter((e) => e.stage === 'ResponseComplete')
    .flatMap((e) => {
      const o = (e.objectRef ?? {}) as { resource?: string; subresource?: string; namespace?: string; name?: string };
      if (o.resource !== 'pods' || !o.namespace || !keep(o.namespace)) return [];
      return [
        {
          verb: String(e.verb),
          user: String((e.user as { username?: string } | undefined)?.username ?? ''),
          namespace: o.namespace,
          name: o.name ?? '',
          resource: o.resource,
          subresource: o.subresource,
          code: (e.responseStatus as { code?: number } | undefined)?.code,
          at: Date.parse(String(e.requestReceivedTimestamp)),
          requestURI: String(e.requestURI ?? ''),
        },
      ];
    });
}

/** Argo's stop of a daemon: `argoexec kill 15 1` exec'd into a container through the API server. */
export function isArgoKill(e: AuditEntry): boolean {
  return e.subresource === 'exec' && e.user === argoUser && /command=kill&command=15/.test(e.requestURI);
}

export async function describeWorkflow(s: ClusterState, namespace: string, name: string): Promise<string> {
  return (await kubectl(s.kubeconfig, ['describe', 'workflow', '-n', namespace, name])).stdout;
}
