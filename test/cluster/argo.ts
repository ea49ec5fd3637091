// Argo's own workflow-controller in the test cluster: its namespace and ConfigMap, and the process
// (components.ts has its command line). The controller exits at start without its ConfigMap; a
// template that gives no command makes it look the image up in a registry, which fails offline, so the
// ConfigMap names the command of every such image the tests and the demo run (argo-daemons.md §7).
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { argoConfigMapName, argoNamespace, workflowControllerSpec } from './components.ts';
import { isRunning, logFileOf, logTail, readRecord, start, stop, waitFor, type ProcessRecord } from './processes.ts';
import { readFileSync } from 'node:fs';
import { apply, objectApi } from './webhooks.ts';
import type { ClusterState } from './state.ts';

export { argoConfigMapName, argoNamespace } from './components.ts';

export const argoControllerName = 'workflow-controller';

/**
 * Images whose templates (in the seeds, Argo's daemon examples and the tests) give no command, with
 * the entrypoint/cmd their image declares. Argo's emissary executor needs them; kwok runs nothing.
 */
export const imagesWithoutCommand: Record<string, { entrypoint?: string[]; cmd?: string[] }> = {
  // examples/daemon-nginx.yaml
  'nginx:1.13': { cmd: ['nginx', '-g', 'daemon off;'] },
  // examples/dag-daemon-task.yaml
  'influxdb:1.2': { entrypoint: ['/entrypoint.sh'], cmd: ['influxd'] },
  // A user trying their own daemon without a command.
  'redis:alpine': { entrypoint: ['docker-entrypoint.sh'], cmd: ['redis-server'] },
  'nginx:latest': { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] },
};

export function controllerConfigMap(): KubernetesObject & { data: Record<string, string> } {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: argoConfigMapName, namespace: argoNamespace },
    data: {
      images: stringify(imagesWithoutCommand),
      // Its metrics server binds :9090 on every interface and panics when the port is taken (a second
      // cluster on the same machine); nothing here reads it.
      metricsConfig: stringify({ enabled: false }),
      telemetryConfig: stringify({ enabled: false }),
    },
  };
}

/** The namespace and ConfigMap the controller needs before it starts (idempotent). */
export async function installArgoController(s: ClusterState): Promise<void> {
  const api = objectApi(s.kubeconfig);
  await apply(api, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: argoNamespace } });
  await apply(api, controllerConfigMap());
}

export function argoControllerRunning(s: ClusterState): boolean {
  const r = readRecord(s.stateDir, argoControllerName);
  return r !== undefined && isRunning(r);
}

/**
 * Starts the controller (after installing what it needs) and returns once it has loaded its ConfigMap
 * and started its informers ("Starting Workflow Controller" in its log). A Workflow created before its
 * caches are synced is picked up when they are.
 */
export async function startArgoController(s: ClusterState): Promise<ProcessRecord> {
  await installArgoController(s);
  const startOffset = logSize(logFileOf(s.stateDir, argoControllerName));
  const proc = start(s.stateDir, workflowControllerSpec(s));
  await waitFor({ what: `${argoControllerName} started (log ${proc.logFile})`, timeoutMs: 60_000 }, async () => {
    const text = readFrom(proc.logFile, startOffset);
    if (/level=fatal/.test(text)) throw new Error(`${argoControllerName} failed:\n${logTail(proc.logFile)}`);
    return text.includes('Starting Workflow Controller');
  }, proc);
  return proc;
}

/** Running already, or started now. */
export async function ensureArgoController(s: ClusterState): Promise<void> {
  if (!argoControllerRunning(s)) await startArgoController(s);
}

/** SIGTERM, SIGKILL after 10 s. */
export async function stopArgoController(s: ClusterState): Promise<void> {
  await stop(s.stateDir, argoControllerName);
}

/** SIGKILL at once, no chance to finish anything it queued: a controller that crashed or was evicted. */
export async function killArgoController(s: ClusterState): Promise<void> {
  const r = readRecord(s.stateDir, argoControllerName);
  if (r && isRunning(r)) {
    try {
      process.kill(-r.pid, 'SIGKILL');
    } catch {
      process.kill(r.pid, 'SIGKILL');
    }
  }
  await stop(s.stateDir, argoControllerName);
}

function logSize(file: string): number {
  try {
    return readFileSync(file).length;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}
