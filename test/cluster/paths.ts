import { homedir } from 'node:os';
import { join } from 'node:path';

/** Everything the harness builds or writes lives here, never in the repository. */
export function cacheRoot(): string {
  return process.env.ARGO_DAEMON_GUARD_CACHE ?? join(homedir(), '.cache', 'argo-daemon-guard');
}

export function clusterStateDir(): string {
  return join(cacheRoot(), 'cluster');
}
