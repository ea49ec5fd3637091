// npm run cluster -- up | down | status [--json] [--state-dir DIR]
//   up      builds what is missing (with progress), starts everything detached, returns when ready and
//           prints KUBECONFIG=<path> as its last line; run again while up, it prints the same line.
//   down    stops every process `up` started (no stray process or port) and drops the cluster's data.
//   status  what runs; --json for a machine-readable form.
// Exit codes: 0 ok, 1 failed (or, for status, not up), 2 bad usage.
import { clusterStateDir } from './paths.ts';
import { down, realNodeName, status, up } from './cluster.ts';

const usage = `usage: npm run cluster -- <up [--nodes kwok|real] [--no-webhook] [--no-argo] [--no-reaper] [--dry-run] [--policy FILE]|down|status> [--json] [--state-dir DIR]

  up       build missing binaries, start etcd, kube-apiserver, kube-controller-manager,
           kube-scheduler, kwok (one fake node), the webhook from this checkout, Argo's
           workflow-controller (v3.7.18, all namespaces) and the reaper from this checkout
           (graceMargin 2s; config <state dir>/reaper.yaml, followed as it changes); install Argo's
           CRDs; register the webhooks. Prints KUBECONFIG=<path> as its last line. A Workflow
           created in any namespace (kubectl create -f wf.yaml) runs.
           --nodes kwok (default): one kwok node, which runs no process (every pod is a
           stand-in). --nodes real: also a node with a real kubelet, kube-proxy, containerd,
           runc and CNI (Debian packages, installed if missing; needs root), where pods run as
           real processes and go by default; the kwok node stays beside it, tainted.
           --no-webhook: no webhook process, nothing registered.
           --no-argo: no Argo controller (for Workflows written by hand, with a status of their own).
           --no-reaper: no reaper.
           --dry-run: the reaper only reports what it would delete.
           --policy FILE: the webhook's policy (default: the default policy, which enforces nothing);
           applies when the cluster starts; the webhook reloads the file when it changes.
  down     stop every process up started
  status   show what runs (--json: as JSON)

State (pids, logs, kubeconfigs, PKI): ${clusterStateDir()} (or --state-dir, or ARGO_DAEMON_GUARD_CACHE/cluster).`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const valueOf = (flag: string): { value: string | undefined; index: number; missing: boolean } => {
    const index = argv.indexOf(flag);
    const value = index >= 0 ? argv[index + 1] : undefined;
    return { value, index, missing: index >= 0 && (!value || value.startsWith('--')) };
  };
  const sd = valueOf('--state-dir');
  const pol = valueOf('--policy');
  const nodesOpt = valueOf('--nodes');
  for (const [flag, v] of [['--state-dir', sd], ['--policy', pol], ['--nodes', nodesOpt]] as const) {
    if (v.missing) {
      process.stderr.write(`${flag} needs a value\n\n${usage}\n`);
      return 2;
    }
  }
  const stateDir = sd.value;
  if (nodesOpt.value !== undefined && nodesOpt.value !== 'kwok' && nodesOpt.value !== 'real') {
    process.stderr.write(`--nodes takes kwok or real, not ${nodesOpt.value}\n\n${usage}\n`);
    return 2;
  }
  const valueIndexes = new Set([sd.index, pol.index, nodesOpt.index].filter((i) => i >= 0).map((i) => i + 1));
  const positional = argv.filter((a, i) => !a.startsWith('--') && !valueIndexes.has(i));
  const [cmd, ...extra] = positional;
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (!cmd || extra.length > 0 || !['up', 'down', 'status'].includes(cmd)) {
    process.stderr.write(`${cmd ? `unknown command: ${[cmd, ...extra].join(' ')}\n\n` : ''}${usage}\n`);
    return 2;
  }
  if (cmd === 'up') {
    const started = Date.now();
    const s = await up({
      stateDir,
      webhook: !argv.includes('--no-webhook'),
      argo: !argv.includes('--no-argo'),
      reaper: argv.includes('--no-reaper') ? false : { dryRun: argv.includes('--dry-run') },
      ...(pol.value ? { policyFile: pol.value } : {}),
      ...(nodesOpt.value === 'real' || nodesOpt.value === 'kwok' ? { nodes: nodesOpt.value } : {}),
    });
    process.stderr.write(`[cluster] up (${((Date.now() - started) / 1000).toFixed(1)}s): API server ${s.server}, webhook ${s.webhook.url}, logs ${s.stateDir}/logs\n`);
    if (json) process.stdout.write(JSON.stringify({ kubeconfig: s.kubeconfig, server: s.server, webhook: s.webhook.url, stateDir: s.stateDir }) + '\n');
    process.stdout.write(`KUBECONFIG=${s.kubeconfig}\n`);
    return 0;
  }
  if (cmd === 'down') {
    const stopped = await down({ stateDir });
    if (json) process.stdout.write(JSON.stringify({ stopped }) + '\n');
    else process.stdout.write(stopped.length ? `stopped: ${stopped.join(', ')}\n` : 'nothing was running\n');
    return 0;
  }
  const st = await status({ stateDir });
  if (json) process.stdout.write(JSON.stringify(st, null, 2) + '\n');
  else {
    const lines = [
      `cluster: ${st.up ? 'up' : 'down'} (${st.stateDir})`,
      ...(st.server ? [`api server: ${st.server} (${st.apiserverReady ? 'ready' : 'not ready'}); kwok node ${st.nodeReady ? 'Ready' : 'not Ready'}; webhook ${st.webhookReady ? 'ready' : 'not ready'}`] : []),
      ...(st.realNodeReady !== undefined ? [`real node ${realNodeName}: ${st.realNodeReady ? 'Ready' : 'not Ready'} (kubelet, kube-proxy, containerd; pods go there ${st.nodes === 'real' ? 'by default' : 'only when they tolerate its taint'})`] : []),
      ...(st.server
        ? [`argo workflow-controller ${st.argoControllerRunning ? 'running' : 'not running'}; reaper ${st.reaperReady === undefined ? 'not running' : `${st.reaperReady ? 'ready' : 'not ready'}${st.reaperLeader ? ', leading' : ''}`}`]
        : []),
      ...st.components.map((c) => `  ${c.name.padEnd(24)} ${c.running ? `running  pid ${c.pid}` : 'stopped'}`),
      ...(st.up && st.kubeconfig ? [`KUBECONFIG=${st.kubeconfig}`] : []),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  return st.up ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`[cluster] ${(err as Error).message}\n`);
  process.exitCode = 1;
}
