// Global setup of the `cluster` test project: builds what is missing, starts a cluster of its own (own
// state directory, own ports, so it never touches a cluster a developer started with `npm run cluster
// -- up`), hands it to the tests through vitest's provide/inject, and stops every process at the end.
// Three layers make sure nothing is left behind: the teardown below; SIGINT/SIGTERM handlers that kill
// the cluster's process groups at once; and a watchdog process that stops the cluster as soon as this
// process is gone, however it ended.
//
// ARGO_DAEMON_GUARD_TEST_CLUSTER=reuse runs the tests against the developer's cluster instead (the one
// `npm run cluster -- up` starts; started here if it is not up) and leaves it running afterwards.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { down, up, type ClusterState } from '../cluster/cluster.ts';
import { cacheRoot, clusterStateDir } from '../cluster/paths.ts';
import { killAllNow } from '../cluster/processes.ts';
import { isAlive } from '../cluster/procfs.ts';
import { mountsUnder } from '../cluster/node/cleanup.ts';

declare module 'vitest' {
  interface ProvidedContext {
    cluster: ClusterState;
  }
}

const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

/** Test clusters of runs that ended long ago: keep the newest few for their logs, drop the rest. */
function pruneOldRuns(root: string): void {
  if (!existsSync(root)) return;
  const dead = readdirSync(root)
    .filter((d) => /^run-\d+$/.test(d) && !isAlive(Number(d.slice(4))))
    // A run killed before its real node was stopped still has mounts there: the next real node removes them first.
    .filter((d) => mountsUnder([join(root, d)]).length === 0)
    .map((d) => ({ dir: join(root, d), mtime: statSync(join(root, d)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { dir } of dead.slice(3)) rmSync(dir, { recursive: true, force: true });
  // An interrupted run's data and keys (its teardown did not get to them); its logs stay.
  for (const { dir } of dead.slice(0, 3)) for (const d of runData) rmSync(join(dir, d), { recursive: true, force: true });
}

/** What a finished run no longer needs: everything but its logs and policy files. */
const runData = ['pki', 'kubeconfig', 'kubeconfig.yaml', 'etcd', 'cluster.json'];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reuse = process.env.ARGO_DAEMON_GUARD_TEST_CLUSTER === 'reuse';
  const root = join(cacheRoot(), 'test-clusters');
  const stateDir = reuse ? clusterStateDir() : join(root, `run-${process.pid}`);
  if (!reuse) pruneOldRuns(root);

  const onSignal = (sig: NodeJS.Signals) => {
    if (!reuse) {
      log(`${sig}: stopping the test cluster`);
      killAllNow(stateDir);
    }
    process.exitCode = sig === 'SIGINT' ? 130 : 143;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = Date.now();
  let state: ClusterState;
  try {
    state = await up({ stateDir, log, nodes: 'kwok+real', ...(reuse ? {} : { ownerPid: process.pid }) });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw err;
  }
  log(`test cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s (state and logs: ${stateDir})`);
  project.provide('cluster', state);

  return async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (reuse) return;
    await down({ stateDir, log });
    // Keep the logs for a look after a failure; the data and keys go.
    for (const d of runData) rmSync(join(stateDir, d), { recursive: true, force: true });
  };
}
