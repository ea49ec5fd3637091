// npm run demo [-- --keep] — the main job, end to end on a local cluster built from source:
//   1. builds what is missing (with progress) and starts the whole stack in its own state directory
//      (~/.cache/argo-daemon-guard/demo): control plane, kwok's fake node, Argo's workflow-controller
//      v3.7.18, the webhook and the reaper from this checkout (graceMargin 2s);
//   2. submits the two seed workflows, as they are, to namespace argo (the redis seed names it; a stack
//      left running by an earlier --keep gets a namespace of the run's own);
//   3. tells what happens as it happens, then a summary;
//   4. stops what it started (--keep: leaves it running and says how to reach it);
//   5. prints, as its last line, one JSON object:
//      {"workflows":N,"succeeded":N,"daemonPods":N,"labeled":N,"reaped":N,"wrongDeletes":N}
// Exit 0 when every workflow succeeded and every daemon pod was labeled and reaped with no wrong
// delete; 1 otherwise (the JSON line is printed either way); 2 when the stack could not start.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { down, status, up, wholeStack } from '../test/cluster/cluster.ts';
import { cacheRoot } from '../test/cluster/paths.ts';
import { logFileOf } from '../test/cluster/processes.ts';
import { localReaperConfig, stackReaperName } from '../test/cluster/reaper.ts';
import { durationSeconds } from '../core/config-file.ts';
import { kubectl } from '../test/cluster/crds.ts';
import { runDemo, type DemoSummary } from './demo.ts';

const usage = `usage: npm run demo [-- --keep] [--state-dir DIR]

Builds what is missing, starts the whole stack on a local cluster (its own state directory,
default ${join(cacheRoot(), 'demo')}), runs the two seed workflows under Argo's own controller with the
guard installed, tells what happens, and stops the stack again. The last line is one JSON object:
{"workflows":N,"succeeded":N,"daemonPods":N,"labeled":N,"reaped":N,"wrongDeletes":N}
  --keep   leave the stack running afterwards (stop it with: npm run cluster -- down --state-dir DIR)`;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  const keep = argv.includes('--keep');
  const sdIndex = argv.indexOf('--state-dir');
  const stateDir = sdIndex >= 0 ? argv[sdIndex + 1] : join(cacheRoot(), 'demo');
  if (!stateDir || stateDir.startsWith('--')) {
    process.stderr.write(`--state-dir needs a value\n\n${usage}\n`);
    return 2;
  }
  const out = (line: string) => process.stdout.write(line + '\n');
  const t0 = Date.now();
  const took = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

  out('argo-daemon-guard demo: Argo Workflows v3.7.18 runs the two seed daemon workflows with the guard installed.');
  out('kwok plays the kubelet: it runs no process, so when Argo stops a daemon by exec\'ing "kill" into it, nothing stops.');
  out('');
  const wasUp = (await status({ stateDir })).up;
  let started = false;
  // The schema-less CRDs Argo's own install.yaml ships: a second to apply instead of fifteen.
  const stack = () => up({ stateDir, ...wholeStack, crds: 'minimal', ...(keep ? {} : { ownerPid: process.pid }), log: (l) => out(`[stack] ${l}`) });
  let s;
  try {
    s = await stack();
    started = !wasUp;
  } catch (err) {
    out(`[stack] could not start: ${(err as Error).message}`);
    return 2;
  }
  out(`[stack] ready after ${took()}: API server ${s.server}, logs in ${s.stateDir}/logs`);
  out('');

  // A fresh stack: the seeds go to namespace argo, as the redis seed says. A stack left running by an
  // earlier --keep already has them there: use a namespace of this run's own.
  let namespace = 'argo';
  if (wasUp) {
    namespace = `demo-${Date.now().toString(36)}`;
    await kubectl(s.kubeconfig, ['create', 'namespace', namespace]);
    for (let i = 0; i < 120; i++) {
      if (await kubectl(s.kubeconfig, ['get', 'serviceaccount', 'default', '-n', namespace]).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    out(`[stack] was already running: this run uses namespace ${namespace}`);
  }
  const reaperLogFile = logFileOf(s.stateDir, stackReaperName);
  let summary: DemoSummary;
  let failed = false;
  try {
    const result = await runDemo(s, {
      namespace,
      reaperLog: { file: reaperLogFile, offset: existsSync(reaperLogFile) ? statSync(reaperLogFile).size : 0 },
      graceMarginSeconds: durationSeconds(localReaperConfig.graceMargin),
      print: out,
    });
    summary = result.summary;
  } catch (err) {
    out(`demo failed: ${(err as Error).stack ?? err}`);
    summary = { workflows: 0, succeeded: 0, daemonPods: 0, labeled: 0, reaped: 0, wrongDeletes: 0 };
    failed = true;
  }

  out('');
  if (keep || !started) {
    out(`[stack] left running${started ? '' : ' (it was running before the demo)'}: KUBECONFIG=${s.kubeconfig}`);
    out(`[stack] stop it with: npm run cluster -- down --state-dir ${s.stateDir}`);
  } else {
    const stopped = await down({ stateDir, log: () => {} });
    out(`[stack] stopped ${stopped.join(', ')}`);
  }
  out(`demo finished in ${took()}`);
  const ok =
    !failed &&
    summary.workflows === 2 &&
    summary.succeeded === summary.workflows &&
    summary.daemonPods > 0 &&
    summary.labeled === summary.daemonPods &&
    summary.reaped === summary.daemonPods &&
    summary.wrongDeletes === 0;
  out(JSON.stringify(summary));
  return ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
