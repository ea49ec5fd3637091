// Property test: random workflows with nested Steps/DAG scopes, an optional exit handler and daemons
// (some retried, some directly under the workflow), driven through random histories of what Argo's
// controller does and what goes wrong: daemons start and become ready;
// scopes end cleanly (killDaemonedChildren) or through an error return; the kill is lost or works;
// stop/terminate; the workflow completes, is deleted, deleted with --cascade=orphan, or replaced by a
// run of the same name; pods are recreated or already terminating; nodes vanish; the status is
// compressed or offloaded. After each history every pod is decided through the real readers.
//
// The oracle below is written from the facts, independently of decide.ts:
//   - a live daemon (daemoned node, live boundary, its own run Running and not deleting) and a
//     non-daemon are never reaped;
//   - every leftover (as decide.ts defines it) is `wait` or `reap`, and `reap` once past Argo's grace.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readWorkflow } from '../argo/status.ts';
import { reaperConfig } from './config.ts';
import { decide, type Verdict } from './decide.ts';
import { readPod } from './pod.ts';
import { reasons } from './reasons.ts';
import { argoTemplateJson, type Json } from '../../test/fixtures/pods.ts';
import { argoPod, clientStep, encodings, redisDaemon, workflowObject, type Encoding, type NodeSpec } from '../../test/support/workflows.ts';

const WF = 'prop-wf-z9x8c';
const T0 = Date.parse('2025-03-01T10:00:00Z');
const fulfilled = (phase: string) => ['Succeeded', 'Failed', 'Error', 'Skipped', 'Omitted'].includes(phase);
const complete = (phase: string) => ['Succeeded', 'Failed', 'Error'].includes(phase);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

// ---- the model ----

interface Scope {
  name: string;
  type: 'Steps' | 'DAG';
  /** Index of the enclosing scope; -1 for the root and the workflow-level onExit node (boundaryID ""). */
  parent: number;
  phase: string;
  finishedAt: number | undefined;
}

interface PodSim {
  index: number;
  nodeName: string;
  /** Index of the boundary scope; -1: boundaryID "" (directly under the workflow). */
  scope: number;
  template: Json;
  daemon: boolean;
  retry: boolean;
  nodePhase: string;
  daemoned: boolean;
  nodePresent: boolean;
  podPhase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  terminating: number | undefined;
  recreated: boolean;
  orphaned: boolean;
  labeled: boolean;
  layout: 'v3.5' | 'legacy' | 'init-less';
  offloadedTemplate: boolean;
  configMapRead: boolean;
  tgps: number;
  /** Uid of the Workflow run that created the pod. */
  runUid: string;
}

interface WfSim {
  exists: boolean;
  uid: string;
  phase: string;
  finishedAt: number | undefined;
  deletionTimestamp: number | undefined;
  encoding: Encoding;
  scopes: Scope[];
  pods: PodSim[];
  runs: number;
}

// ---- arbitraries ----

const timeKind = fc.constantFrom('now', 'now', 'now', 'none', 'future');
const structureArb = fc.record({
  rootType: fc.constantFrom<'Steps' | 'DAG'>('Steps', 'DAG'),
  nested: fc.array(fc.record({ parent: fc.nat(), type: fc.constantFrom<'Steps' | 'DAG'>('Steps', 'DAG') }), { maxLength: 4 }),
  exit: fc.boolean(),
  pods: fc.array(
    fc.record({
      scope: fc.integer({ min: -1, max: 12 }),
      daemon: fc.constantFrom(true, true, true, false),
      retry: fc.boolean(),
      layout: fc.constantFrom<PodSim['layout']>('v3.5', 'legacy', 'init-less'),
      offloadedTemplate: fc.constantFrom(false, false, false, true),
      configMapRead: fc.boolean(),
      labeled: fc.constantFrom(true, true, false),
      tgps: fc.constantFrom(0, 1, 30, 120),
      startRunning: fc.boolean(),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});
const eventArb = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('start' as const), p: fc.nat() }), weight: 4 },
  // legacy: Argo before v3 marked a ready daemon Succeeded AND daemoned; since, Running and daemoned.
  { arbitrary: fc.record({ t: fc.constant('ready' as const), p: fc.nat(), legacy: fc.constantFrom(false, false, true) }), weight: 6 },
  {
    arbitrary: fc.record({
      t: fc.constant('scopeEnd' as const),
      s: fc.nat(),
      phase: fc.constantFrom('Succeeded', 'Succeeded', 'Failed', 'Error', 'Skipped', 'Omitted'),
      clean: fc.boolean(),
      killWorks: fc.boolean(),
      time: timeKind,
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ t: fc.constant('podDies' as const), p: fc.nat(), phase: fc.constantFrom<'Succeeded' | 'Failed'>('Succeeded', 'Failed') }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('execStop' as const), p: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({
      t: fc.constant('wfComplete' as const),
      phase: fc.constantFrom('Succeeded', 'Failed', 'Error'),
      clean: fc.boolean(),
      killWorks: fc.boolean(),
      time: timeKind,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ t: fc.constant('wfDelete' as const), time: timeKind }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('wfGone' as const) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('wfReplaced' as const), daemoned: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('podTerminating' as const), p: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('podRecreated' as const), p: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('orphan' as const), p: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('nodeVanish' as const), p: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constant('offload' as const) }), weight: 1 },
);
type Event = typeof eventArb extends fc.Arbitrary<infer E> ? E : never;
const historyArb = fc.array(fc.record({ gap: fc.integer({ min: 1, max: 600 }), event: eventArb }), { maxLength: 30 });
const endArb = fc.record({
  encoding: fc.constantFrom(...encodings.filter((e) => e !== 'offloaded')),
  after: fc.integer({ min: 0, max: 3 * 3600 }),
  firstSeenBack: fc.integer({ min: 0, max: 3 * 3600 }),
  margin: fc.constantFrom(0, 30, 120),
  nodeMissing: fc.constantFrom<'report' | 'reap'>('report', 'reap'),
});

// ---- building the workflow and driving it ----

type Structure = typeof structureArb extends fc.Arbitrary<infer S> ? S : never;

function build(s: Structure, encoding: Encoding): WfSim {
  const scopes: Scope[] = [{ name: WF, type: s.rootType, parent: -1, phase: 'Running', finishedAt: undefined }];
  s.nested.forEach((n, i) => {
    const parent = n.parent % scopes.length;
    const p = scopes[parent]!;
    const name = p.type === 'Steps' ? `${p.name}[${i}].s${i + 1}` : `${p.name}.s${i + 1}`;
    scopes.push({ name, type: n.type, parent, phase: 'Running', finishedAt: undefined });
  });
  if (s.exit) scopes.push({ name: `${WF}.onExit`, type: 'Steps', parent: -1, phase: 'Running', finishedAt: undefined });
  const pods = s.pods.map((p, j): PodSim => {
    const scope = p.scope < 0 ? -1 : p.scope % scopes.length;
    const base = scope < 0 ? `${WF}.x${j}` : scopes[scope]!.type === 'Steps' ? `${scopes[scope]!.name}[${j}].d${j}` : `${scopes[scope]!.name}.d${j}`;
    return {
      index: j,
      nodeName: p.retry ? `${base}(0)` : base,
      scope,
      template: p.daemon ? redisDaemon : clientStep,
      daemon: p.daemon,
      retry: p.retry,
      nodePhase: p.startRunning ? 'Running' : 'Pending',
      daemoned: false,
      nodePresent: true,
      podPhase: p.startRunning ? 'Running' : 'Pending',
      terminating: undefined,
      recreated: false,
      orphaned: false,
      labeled: p.labeled && p.daemon,
      layout: p.layout,
      offloadedTemplate: p.offloadedTemplate,
      configMapRead: p.configMapRead,
      tgps: p.tgps,
      runUid: 'run-1',
    };
  });
  return { exists: true, uid: 'run-1', phase: 'Running', finishedAt: undefined, deletionTimestamp: undefined, encoding, scopes, pods, runs: 1 };
}

const boundaryName = (w: WfSim, p: PodSim) => (p.scope < 0 ? '' : w.scopes[p.scope]!.name);

/** killDaemonedChildren(boundary): daemoned nodes → Succeeded, not daemoned; the kill may or may not work. */
function killDaemonedChildren(w: WfSim, boundary: string, killWorks: boolean) {
  for (const p of w.pods) {
    if (boundaryName(w, p) !== boundary || !p.daemoned || !p.nodePresent) continue;
    p.nodePhase = 'Succeeded';
    p.daemoned = false;
    if (killWorks && p.podPhase === 'Running' && p.runUid === w.uid) p.podPhase = 'Failed';
  }
}

function at(kind: string, t: number): number | undefined {
  return kind === 'now' ? t : kind === 'future' ? t + 86_400_000 : undefined;
}

function apply(w: WfSim, e: Event, t: number) {
  const pod = 'p' in e ? w.pods[e.p % w.pods.length]! : undefined;
  switch (e.t) {
    case 'start':
      if (pod!.podPhase === 'Pending') {
        pod!.podPhase = 'Running';
        if (!fulfilled(pod!.nodePhase)) pod!.nodePhase = 'Running';
      }
      break;
    case 'ready':
      // Argo marks a node daemoned only for a daemon template, Running and ready, not yet fulfilled.
      if (pod!.daemon && pod!.podPhase === 'Running' && !fulfilled(pod!.nodePhase) && !pod!.daemoned && w.exists && pod!.runUid === w.uid) {
        pod!.nodePhase = e.legacy ? 'Succeeded' : 'Running';
        pod!.daemoned = true;
      }
      break;
    case 'scopeEnd': {
      if (!w.exists) break;
      const scope = w.scopes[e.s % w.scopes.length]!;
      if (fulfilled(scope.phase)) break;
      scope.phase = e.phase;
      scope.finishedAt = at(e.time, t);
      if (e.clean) killDaemonedChildren(w, scope.name, e.killWorks);
      break;
    }
    case 'podDies':
      pod!.podPhase = e.phase;
      pod!.daemoned = false;
      if (!fulfilled(pod!.nodePhase)) pod!.nodePhase = pod!.daemon ? 'Failed' : e.phase;
      break;
    case 'execStop':
      // Stop/terminate through execution control: the node is marked Failed; the exec may have failed.
      if (!fulfilled(pod!.nodePhase) || pod!.daemoned) ((pod!.nodePhase = 'Failed'), (pod!.daemoned = false));
      break;
    case 'wfComplete':
      if (!w.exists || complete(w.phase)) break;
      if (e.clean) killDaemonedChildren(w, '', e.killWorks);
      w.phase = e.phase;
      w.finishedAt = at(e.time, t);
      break;
    case 'wfDelete':
      if (w.exists && w.deletionTimestamp === undefined) w.deletionTimestamp = at(e.time, t) ?? t;
      break;
    case 'wfGone':
      // --cascade=orphan: the Workflow goes, the garbage collector strips every pod's ownerReference.
      w.exists = false;
      for (const p of w.pods) p.orphaned = true;
      break;
    case 'wfReplaced':
      // A new run under the same name: a new uid, the same node ids, all live again.
      w.runs += 1;
      Object.assign(w, { exists: true, uid: `run-${w.runs}`, phase: 'Running', finishedAt: undefined, deletionTimestamp: undefined });
      for (const s of w.scopes) ((s.phase = 'Running'), (s.finishedAt = undefined));
      for (const p of w.pods) ((p.nodePresent = true), (p.nodePhase = 'Running'), (p.daemoned = p.daemon && e.daemoned));
      break;
    case 'podTerminating':
      pod!.terminating ??= t;
      break;
    case 'podRecreated':
      pod!.recreated = true;
      break;
    case 'orphan':
      pod!.orphaned = true;
      break;
    case 'nodeVanish':
      pod!.nodePresent = false;
      break;
    case 'offload':
      w.encoding = 'offloaded';
      break;
  }
}

function workflowJson(w: WfSim): Json | undefined {
  if (!w.exists) return undefined;
  const nodes: NodeSpec[] = [];
  for (const s of w.scopes) {
    nodes.push({ name: s.name, type: s.type, phase: s.phase, finishedAt: iso(s.finishedAt), boundary: s.parent < 0 ? undefined : w.scopes[s.parent]!.name });
  }
  for (const p of w.pods) {
    const boundary = boundaryName(w, p) || undefined;
    if (boundary && w.scopes[p.scope]!.type === 'Steps') nodes.push({ name: `${boundary}[${p.index}]`, type: 'StepGroup', phase: 'Running', boundary });
    if (p.retry) nodes.push({ name: p.nodeName.slice(0, -3), type: 'Retry', phase: p.nodePhase, boundary, daemoned: p.daemoned });
    // A daemon node's finishedAt is set when it became ready: a trap for anyone who reads it.
    if (p.nodePresent) nodes.push({ name: p.nodeName, type: 'Pod', phase: p.nodePhase, boundary, daemoned: p.daemoned, template: String(p.template.name), finishedAt: iso(T0) });
  }
  return workflowObject({ name: WF, uid: w.uid, phase: w.phase, finishedAt: iso(w.finishedAt), deletionTimestamp: iso(w.deletionTimestamp), nodes, encoding: w.encoding });
}

// ---- the oracle, from the facts ----

function liveDaemon(w: WfSim, p: PodSim): boolean {
  if (!p.daemon || !w.exists || w.uid !== p.runUid || w.deletionTimestamp !== undefined || complete(w.phase)) return false;
  if (!p.nodePresent || !p.daemoned) return false;
  return p.scope < 0 || !fulfilled(w.scopes[p.scope]!.phase);
}

function leftover(w: WfSim, p: PodSim): boolean {
  if (!p.daemon || p.podPhase !== 'Running' || p.terminating !== undefined || p.recreated) return false;
  if (!w.exists || w.uid !== p.runUid) return true;
  if (w.deletionTimestamp !== undefined || complete(w.phase)) return true;
  if (w.encoding === 'offloaded' || !p.nodePresent) return false;
  if (fulfilled(p.nodePhase) && !p.daemoned) return true;
  return p.scope >= 0 && fulfilled(w.scopes[p.scope]!.phase);
}

/** Every moment the status could name as a scope's end, plus firstSeen, lies at least grace seconds back (or in the future). */
function pastGrace(w: WfSim, p: PodSim, now: number, firstSeen: number, margin: number): boolean {
  const g = (p.tgps + margin) * 1000;
  const times = [w.finishedAt, w.deletionTimestamp, ...w.scopes.map((s) => s.finishedAt)].filter((x): x is number => x !== undefined);
  return firstSeen <= now - g && times.every((x) => x > now || x <= now - g);
}

function decideAll(w: WfSim, now: number, firstSeen: number, margin: number, nodeMissing: 'report' | 'reap'): Verdict[] {
  const raw = workflowJson(w);
  const wf = raw ? readWorkflow(raw) : undefined;
  if (wf && !wf.ok) throw new Error(wf.reason);
  const config = reaperConfig({ graceMargin: margin, nodeMissing });
  return w.pods.map((p) => {
    const podJson = argoPod({
      workflow: WF,
      workflowUid: p.runUid,
      nodeName: p.nodeName,
      template: p.template,
      phase: p.podPhase,
      uid: `pod-${p.index}`,
      layout: p.layout,
      offloaded: p.offloadedTemplate,
      guardLabels: p.labeled,
      orphaned: p.orphaned,
      deletionTimestamp: iso(p.terminating),
      terminationGracePeriodSeconds: p.tgps,
    });
    const offloaded = p.offloadedTemplate && p.configMapRead ? { ok: true as const, json: argoTemplateJson(p.template) } : undefined;
    return decide({
      pod: readPod(podJson, offloaded),
      workflow: wf?.value,
      now: new Date(now),
      firstSeen: new Date(firstSeen),
      config,
      queuedUid: p.recreated ? 'an-earlier-pod' : `pod-${p.index}`,
    });
  });
}

describe('decide over random workflow histories', () => {
  it('never reaps a live daemon or a non-daemon; reaps every leftover once past grace', () => {
    const stats = { reap: 0, wait: 0, keep: 0, unknown: 0, leftover: 0, live: 0 };
    fc.assert(
      fc.property(structureArb, historyArb, endArb, (structure, history, end) => {
        const w = build(structure, end.encoding);
        let t = T0;
        for (const { gap, event } of history) {
          t += gap * 1000;
          apply(w, event, t);
        }
        const now = t + end.after * 1000;
        const firstSeen = now - end.firstSeenBack * 1000;
        const verdicts = decideAll(w, now, firstSeen, end.margin, end.nodeMissing);
        w.pods.forEach((p, i) => {
          const v = verdicts[i]!;
          const why = `${p.nodeName}: ${v.decision} ${v.reason} — ${v.detail}`;
          stats[v.decision] += 1;
          expect(reasons[v.reason].decisions as readonly string[], why).toContain(v.decision);
          const isLeftover = leftover(w, p);
          const knowable = !p.offloadedTemplate || p.configMapRead || p.labeled;
          if (isLeftover) stats.leftover += 1;
          if (liveDaemon(w, p)) stats.live += 1;

          if (v.decision === 'reap') {
            expect(p.daemon, `reaped a non-daemon: ${why}`).toBe(true);
            expect(liveDaemon(w, p), `reaped a live daemon: ${why}`).toBe(false);
            expect(p.podPhase === 'Running' && p.terminating === undefined && !p.recreated, `reaped a pod not running: ${why}`).toBe(true);
            if (!isLeftover) expect(v.reason === 'node-missing' && end.nodeMissing === 'reap' && !p.nodePresent, `reaped a non-leftover: ${why}`).toBe(true);
            expect(v.notBefore!.getTime(), why).toBeLessThanOrEqual(now);
          }
          if (v.decision === 'wait') expect(v.notBefore!.getTime(), why).toBeGreaterThan(now);
          if (isLeftover && knowable) {
            expect(['wait', 'reap'], `leftover not acted on: ${why}`).toContain(v.decision);
            if (pastGrace(w, p, now, firstSeen, end.margin)) expect(v.decision, `leftover past grace not reaped: ${why}`).toBe('reap');
          }
          if (isLeftover && !knowable) expect(v.reason, why).toBe('template-unknown');
        });
      }),
      { numRuns: 3000 },
    );
    // The generator reaches every interesting state, not just the easy ones.
    expect(stats.reap).toBeGreaterThan(100);
    expect(stats.wait).toBeGreaterThan(100);
    expect(stats.live).toBeGreaterThan(100);
    expect(stats.unknown).toBeGreaterThan(10);
  });

  it('a wait ends: deciding again at notBefore, with nothing else changed, reaps (or reports a missing node)', () => {
    fc.assert(
      fc.property(structureArb, historyArb, endArb, (structure, history, end) => {
        const w = build(structure, end.encoding);
        let t = T0;
        for (const { gap, event } of history) ((t += gap * 1000), apply(w, event, t));
        const now = t + end.after * 1000;
        const firstSeen = now - end.firstSeenBack * 1000;
        const first = decideAll(w, now, firstSeen, end.margin, end.nodeMissing);
        first.forEach((v, i) => {
          if (v.decision !== 'wait') return;
          const later = v.notBefore!.getTime();
          // A status time still in the future at `now` but not at `later` would be trusted then: skip those.
          const times = [w.finishedAt, w.deletionTimestamp, ...w.scopes.map((s) => s.finishedAt)];
          if (times.some((x) => x !== undefined && x > now && x <= later)) return;
          const again = decideAll(w, later, firstSeen, end.margin, end.nodeMissing)[i]!;
          expect(again.reason, again.detail).toBe(v.reason);
          expect(again.decision, again.detail).toBe(v.reason === 'node-missing' && end.nodeMissing === 'report' ? 'unknown' : 'reap');
        });
      }),
      { numRuns: 1000 },
    );
  });
});
