// The demo's scenario, on any cluster that runs the whole stack (Argo's controller, the webhook, a
// reaper): submit the two seed workflows, tell what happens as it happens — each pod admitted (and
// labeled, if a daemon), each daemon ready, its scope ending, Argo signalling it through pods/exec,
// the daemon still running anyway, the reaper deleting it and its audit record, the Event on the
// Workflow — then a summary and one JSON line of numbers. demo/run.ts starts and stops the stack
// around it; the end-to-end tests run it on theirs.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterState } from '../test/cluster/state.ts';
import { kubectl } from '../test/cluster/crds.ts';
import { guardMarks, judgeDeletion, Observer, properlyLabeled, type Observation, type PodRecord } from '../test/e2e/observe.ts';
import { seedSubmissions, submit } from '../test/e2e/workflows.ts';

export interface DemoOptions {
  namespace: string;
  /** The reaper acting in that namespace: its log (JSON lines) and where this run's lines start. */
  reaperLog: { file: string; offset: number };
  /** The reaper's graceMargin, seconds (the judge of each deletion uses it). */
  graceMarginSeconds: number;
  /** One line of the live account. */
  print: (line: string) => void;
  /** Give up waiting after this long (default 180 s). */
  timeoutMs?: number;
}

export interface DemoSummary {
  workflows: number;
  succeeded: number;
  daemonPods: number;
  labeled: number;
  reaped: number;
  wrongDeletes: number;
}

export interface DemoResult {
  summary: DemoSummary;
  /** Workflow name → phase. */
  phases: Record<string, string>;
  /** One line per deletion that was wrong (empty when none). */
  wrong: string[];
  /** Seconds from scope end to deletion, per reaped daemon pod. */
  reapedAfter: Record<string, number>;
  /** The reaper's audit records of this run for the namespace. */
  records: Record<string, unknown>[];
}

const completed = new Set(['Succeeded', 'Failed', 'Error']);

function jsonLinesFrom(file: string, offset: number): { lines: Record<string, unknown>[]; next: number } {
  if (!existsSync(file)) return { lines: [], next: offset };
  const buf = readFileSync(file);
  const end = buf.lastIndexOf(0x0a) + 1;
  if (end <= offset) return { lines: [], next: offset };
  const lines = buf
    .subarray(offset, end)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return { lines, next: end };
}

const short = (s: string, n = 140) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export async function runDemo(s: ClusterState, o: DemoOptions): Promise<DemoResult> {
  const kc = new KubeConfig();
  kc.loadFromFile(s.kubeconfig);
  const t0 = Date.now();
  const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const say = (line: string) => o.print(`${stamp()} ${line}`);
  const ns = o.namespace;
  const records: Record<string, unknown>[] = [];
  const stillRunningSaid = new Map<string, number>();

  const describePod = (p: PodRecord) => `${p.name}`;
  const onObservation = (x: Observation) => {
    switch (x.kind) {
      case 'pod-admitted': {
        const p = x.pod;
        if (!p.workflowName) return;
        if (p.facts.daemon) {
          const g = guardMarks(p.admitted);
          say(
            properlyLabeled(p)
              ? `pod ${describePod(p)} admitted: daemon (template ${p.facts.template}) — labeled argo-daemon-guard.io/daemon=true, workflow-uid ${g.workflowUidLabel}, lifetime cap ${g.lifetimeCap}s (activeDeadlineSeconds ${g.activeDeadlineSeconds})`
              : `pod ${describePod(p)} admitted: daemon (template ${p.facts.template}) — NOT labeled as it should be: ${JSON.stringify(g)}`,
          );
        } else say(`pod ${describePod(p)} admitted: not a daemon (template ${p.facts.template ?? '?'}) — left alone, no guard labels`);
        return;
      }
      case 'daemoned':
        say(`${x.workflow.name}: daemon ${x.pod.facts.template} is Running and ready — Argo marked its node daemoned`);
        return;
      case 'scope-ended':
        say(`${x.pod.workflowName}: scope of daemon ${x.pod.name} ended — ${x.end.detail}`);
        return;
      case 'workflow-phase':
        if (x.phase !== 'Pending') say(`workflow ${x.workflow.name} is ${x.phase}`);
        return;
      case 'pod-deleting': {
        const p = x.pod;
        if (!p.facts.daemon) {
          say(`pod ${p.name} deleted — NOT a daemon`);
          return;
        }
        const v = judgeDeletion(p, o.graceMarginSeconds);
        say(v.ok ? `daemon pod ${p.name} deleted ${v.afterSeconds!.toFixed(1)}s after its scope ended (grace ${p.last.spec?.terminationGracePeriodSeconds ?? 30}s + margin ${o.graceMarginSeconds}s)` : `WRONG DELETE: ${v.why}`);
        return;
      }
      default:
        return;
    }
  };

  const obs = await Observer.start(kc, { namespaces: (n) => n === ns, onObservation });
  const auditFile = join(s.stateDir, 'logs', 'audit.log');
  let auditOffset = existsSync(auditFile) ? statSync(auditFile).size : 0;
  let reaperOffset = o.reaperLog.offset;
  const signalled = new Map<string, Set<string>>();

  const pollLogs = () => {
    // Argo's stop: the exec into each container, as the API server recorded it.
    const a = jsonLinesFrom(auditFile, auditOffset);
    auditOffset = a.next;
    for (const e of a.lines) {
      const ref = (e.objectRef ?? {}) as { namespace?: string; name?: string; subresource?: string };
      if (e.stage !== 'ResponseComplete' || ref.namespace !== ns || ref.subresource !== 'exec') continue;
      const uri = String(e.requestURI ?? '');
      if (!/command=kill&command=15/.test(uri)) continue;
      const container = /container=([^&]+)/.exec(uri)?.[1] ?? '?';
      const pod = ref.name ?? '?';
      let set = signalled.get(pod);
      if (!set) signalled.set(pod, (set = new Set()));
      set.add(container);
      say(`Argo signalled ${pod}: exec "argoexec kill 15 1" into container ${container} (API server answered ${(e.responseStatus as { code?: number })?.code ?? '?'}; no kubelet behind it, so nothing stops)`);
    }
    // The reaper's audit records.
    const r = jsonLinesFrom(o.reaperLog.file, reaperOffset);
    reaperOffset = r.next;
    for (const rec of r.lines) {
      if (rec.event !== 'reap' || rec.namespace !== ns) continue;
      records.push(rec);
      const { pod, reason, outcome, scopeEndedAt, workflow, nodeId, latencyMs } = rec as Record<string, string>;
      say(`audit record: ${JSON.stringify({ event: 'reap', workflow, pod, nodeId, reason, scopeEndedAt, outcome, latencyMs })}`);
    }
    // A daemon whose scope ended but that still runs: say so every 10 s.
    for (const p of obs.daemonPods()) {
      if (!p.scopeEnd || p.deletion || p.last.status?.phase !== 'Running') continue;
      const after = Math.floor((Date.now() - p.scopeEnd.at) / 1000);
      const bucket = Math.floor(after / 10) * 10;
      if (bucket >= 10 && (stillRunningSaid.get(p.uid) ?? 0) < bucket) {
        stillRunningSaid.set(p.uid, bucket);
        const completedLabel = p.last.metadata?.labels?.['workflows.argoproj.io/completed'];
        say(`daemon pod ${p.name} still Running ${bucket}s after its scope ended${completedLabel === 'true' ? " (Argo labeled it completed=true and stopped watching it)" : ''}`);
      }
    }
  };
  const poller = setInterval(pollLogs, 250);

  const names: string[] = [];
  try {
    for (const sub of seedSubmissions()) {
      const { name, warnings } = await submit(s.kubeconfig, ns, sub.manifest);
      names.push(name);
      say(`submitted ${name} — ${sub.source}`);
      for (const w of warnings) say(`  admission ${short(w, 160)}`);
    }

    const deadline = Date.now() + (o.timeoutMs ?? 180_000);
    for (;;) {
      const wfs = names.map((n) => obs.workflowByName(ns, n));
      const allDone = wfs.every((w) => w && completed.has(w.phase));
      const daemons = obs.daemonPods();
      const leftoversLeft = daemons.filter((p) => p.goneAt === undefined);
      const recorded = daemons.every((p) => records.some((r) => r.podUid === p.uid && r.outcome !== 'would-reap'));
      if (allDone && daemons.length > 0 && leftoversLeft.length === 0 && recorded) break;
      if (Date.now() > deadline) {
        say(`gave up waiting after ${Math.round((o.timeoutMs ?? 180_000) / 1000)}s: ${leftoversLeft.length} daemon pod(s) still present, workflows ${wfs.map((w) => `${w?.name}=${w?.phase || '?'}`).join(', ')}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    pollLogs();

    // What `kubectl describe workflow` shows.
    for (const name of names) {
      const text = (await kubectl(s.kubeconfig, ['describe', 'workflow', '-n', ns, name])).stdout;
      const lines = text.split('\n').filter((l) => /DaemonReaped|DaemonWouldReap|DaemonStuck/.test(l));
      say(`kubectl describe workflow ${name} ${lines.length ? 'shows, under Events:' : 'shows no reaper Event'}`);
      for (const l of lines) o.print(`         ${short(l.trim().replace(/\s+/g, ' '), 200)}`);
    }
  } finally {
    clearInterval(poller);
    obs.stop();
  }

  // ---- Summary ----
  const wfs = names.map((n) => obs.workflowByName(ns, n)!).filter(Boolean);
  const daemonPods = obs.daemonPods();
  const deletions = obs.deletions();
  const verdicts = deletions.map((p) => judgeDeletion(p, o.graceMarginSeconds));
  const wrong = verdicts.filter((v) => !v.ok).map((v) => v.why);
  const reapedPods = daemonPods.filter((p) => {
    const v = verdicts.find((x) => x.pod === p);
    return v?.ok === true && records.some((r) => r.podUid === p.uid && r.outcome === 'deleted');
  });
  const summary: DemoSummary = {
    workflows: wfs.length,
    succeeded: wfs.filter((w) => w.phase === 'Succeeded').length,
    daemonPods: daemonPods.length,
    labeled: daemonPods.filter(properlyLabeled).length,
    reaped: reapedPods.length,
    wrongDeletes: wrong.length,
  };
  const reapedAfter = Object.fromEntries(reapedPods.map((p) => [p.name, Number(verdicts.find((v) => v.pod === p)!.afterSeconds!.toFixed(1))]));

  o.print('');
  o.print('Summary');
  for (const w of wfs) {
    const pods = obs.podsOf(w);
    const daemons = pods.filter((p) => p.facts.daemon);
    o.print(`  workflow ${w.name}: ${w.phase}; ${pods.length} pods, ${daemons.length} daemon`);
    for (const p of daemons) {
      const rec = records.find((r) => r.podUid === p.uid);
      const k = signalled.get(p.name);
      o.print(
        `    daemon ${p.name}: ${properlyLabeled(p) ? 'labeled and capped' : 'NOT labeled'}; scope ended ${p.scopeEnd ? `(${p.scopeEnd.why})` : 'never'}; ` +
          `Argo signalled ${k ? [...k].join('+') : 'no container'}; ` +
          (reapedAfter[p.name] !== undefined ? `reaped ${reapedAfter[p.name]}s after its scope ended (reason ${String(rec?.reason)})` : `not reaped${p.goneAt ? ' (deleted by someone else)' : ' (still present)'}`),
      );
    }
  }
  for (const w of wrong) o.print(`  WRONG DELETE: ${w}`);
  const nonDaemonDeletes = deletions.filter((p) => !p.facts.daemon).length;
  o.print(`  deletions: ${deletions.length} (${deletions.length - nonDaemonDeletes} daemon pods, ${nonDaemonDeletes} other pods); wrong: ${wrong.length}`);
  return {
    summary,
    phases: Object.fromEntries(wfs.map((w) => [w.name, w.phase])),
    wrong,
    reapedAfter,
    records,
  };
}
