// Runs before the cluster project's own global setup: the end-to-end files need Argo's
// workflow-controller, which the cluster the integration tests start does not (cluster.ts `up()` builds
// only the control plane unless asked for Argo). Built once and cached, with progress, like the rest.
import { buildAll } from '../cluster/binaries.ts';

export default async function setup(): Promise<void> {
  await buildAll(['workflow-controller']);
}
