// decide() on realistic statuses: node maps written by hand as Argo's controller writes them, and run through
// the same readers the reaper uses (readWorkflow, readPod).
import { describe, expect, it } from 'vitest';
import { readWorkflow, type WorkflowState } from '../argo/status.ts';
import { reaperConfig, type ReaperConfig, type ReaperConfigFile } from './config.ts';
import { decide, stuckAt, type FirstSeen, type Verdict } from './decide.ts';
import { readPod } from './pod.ts';
import { reasons, type Reason } from './reasons.ts';
import type { OffloadedTemplate } from '../admission/daemon.ts';
import { argoTemplateJson } from '../../test/fixtures/pods.ts';
import {
  argoPod,
  clientStep,
  encodings,
  influxDaemon,
  nodeIdOf,
  redisDaemon,
  setDaemon,
  workflowObject,
  type Encoding,
  type NodeSpec,
  type PodSpec,
  type WorkflowSpec,
} from '../../test/support/workflows.ts';

const at = (hms: string) => new Date(`2025-03-01T${hms}Z`);
const iso = (hms: string) => `2025-03-01T${hms}Z`;

function wfState(spec: WorkflowSpec): WorkflowState {
  const r = readWorkflow(workflowObject(spec));
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

interface Case {
  wf: WorkflowSpec | undefined;
  pod: PodSpec;
  now: string;
  firstSeen?: FirstSeen;
  config?: ReaperConfigFile;
  offloaded?: OffloadedTemplate;
  queuedUid?: string;
}

function run(c: Case): Verdict {
  const config: ReaperConfig = reaperConfig(c.config);
  return decide({
    pod: readPod(argoPod(c.pod), c.offloaded),
    workflow: c.wf ? wfState(c.wf) : undefined,
    now: at(c.now),
    firstSeen: c.firstSeen,
    config,
    queuedUid: c.queuedUid,
  });
}

function expectVerdict(v: Verdict, decision: Verdict['decision'], reason: Reason, notBefore?: string | null) {
  expect({ decision: v.decision, reason: v.reason }, v.detail).toEqual({ decision, reason });
  expect(reasons[reason].decisions as readonly string[]).toContain(decision);
  if (notBefore !== undefined) expect(v.notBefore?.toISOString() ?? null).toBe(notBefore === null ? null : new Date(iso(notBefore)).toISOString());
}

// ---------------------------------------------------------------------------------------------------
// 1. examples/daemon-step.yaml: influx is a retried daemon in the root Steps scope.
// ---------------------------------------------------------------------------------------------------
const ds = 'daemon-step-dvbnn';
const dsUid = '5f0c8a9e-0d5e-4c36-9a57-3f1a3c6b8d10';
function daemonStep(o: { rootPhase: string; rootFinished?: string; wfPhase: string; wfFinished?: string; influx: 'daemoned' | 'stopped' | 'starting'; encoding?: Encoding; deleting?: string }): WorkflowSpec {
  const influx: Partial<NodeSpec> =
    o.influx === 'daemoned'
      ? { phase: 'Running', daemoned: true, finishedAt: '2025-03-01T10:00:09Z' } // finishedAt = when it became ready
      : o.influx === 'stopped'
        ? { phase: 'Succeeded', finishedAt: '2025-03-01T10:00:09Z' }
        : { phase: 'Running' };
  return {
    name: ds,
    uid: dsUid,
    phase: o.wfPhase,
    finishedAt: o.wfFinished,
    deletionTimestamp: o.deleting,
    encoding: o.encoding,
    nodes: [
      { name: ds, type: 'Steps', phase: o.rootPhase, template: 'daemon-example', finishedAt: o.rootFinished, children: [`${ds}[0]`] },
      { name: `${ds}[0]`, type: 'StepGroup', phase: 'Succeeded', boundary: ds, children: [`${ds}[0].influx`] },
      { name: `${ds}[0].influx`, type: 'Retry', phase: influx.phase!, boundary: ds, template: 'influxdb', daemoned: influx.daemoned, children: [`${ds}[0].influx(0)`, `${ds}[0].influx(1)`] },
      { name: `${ds}[0].influx(0)`, type: 'Pod', phase: 'Failed', boundary: ds, template: 'influxdb', message: 'Error (exit code 1)' },
      { name: `${ds}[0].influx(1)`, type: 'Pod', boundary: ds, template: 'influxdb', ...influx } as NodeSpec,
      { name: `${ds}[1]`, type: 'StepGroup', phase: 'Running', boundary: ds, children: [`${ds}[1].init-database`] },
      { name: `${ds}[1].init-database`, type: 'Pod', phase: o.rootPhase === 'Running' ? 'Running' : 'Succeeded', boundary: ds, template: 'client' },
    ],
  };
}
const influxPod = (o: Partial<PodSpec> = {}): PodSpec => ({ workflow: ds, workflowUid: dsUid, nodeName: `${ds}[0].influx(1)`, template: influxDaemon, phase: 'Running', ...o });

describe('daemon-step: a retried daemon in the root Steps scope', () => {
  it('keeps the daemon while its scope runs (scope-live)', () => {
    const v = run({ wf: daemonStep({ rootPhase: 'Running', wfPhase: 'Running', influx: 'daemoned' }), pod: influxPod(), now: '10:03:00' });
    expectVerdict(v, 'keep', 'scope-live', null);
    expect(v.nodeId).toBe(nodeIdOf(ds, `${ds}[0].influx(1)`));
  });

  it('keeps a daemon that is Running but not yet ready (node Running, not daemoned) in a live scope', () => {
    expectVerdict(run({ wf: daemonStep({ rootPhase: 'Running', wfPhase: 'Running', influx: 'starting' }), pod: influxPod(), now: '10:03:00' }), 'keep', 'scope-live');
  });

  it('scope ended and Argo stopped the node but the pod still runs (leaks 2, 3): wait for grace, then reap', () => {
    const wf = daemonStep({ rootPhase: 'Succeeded', rootFinished: '10:05:00', wfPhase: 'Succeeded', wfFinished: '10:05:01', influx: 'stopped' });
    wf.nodes[0]!.finishedAt = iso('10:05:00');
    wf.finishedAt = iso('10:05:01');
    // terminationGracePeriodSeconds 30 (default) + margin 30 s past the boundary's finishedAt.
    expectVerdict(run({ wf, pod: influxPod(), now: '10:05:30' }), 'wait', 'boundary-fulfilled', '10:06:00');
    const v = run({ wf, pod: influxPod(), now: '10:06:00' });
    expectVerdict(v, 'reap', 'boundary-fulfilled', '10:06:00');
    expect(v.scopeEndedAt?.toISOString()).toBe(new Date(iso('10:05:00')).toISOString());
    expect(v.timeFrom).toBe('status');
    expect(v.workflow).toEqual({ name: ds, uid: dsUid, phase: 'Succeeded' });
  });

  it("never takes the daemon node's own finishedAt (set when it became ready) as the end of its scope", () => {
    // Root scope still running, the daemon node has finishedAt 10:00:09 and is daemoned: nothing ended.
    const wf = daemonStep({ rootPhase: 'Running', wfPhase: 'Running', influx: 'daemoned' });
    expectVerdict(run({ wf, pod: influxPod(), now: '23:00:00' }), 'keep', 'scope-live');
  });

  it('a failed earlier attempt of the retried daemon is not running: nothing to do', () => {
    const wf = daemonStep({ rootPhase: 'Succeeded', rootFinished: '10:05:00', wfPhase: 'Succeeded', wfFinished: '10:05:00', influx: 'stopped' });
    expectVerdict(run({ wf, pod: influxPod({ nodeName: `${ds}[0].influx(0)`, phase: 'Failed' }), now: '11:00:00' }), 'keep', 'pod-not-running');
  });

  it('never reaps the non-daemon client pod, whatever the scope', () => {
    const wf = daemonStep({ rootPhase: 'Failed', rootFinished: '10:05:00', wfPhase: 'Failed', wfFinished: '10:05:00', influx: 'stopped' });
    const pod: PodSpec = { workflow: ds, workflowUid: dsUid, nodeName: `${ds}[1].init-database`, template: clientStep, phase: 'Running' };
    expectVerdict(run({ wf, pod, now: '12:00:00' }), 'keep', 'not-a-daemon');
    expectVerdict(run({ wf: undefined, pod: { ...pod, orphaned: true }, now: '12:00:00' }), 'keep', 'not-a-daemon');
  });

  it('workflow complete but the status carries no finishedAt: the grace runs from firstSeen', () => {
    const wf = daemonStep({ rootPhase: 'Succeeded', wfPhase: 'Succeeded', influx: 'stopped' });
    const v = run({ wf, pod: influxPod(), now: '10:10:30', firstSeen: at('10:10:00') });
    expectVerdict(v, 'wait', 'boundary-fulfilled', '10:11:00');
    expect(v.timeFrom).toBe('first-seen');
    expectVerdict(run({ wf, pod: influxPod(), now: '10:11:00', firstSeen: at('10:10:00') }), 'reap', 'boundary-fulfilled');
  });

  it('no firstSeen given: the first sighting is now, so the first decision is always a wait', () => {
    const wf = daemonStep({ rootPhase: 'Succeeded', wfPhase: 'Succeeded', influx: 'stopped' });
    expectVerdict(run({ wf, pod: influxPod(), now: '10:10:00' }), 'wait', 'boundary-fulfilled', '10:11:00');
  });

  it('a finishedAt in the future (clock skew) is not trusted: firstSeen instead', () => {
    const wf = daemonStep({ rootPhase: 'Succeeded', rootFinished: '12:00:00', wfPhase: 'Succeeded', wfFinished: '12:00:00', influx: 'stopped' });
    wf.nodes[0]!.finishedAt = iso('12:00:00');
    const v = run({ wf, pod: influxPod(), now: '10:20:00', firstSeen: at('10:15:00') });
    expectVerdict(v, 'reap', 'boundary-fulfilled', '10:16:00');
    expect(v.timeFrom).toBe('first-seen');
  });

  it("honours the pod's terminationGracePeriodSeconds and the configured margin", () => {
    const wf = daemonStep({ rootPhase: 'Succeeded', wfPhase: 'Succeeded', wfFinished: iso('10:05:00'), influx: 'stopped' });
    wf.nodes[0]!.finishedAt = iso('10:05:00');
    expectVerdict(run({ wf, pod: influxPod({ terminationGracePeriodSeconds: 120 }), now: '10:06:00', config: { graceMargin: '2m' } }), 'wait', 'boundary-fulfilled', '10:09:00');
    expectVerdict(run({ wf, pod: influxPod({ terminationGracePeriodSeconds: 0 }), now: '10:05:00', config: { graceMargin: 0 } }), 'reap', 'boundary-fulfilled', '10:05:00');
  });

  it('workflow being deleted while the daemon is still daemoned: reap after grace from the deletionTimestamp', () => {
    const wf = daemonStep({ rootPhase: 'Running', wfPhase: 'Running', influx: 'daemoned', deleting: iso('10:07:00') });
    expectVerdict(run({ wf, pod: influxPod(), now: '10:07:10' }), 'wait', 'workflow-deleting', '10:08:00');
    expectVerdict(run({ wf, pod: influxPod(), now: '10:08:00' }), 'reap', 'workflow-deleting');
  });
});

// ---------------------------------------------------------------------------------------------------
// 2. A nested Steps scope: the daemon's scope ends while the workflow goes on.
// ---------------------------------------------------------------------------------------------------
const ns = 'nested-x7k2p';
const nsUid = '0b8c2f4e-7a4d-4c7e-8f0e-2a9d1e6b3c55';
function nested(o: { scope: string; scopeFinished?: string; db: 'daemoned' | 'stopped'; wfPhase?: string; encoding?: Encoding }): WorkflowSpec {
  const scope = `${ns}[0].with-db`;
  return {
    name: ns,
    uid: nsUid,
    phase: o.wfPhase ?? 'Running',
    encoding: o.encoding,
    nodes: [
      { name: ns, type: 'Steps', phase: 'Running', template: 'main', children: [`${ns}[0]`] },
      { name: `${ns}[0]`, type: 'StepGroup', phase: o.scope === 'Running' ? 'Running' : 'Succeeded', boundary: ns, children: [scope] },
      { name: scope, type: 'Steps', phase: o.scope, boundary: ns, template: 'with-db', finishedAt: o.scopeFinished, children: [`${scope}[0]`] },
      { name: `${scope}[0]`, type: 'StepGroup', phase: 'Succeeded', boundary: scope, children: [`${scope}[0].db`] },
      { name: `${scope}[0].db`, type: 'Pod', phase: o.db === 'daemoned' ? 'Running' : 'Succeeded', daemoned: o.db === 'daemoned', boundary: scope, template: 'redis', finishedAt: iso('10:00:20') },
      { name: `${scope}[1]`, type: 'StepGroup', phase: 'Succeeded', boundary: scope, children: [`${scope}[1].test`] },
      { name: `${scope}[1].test`, type: 'Pod', phase: 'Succeeded', boundary: scope, template: 'client' },
      { name: `${ns}[1]`, type: 'StepGroup', phase: 'Running', boundary: ns, children: [`${ns}[1].after`] },
      { name: `${ns}[1].after`, type: 'Pod', phase: 'Running', boundary: ns, template: 'client' },
    ],
  };
}
const dbPod = (o: Partial<PodSpec> = {}): PodSpec => ({ workflow: ns, workflowUid: nsUid, nodeName: `${ns}[0].with-db[0].db`, template: redisDaemon, phase: 'Running', ...o });

describe('nested Steps scope', () => {
  it('keeps the daemon while its inner scope runs', () => {
    expectVerdict(run({ wf: nested({ scope: 'Running', db: 'daemoned' }), pod: dbPod(), now: '10:02:00' }), 'keep', 'scope-live');
  });

  it('inner scope Succeeded mid-workflow, killDaemonedChildren ran, the pod survived: reaped though the workflow runs on', () => {
    const wf = nested({ scope: 'Succeeded', scopeFinished: iso('10:03:00'), db: 'stopped' });
    expectVerdict(run({ wf, pod: dbPod(), now: '10:03:59' }), 'wait', 'boundary-fulfilled', '10:04:00');
    expectVerdict(run({ wf, pod: dbPod(), now: '10:04:00' }), 'reap', 'boundary-fulfilled');
  });

  it('leak 1: the controller saved the scope Succeeded and restarted before killDaemonedChildren: node still daemoned', () => {
    const wf = nested({ scope: 'Succeeded', scopeFinished: iso('10:03:00'), db: 'daemoned' });
    expectVerdict(run({ wf, pod: dbPod(), now: '10:10:00' }), 'reap', 'boundary-fulfilled', '10:04:00');
  });

  it.each(['Failed', 'Error'])('leak 4: the scope ended %s through an error return, its daemon still daemoned, workflow Running forever', (phase) => {
    const wf = nested({ scope: phase, scopeFinished: iso('10:03:00'), db: 'daemoned' });
    wf.nodes[2]!.message = 'child pod failed to create';
    expectVerdict(run({ wf, pod: dbPod(), now: '10:03:30' }), 'wait', 'boundary-fulfilled', '10:04:00');
    expectVerdict(run({ wf, pod: dbPod(), now: '18:00:00' }), 'reap', 'boundary-fulfilled');
  });

  it.each(['Skipped', 'Omitted'])('a %s boundary counts as fulfilled', (phase) => {
    expectVerdict(run({ wf: nested({ scope: phase, scopeFinished: iso('10:03:00'), db: 'daemoned' }), pod: dbPod(), now: '10:05:00' }), 'reap', 'boundary-fulfilled');
  });

  it.each(encodings.filter((e) => e !== 'offloaded'))('%s: the same decisions from a compressed node map', (encoding) => {
    expectVerdict(run({ wf: nested({ scope: 'Running', db: 'daemoned', encoding }), pod: dbPod(), now: '10:05:00' }), 'keep', 'scope-live');
    expectVerdict(run({ wf: nested({ scope: 'Error', scopeFinished: iso('10:03:00'), db: 'daemoned', encoding }), pod: dbPod(), now: '10:05:00' }), 'reap', 'boundary-fulfilled');
  });

  it('offloaded node status while the workflow runs: unknown, never reaped, however old', () => {
    const v = run({ wf: nested({ scope: 'Error', scopeFinished: iso('10:03:00'), db: 'daemoned', encoding: 'offloaded' }), pod: dbPod(), now: '23:59:00' });
    expectVerdict(v, 'unknown', 'status-offloaded', null);
  });

  it('offloaded node status of a completed workflow: reaped as workflow-complete (needs no nodes)', () => {
    const wf = nested({ scope: 'Succeeded', db: 'stopped', wfPhase: 'Succeeded', encoding: 'offloaded' });
    wf.finishedAt = iso('10:06:00');
    expectVerdict(run({ wf, pod: dbPod(), now: '10:07:00' }), 'reap', 'workflow-complete', '10:07:00');
  });

  it('an undecodable compressedNodes: unknown (status-unreadable)', () => {
    const obj = workflowObject(nested({ scope: 'Error', db: 'daemoned' }));
    const status = obj.status as Record<string, unknown>;
    delete status.nodes;
    status.compressedNodes = Buffer.from([0x1f, 0x8b, 0, 1, 2]).toString('base64');
    const r = readWorkflow(obj);
    if (!r.ok) throw new Error(r.reason);
    const v = decide({ pod: readPod(argoPod(dbPod())), workflow: r.value, now: at('12:00:00'), config: reaperConfig() });
    expectVerdict(v, 'unknown', 'status-unreadable');
  });

  it('the boundary node is absent from the map: unknown (boundary-missing)', () => {
    const wf = nested({ scope: 'Running', db: 'daemoned' });
    wf.nodes = wf.nodes.filter((n) => n.name !== `${ns}[0].with-db`);
    expectVerdict(run({ wf, pod: dbPod(), now: '12:00:00' }), 'unknown', 'boundary-missing');
  });

  it('node fulfilled and no longer daemoned while its scope is live (stop/terminate, exec failed): node-stopped from firstSeen', () => {
    const wf = nested({ scope: 'Running', db: 'stopped' });
    wf.nodes[4]!.phase = 'Failed';
    wf.nodes[4]!.message = 'Stopped with strategy \'Stop\'';
    const v = run({ wf, pod: dbPod(), now: '10:10:30', firstSeen: at('10:10:00') });
    expectVerdict(v, 'wait', 'node-stopped', '10:11:00');
    expect(v.timeFrom).toBe('first-seen');
    expectVerdict(run({ wf, pod: dbPod(), now: '10:11:00', firstSeen: at('10:10:00') }), 'reap', 'node-stopped');
  });
});

// ---------------------------------------------------------------------------------------------------
// 3. DAG scopes (examples/dag-daemon-task.yaml) with a loop of daemons sharing one boundary.
// ---------------------------------------------------------------------------------------------------
const dg = 'dag-daemon-task-4hzx9';
const dgUid = 'c1f3a2b4-5d6e-4f70-8a9b-0c1d2e3f4a5b';
function dag(o: { services: string; servicesFinished?: string; daemoned: [boolean, boolean]; wfPhase?: string }): WorkflowSpec {
  const svc = `${dg}.services`;
  return {
    name: dg,
    uid: dgUid,
    phase: o.wfPhase ?? 'Running',
    nodes: [
      { name: dg, type: 'DAG', phase: 'Running', template: 'main', children: [`${dg}.daemoned`, svc] },
      { name: `${dg}.daemoned`, type: 'Pod', phase: 'Running', daemoned: true, boundary: dg, template: 'redis' },
      { name: svc, type: 'DAG', phase: o.services, boundary: dg, template: 'services', finishedAt: o.servicesFinished, children: [`${svc}.db`] },
      { name: `${svc}.db`, type: 'TaskGroup', phase: 'Running', boundary: svc, children: [`${svc}.db(0:postgres)`, `${svc}.db(1:redis)`] },
      { name: `${svc}.db(0:postgres)`, type: 'Pod', phase: o.daemoned[0] ? 'Running' : 'Succeeded', daemoned: o.daemoned[0], boundary: svc, template: 'redis' },
      { name: `${svc}.db(1:redis)`, type: 'Pod', phase: o.daemoned[1] ? 'Running' : 'Succeeded', daemoned: o.daemoned[1], boundary: svc, template: 'redis' },
      { name: `${dg}.consumer`, type: 'Pod', phase: 'Running', boundary: dg, template: 'client' },
    ],
  };
}
const loopPod = (i: 0 | 1, o: Partial<PodSpec> = {}): PodSpec => ({
  workflow: dg,
  workflowUid: dgUid,
  nodeName: `${dg}.services.db(${i}:${i === 0 ? 'postgres' : 'redis'})`,
  template: redisDaemon,
  phase: 'Running',
  ...o,
});

describe('DAG scopes and withItems expansions sharing a boundary', () => {
  it('keeps every expansion while the inner DAG runs, and the outer daemon too', () => {
    const wf = dag({ services: 'Running', daemoned: [true, true] });
    expectVerdict(run({ wf, pod: loopPod(0), now: '10:05:00' }), 'keep', 'scope-live');
    expectVerdict(run({ wf, pod: loopPod(1), now: '10:05:00' }), 'keep', 'scope-live');
    const outer: PodSpec = { workflow: dg, workflowUid: dgUid, nodeName: `${dg}.daemoned`, template: redisDaemon, phase: 'Running' };
    expectVerdict(run({ wf, pod: outer, now: '10:05:00' }), 'keep', 'scope-live');
  });

  it('inner DAG Failed through an error path: both expansions reaped, the outer daemon kept', () => {
    const wf = dag({ services: 'Failed', servicesFinished: iso('10:04:00'), daemoned: [true, true] });
    expectVerdict(run({ wf, pod: loopPod(0), now: '10:05:00' }), 'reap', 'boundary-fulfilled', '10:05:00');
    expectVerdict(run({ wf, pod: loopPod(1, { layout: 'init-less' }), now: '10:05:00' }), 'reap', 'boundary-fulfilled');
    const outer: PodSpec = { workflow: dg, workflowUid: dgUid, nodeName: `${dg}.daemoned`, template: redisDaemon, phase: 'Running' };
    expectVerdict(run({ wf, pod: outer, now: '10:05:00' }), 'keep', 'scope-live');
  });

  it('the v3.5 layout (ARGO_TEMPLATE in every container) reads the same', () => {
    const wf = dag({ services: 'Succeeded', servicesFinished: iso('10:04:00'), daemoned: [false, false] });
    expectVerdict(run({ wf, pod: loopPod(0, { layout: 'v3.5' }), now: '10:05:00' }), 'reap', 'boundary-fulfilled');
  });
});

// ---------------------------------------------------------------------------------------------------
// 4. Exit handlers: the workflow-level onExit node has boundaryID "".
// ---------------------------------------------------------------------------------------------------
const ex = 'exit-daemon-q8r4t';
const exUid = '9e8d7c6b-5a49-4382-9171-6f5e4d3c2b1a';
function exitWf(o: { root: string; onExit: string; onExitFinished?: string; wfPhase: string; wfFinished?: string; mainDb: boolean; exitDb: boolean; directDaemon?: boolean }): WorkflowSpec {
  const onExit = `${ex}.onExit`;
  const nodes: NodeSpec[] = [
    { name: ex, type: 'Steps', phase: o.root, template: 'main', finishedAt: o.root === 'Running' ? undefined : iso('10:04:00'), children: [`${ex}[0]`] },
    { name: `${ex}[0]`, type: 'StepGroup', phase: 'Succeeded', boundary: ex, children: [`${ex}[0].db`] },
    { name: `${ex}[0].db`, type: 'Pod', phase: o.mainDb ? 'Running' : 'Succeeded', daemoned: o.mainDb, boundary: ex, template: 'redis' },
    { name: onExit, type: 'Steps', phase: o.onExit, template: 'cleanup', finishedAt: o.onExitFinished, children: [`${onExit}[0]`] },
    { name: `${onExit}[0]`, type: 'StepGroup', phase: 'Running', boundary: onExit, children: [`${onExit}[0].cache`] },
    { name: `${onExit}[0].cache`, type: 'Pod', phase: o.exitDb ? 'Running' : 'Succeeded', daemoned: o.exitDb, boundary: onExit, template: 'redis' },
  ];
  if (o.directDaemon) nodes.push({ name: `${ex}.onExit-svc`, type: 'Pod', phase: 'Running', daemoned: true, template: 'redis' });
  return { name: ex, uid: exUid, phase: o.wfPhase, finishedAt: o.wfFinished, nodes };
}
const exPod = (nodeName: string): PodSpec => ({ workflow: ex, workflowUid: exUid, nodeName, template: redisDaemon, phase: 'Running', extraLabels: nodeName.includes('onExit') ? { 'workflows.argoproj.io/on-exit': 'true' } : {} });

describe('exit handlers', () => {
  it('main body done, onExit running: the body daemon is reaped, the exit-handler daemon kept', () => {
    const wf = exitWf({ root: 'Succeeded', onExit: 'Running', wfPhase: 'Running', mainDb: true, exitDb: true });
    expectVerdict(run({ wf, pod: exPod(`${ex}[0].db`), now: '10:06:00' }), 'reap', 'boundary-fulfilled', '10:05:00');
    expectVerdict(run({ wf, pod: exPod(`${ex}.onExit[0].cache`), now: '10:06:00' }), 'keep', 'scope-live');
  });

  it('a daemon whose boundary is "" (directly under the workflow) lives exactly as long as the workflow', () => {
    const live = exitWf({ root: 'Succeeded', onExit: 'Running', wfPhase: 'Running', mainDb: false, exitDb: true, directDaemon: true });
    expectVerdict(run({ wf: live, pod: exPod(`${ex}.onExit-svc`), now: '10:06:00' }), 'keep', 'scope-live');
    const done = exitWf({ root: 'Succeeded', onExit: 'Succeeded', onExitFinished: iso('10:07:00'), wfPhase: 'Succeeded', wfFinished: iso('10:07:01'), mainDb: false, exitDb: false, directDaemon: true });
    expectVerdict(run({ wf: done, pod: exPod(`${ex}.onExit-svc`), now: '10:07:30' }), 'wait', 'workflow-complete', '10:08:01');
    expectVerdict(run({ wf: done, pod: exPod(`${ex}.onExit-svc`), now: '10:08:01' }), 'reap', 'workflow-complete');
  });

  it('onExit done too: the exit daemon is reaped from its own boundary time', () => {
    const wf = exitWf({ root: 'Succeeded', onExit: 'Succeeded', onExitFinished: iso('10:07:00'), wfPhase: 'Succeeded', wfFinished: iso('10:07:01'), mainDb: false, exitDb: false });
    expectVerdict(run({ wf, pod: exPod(`${ex}.onExit[0].cache`), now: '10:08:00' }), 'reap', 'boundary-fulfilled', '10:08:00');
  });
});

// ---------------------------------------------------------------------------------------------------
// 5. A containerSet daemon: one pod, Container child nodes.
// ---------------------------------------------------------------------------------------------------
describe('container set daemon', () => {
  const cs = 'cs-daemon-m2n3b';
  const uid = '11111111-2222-4333-8444-555555555555';
  const svc = `${cs}[0].svc`;
  const wf = (scope: string, daemoned: boolean): WorkflowSpec => ({
    name: cs,
    uid,
    phase: 'Running',
    nodes: [
      { name: cs, type: 'Steps', phase: scope, template: 'main', finishedAt: scope === 'Running' ? undefined : iso('10:02:00'), children: [`${cs}[0]`] },
      { name: `${cs}[0]`, type: 'StepGroup', phase: 'Succeeded', boundary: cs, children: [svc] },
      { name: svc, type: 'Pod', phase: 'Running', daemoned, boundary: cs, template: 'svc-set', children: [`${svc}.main`, `${svc}.exporter`] },
      { name: `${svc}.main`, type: 'Container', phase: 'Running', boundary: cs, template: 'svc-set' },
      { name: `${svc}.exporter`, type: 'Container', phase: 'Running', boundary: cs, template: 'svc-set' },
    ],
  });
  const pod: PodSpec = { workflow: cs, workflowUid: uid, nodeName: svc, template: setDaemon, phase: 'Running' };
  it('is joined through the Pod node, kept while live, reaped when its scope ended', () => {
    expectVerdict(run({ wf: wf('Running', true), pod, now: '10:05:00' }), 'keep', 'scope-live');
    expectVerdict(run({ wf: wf('Error', true), pod, now: '10:05:00' }), 'reap', 'boundary-fulfilled', '10:03:00');
  });
});

// ---------------------------------------------------------------------------------------------------
// 6. Owner gone: deleted, orphaned (--cascade=orphan), or the name reused by another run.
// ---------------------------------------------------------------------------------------------------
describe('owner gone', () => {
  it('Workflow deleted, pod orphaned (no ownerReference), uid from the guard label: owner-gone from firstSeen', () => {
    const pod = dbPod({ orphaned: true, guardLabels: true });
    const v = run({ wf: undefined, pod, now: '10:20:30', firstSeen: at('10:20:00') });
    expectVerdict(v, 'wait', 'owner-gone', '10:21:00');
    expect(v.timeFrom).toBe('first-seen');
    expect(v.detail).toContain('workflow-uid label');
    expectVerdict(run({ wf: undefined, pod, now: '10:21:00', firstSeen: at('10:20:00') }), 'reap', 'owner-gone');
  });

  it('orphaned and never labeled by the webhook: the uid comes from ARGO_WORKFLOW_UID', () => {
    const p = readPod(argoPod(dbPod({ orphaned: true })));
    expect(p).toMatchObject({ workflowUid: nsUid, workflowUidSource: 'env' });
    const v = run({ wf: undefined, pod: dbPod({ orphaned: true }), now: '10:21:00', firstSeen: at('10:20:00') });
    expectVerdict(v, 'reap', 'owner-gone');
    expect(v.detail).toContain('ARGO_WORKFLOW_UID');
  });

  it('orphaned while the Workflow is still being deleted (orphan finalizer): workflow-deleting', () => {
    const wf = nested({ scope: 'Running', db: 'daemoned' });
    wf.deletionTimestamp = iso('10:20:00');
    expectVerdict(run({ wf, pod: dbPod({ orphaned: true, guardLabels: true }), now: '10:21:00' }), 'reap', 'workflow-deleting');
  });

  it('orphaned, with no uid anywhere, and no Workflow of that name: its run is certainly gone', () => {
    expectVerdict(run({ wf: undefined, pod: dbPod({ orphaned: true, noUidEnv: true }), now: '10:21:00', firstSeen: at('10:20:00') }), 'reap', 'owner-gone');
  });

  it('orphaned, with no uid anywhere, while a Workflow of that name exists: unknown (which run?)', () => {
    const wf = nested({ scope: 'Running', db: 'daemoned' });
    expectVerdict(run({ wf, pod: dbPod({ orphaned: true, noUidEnv: true }), now: '12:00:00' }), 'unknown', 'workflow-uid-unknown');
  });

  it('name reused: a new run with the same node ids and a live daemoned node does not protect the old run\'s pod', () => {
    const newRun = { ...nested({ scope: 'Running', db: 'daemoned' }), uid: 'ffffffff-0000-4000-8000-000000000001' };
    const old = dbPod({ orphaned: true, guardLabels: true, uid: 'old-pod' });
    const v = run({ wf: newRun, pod: old, now: '10:21:00', firstSeen: at('10:20:00') });
    expectVerdict(v, 'reap', 'owner-gone');
    expect(v.detail).toContain('another run reused the name');
    // The new run's own daemon in the same node: kept.
    expectVerdict(run({ wf: newRun, pod: dbPod({ workflowUid: newRun.uid }), now: '10:21:00' }), 'keep', 'scope-live');
  });

  it('owner-gone never reaps a non-daemon', () => {
    const pod: PodSpec = { workflow: ns, workflowUid: nsUid, nodeName: `${ns}[1].after`, template: clientStep, phase: 'Running', orphaned: true };
    expectVerdict(run({ wf: undefined, pod, now: '23:00:00', firstSeen: at('10:00:00') }), 'keep', 'not-a-daemon');
  });
});

// ---------------------------------------------------------------------------------------------------
// 7. The pod's own state, its identity, and whether it is a daemon at all.
// ---------------------------------------------------------------------------------------------------
describe('pod state and daemon-ness', () => {
  const ended = () => nested({ scope: 'Succeeded', scopeFinished: iso('10:03:00'), db: 'stopped' });

  it.each(['Pending', 'Succeeded', 'Failed', 'Unknown'] as const)('a %s daemon pod in an ended scope is kept (pod-not-running)', (phase) => {
    expectVerdict(run({ wf: ended(), pod: dbPod({ phase }), now: '12:00:00' }), 'keep', 'pod-not-running');
  });

  it('a pod already being deleted is kept (pod-terminating)', () => {
    expectVerdict(run({ wf: ended(), pod: dbPod({ deletionTimestamp: iso('11:00:00') }), now: '12:00:00' }), 'keep', 'pod-terminating');
  });

  it('a pod recreated under the same name (uid changed since queued) is kept (pod-uid-changed)', () => {
    expectVerdict(run({ wf: ended(), pod: dbPod({ uid: 'new' }), queuedUid: 'old', now: '12:00:00' }), 'keep', 'pod-uid-changed');
    expectVerdict(run({ wf: ended(), pod: dbPod({ uid: 'same' }), queuedUid: 'same', now: '12:00:00' }), 'reap', 'boundary-fulfilled');
  });

  it('offloaded template, ConfigMap read: a daemon by its template', () => {
    const offloaded = { ok: true as const, json: argoTemplateJson(redisDaemon) };
    const p = readPod(argoPod(dbPod({ offloaded: true })), offloaded);
    expect(p.daemon).toEqual({ kind: 'daemon', template: 'redis', source: 'template' });
    expectVerdict(run({ wf: ended(), pod: dbPod({ offloaded: true }), offloaded, now: '12:00:00' }), 'reap', 'boundary-fulfilled');
  });

  it('offloaded template, ConfigMap gone, guard label present: a daemon by the label', () => {
    const p = readPod(argoPod(dbPod({ offloaded: true, guardLabels: true })));
    expect(p.daemon).toEqual({ kind: 'daemon', template: 'redis', source: 'label' });
    const v = run({ wf: ended(), pod: dbPod({ offloaded: true, guardLabels: true }), now: '12:00:00' });
    expectVerdict(v, 'reap', 'boundary-fulfilled');
    expect(v.detail).toContain('by the guard label');
  });

  it('offloaded template, ConfigMap unread, no guard label: unknown (template-unknown), never reaped', () => {
    expectVerdict(run({ wf: ended(), pod: dbPod({ offloaded: true }), now: '12:00:00' }), 'unknown', 'template-unknown');
    expectVerdict(run({ wf: ended(), pod: dbPod({ offloaded: true }), offloaded: { ok: false, reason: 'configmaps "x" not found' }, now: '12:00:00' }), 'unknown', 'template-unknown');
  });

  it('the template wins over a stray guard label: a non-daemon stays a non-daemon', () => {
    const pod: PodSpec = { workflow: ns, workflowUid: nsUid, nodeName: `${ns}[1].after`, template: clientStep, phase: 'Running', guardLabels: true };
    expectVerdict(run({ wf: undefined, pod, now: '23:00:00' }), 'keep', 'not-a-daemon');
  });

  it('agent pods and pods without a node-id annotation are not workflow pods', () => {
    const agent = argoPod(dbPod());
    agent.metadata.labels['workflows.argoproj.io/component'] = 'agent';
    const verdict = decide({ pod: readPod(agent), workflow: undefined, now: at('12:00:00'), config: reaperConfig() });
    expectVerdict(verdict, 'keep', 'not-a-workflow-pod');
    const bare = argoPod(dbPod());
    delete bare.metadata.annotations['workflows.argoproj.io/node-id'];
    expectVerdict(decide({ pod: readPod(bare), workflow: undefined, now: at('12:00:00'), config: reaperConfig() }), 'keep', 'not-a-workflow-pod');
    expectVerdict(decide({ pod: readPod({ metadata: { name: 'nginx' } }), workflow: undefined, now: at('12:00:00'), config: reaperConfig() }), 'keep', 'not-a-workflow-pod');
  });

  it('never reaps for age: a live daemon days old is kept', () => {
    expectVerdict(run({ wf: nested({ scope: 'Running', db: 'daemoned' }), pod: dbPod(), now: '23:59:59', firstSeen: at('00:00:00') }), 'keep', 'scope-live');
  });
});

// ---------------------------------------------------------------------------------------------------
// 8. Node missing from a readable status.
// ---------------------------------------------------------------------------------------------------
describe('node missing', () => {
  const withoutDb = () => {
    const wf = nested({ scope: 'Running', db: 'daemoned' });
    wf.nodes = wf.nodes.filter((n) => !n.name.endsWith('.db'));
    return wf;
  };

  it('waits nodeMissingGrace from firstSeen (controller lag), then reports (unknown) by default', () => {
    expectVerdict(run({ wf: withoutDb(), pod: dbPod(), now: '10:04:00', firstSeen: at('10:00:00') }), 'wait', 'node-missing', '10:05:00');
    const v = run({ wf: withoutDb(), pod: dbPod(), now: '10:05:00', firstSeen: at('10:00:00') });
    expectVerdict(v, 'unknown', 'node-missing', null);
    expect(v.timeFrom).toBe('first-seen');
  });

  it('reaps after the grace only with nodeMissing: reap', () => {
    const config = { nodeMissing: 'reap' as const, nodeMissingGrace: '10m' };
    expectVerdict(run({ wf: withoutDb(), pod: dbPod(), now: '10:09:59', firstSeen: at('10:00:00'), config }), 'wait', 'node-missing', '10:10:00');
    expectVerdict(run({ wf: withoutDb(), pod: dbPod(), now: '10:10:00', firstSeen: at('10:00:00'), config }), 'reap', 'node-missing', '10:10:00');
  });

  it('a missing node of a completed workflow is simply workflow-complete', () => {
    const wf = { ...withoutDb(), phase: 'Succeeded', finishedAt: iso('10:06:00') };
    expectVerdict(run({ wf, pod: dbPod(), now: '10:07:00' }), 'reap', 'workflow-complete');
  });

  it('firstSeen per reason: each reason waits from its own first sighting', () => {
    const seen = new Map<Reason, Date>([['node-missing', at('09:00:00')]]);
    const firstSeen = (r: Reason) => seen.get(r);
    expectVerdict(run({ wf: withoutDb(), pod: dbPod(), now: '10:00:00', firstSeen }), 'unknown', 'node-missing');
    // owner-gone was never seen before: its grace starts now.
    expectVerdict(run({ wf: undefined, pod: dbPod({ orphaned: true }), now: '10:00:00', firstSeen }), 'wait', 'owner-gone', '10:01:00');
  });
});

// ---------------------------------------------------------------------------------------------------
// 9. The reaper's scope: namespaces and controller instance id.
// ---------------------------------------------------------------------------------------------------
describe('out of scope', () => {
  const ended = () => nested({ scope: 'Succeeded', scopeFinished: iso('10:03:00'), db: 'stopped' });
  it('namespaces outside the watch list are kept', () => {
    expectVerdict(run({ wf: ended(), pod: dbPod(), now: '12:00:00', config: { namespaces: ['team-*'] } }), 'keep', 'out-of-scope');
    expectVerdict(run({ wf: ended(), pod: dbPod(), now: '12:00:00', config: { namespaces: ['ar*'] } }), 'reap', 'boundary-fulfilled');
  });
  it('with an instance id, only pods of that controller instance', () => {
    expectVerdict(run({ wf: ended(), pod: dbPod(), now: '12:00:00', config: { instanceId: 'ci' } }), 'keep', 'out-of-scope');
    expectVerdict(run({ wf: ended(), pod: dbPod({ instanceId: 'ci' }), now: '12:00:00', config: { instanceId: 'ci' } }), 'reap', 'boundary-fulfilled');
    // Without one, the reaper handles every workflow pod, labeled with an instance id or not.
    expectVerdict(run({ wf: ended(), pod: dbPod({ instanceId: 'other' }), now: '12:00:00' }), 'reap', 'boundary-fulfilled');
  });
});

describe('stuckAt', () => {
  it('is the pod\'s deletionTimestamp (delete + its grace) plus the margin; null when not being deleted', () => {
    const pod = readPod(argoPod(dbPod({ deletionTimestamp: iso('10:00:30') })));
    expect(stuckAt(pod, reaperConfig())?.toISOString()).toBe(new Date(iso('10:01:00')).toISOString());
    expect(stuckAt(pod, reaperConfig({ graceMargin: '2m' }))?.toISOString()).toBe(new Date(iso('10:02:30')).toISOString());
    expect(stuckAt(readPod(argoPod(dbPod())), reaperConfig())).toBeNull();
  });
});
