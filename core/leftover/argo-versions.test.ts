// The reaper's decisions on daemon pods and Workflows exactly as Argo v3.7.18 and v4.0.5 write them
// (test/fixtures/argo-versions.ts): the same decisions for both, through the readers the reaper uses.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readWorkflow, type WorkflowState } from '../argo/status.ts';
import { reaperConfig } from './config.ts';
import { decide, type Verdict } from './decide.ts';
import { readPod } from './pod.ts';
import type { Json } from '../../test/fixtures/pods.ts';
import {
  argoVersions,
  daemonStepInfluxNodeId,
  daemonStepInfluxPodUid,
  daemonStepPod,
  daemonStepRun,
  daemonStepWorkflow,
  type ArgoVersion,
  type DaemonStepStage,
} from '../../test/fixtures/argo-versions.ts';

const at = (hms: string) => new Date(`2025-03-01T${hms}Z`);

function state(wf: Json): WorkflowState {
  const r = readWorkflow(wf);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function verdict(o: { pod: Json; wf: Json | undefined; now: string; queuedUid?: string }): Verdict {
  return decide({ pod: readPod(o.pod), workflow: o.wf && state(o.wf), now: at(o.now), config: reaperConfig({}), queuedUid: o.queuedUid });
}

const short = (v: Verdict) => ({ decision: v.decision, reason: v.reason, notBefore: v.notBefore?.toISOString() ?? null });
const iso = (hms: string) => at(hms).toISOString();

describe.each(argoVersions)('Argo v%s: the daemon of examples/daemon-step through its run', (version: ArgoVersion) => {
  const wf = (stage: DaemonStepStage) => daemonStepWorkflow(version, stage);

  it('the status reads as the reaper needs it: the daemon node by the pod\'s node-id, its boundary the root Steps node', () => {
    const s = state(wf('daemon-ready'));
    expect(s.nodes.kind).toBe('nodes');
    if (s.nodes.kind !== 'nodes') return;
    expect(s.nodes.nodes.get(daemonStepInfluxNodeId)).toMatchObject({ type: 'Pod', phase: 'Running', daemoned: true, boundaryID: daemonStepRun.name });
    expect(s.nodes.nodes.get(daemonStepRun.name)).toMatchObject({ type: 'Steps', phase: 'Running', boundaryID: '' });
    expect(readPod(daemonStepPod(version))).toMatchObject({ nodeId: daemonStepInfluxNodeId, workflowUid: daemonStepRun.uid, workflowUidSource: 'owner', daemon: { kind: 'daemon', template: 'influxdb', source: 'template' } });
  });

  it('keeps the daemon while it starts and while it serves its live scope', () => {
    expect(short(verdict({ pod: daemonStepPod(version, { ready: false }), wf: wf('daemon-starting'), now: '10:00:08' }))).toMatchObject({ decision: 'keep', reason: 'scope-live' });
    expect(short(verdict({ pod: daemonStepPod(version), wf: wf('daemon-ready'), now: '10:30:00' }))).toMatchObject({ decision: 'keep', reason: 'scope-live' });
  });

  it('once the steps end, gives Argo the pod\'s grace and the margin, then reaps a daemon still running', () => {
    // Root Steps finished 10:00:45; terminationGracePeriodSeconds 30 + margin 30.
    expect(short(verdict({ pod: daemonStepPod(version), wf: wf('scope-ended'), now: '10:01:00' }))).toEqual({ decision: 'wait', reason: 'boundary-fulfilled', notBefore: iso('10:01:45') });
    expect(short(verdict({ pod: daemonStepPod(version), wf: wf('scope-ended'), now: '10:01:45' }))).toEqual({ decision: 'reap', reason: 'boundary-fulfilled', notBefore: iso('10:01:45') });
    expect(short(verdict({ pod: daemonStepPod(version), wf: wf('workflow-succeeded'), now: '10:02:00' }))).toMatchObject({ decision: 'reap', reason: 'boundary-fulfilled' });
  });

  it('leaves alone a daemon pod Argo did stop', () => {
    const stopped = daemonStepPod(version, { phase: 'Failed' });
    expect(short(verdict({ pod: stopped, wf: wf('workflow-succeeded'), now: '10:02:00' }))).toMatchObject({ decision: 'keep', reason: 'pod-not-running' });
  });

  it('a scope that ended in Error with its daemon still daemoned is a leftover too', () => {
    expect(short(verdict({ pod: daemonStepPod(version), wf: wf('scope-errored'), now: '10:01:30' }))).toEqual({ decision: 'reap', reason: 'boundary-fulfilled', notBefore: iso('10:01:30') });
  });

  it('the same answers from the gzip-compressed node map, the only encoding this version writes', () => {
    for (const stage of ['daemon-ready', 'scope-ended'] as const) {
      const plain = wf(stage);
      const status = plain.status as Json;
      const compressed = { ...plain, status: { ...status, nodes: undefined, compressedNodes: gzipSync(JSON.stringify(status.nodes)).toString('base64') } };
      expect(state(compressed).nodes).toMatchObject({ kind: 'nodes', source: 'gzip' });
      expect(short(verdict({ pod: daemonStepPod(version), wf: compressed, now: '10:05:00' }))).toEqual(short(verdict({ pod: daemonStepPod(version), wf: plain, now: '10:05:00' })));
    }
  });

  it('nodes offloaded to the database: unknown while the Workflow is live, a leftover once it is complete', () => {
    const offload = (w: Json) => ({ ...w, status: { ...(w.status as Json), nodes: undefined, offloadNodeStatusVersion: 'fnv:1836510341' } });
    expect(short(verdict({ pod: daemonStepPod(version), wf: offload(wf('scope-ended')), now: '10:05:00' }))).toMatchObject({ decision: 'unknown', reason: 'status-offloaded' });
    expect(short(verdict({ pod: daemonStepPod(version), wf: offload(wf('workflow-succeeded')), now: '10:05:00' }))).toMatchObject({ decision: 'reap', reason: 'workflow-complete' });
  });

  it('after an orphaning delete the executor\'s ARGO_WORKFLOW_UID still ties the pod to its (gone) Workflow', () => {
    const pod = daemonStepPod(version);
    delete (pod.metadata as Json).ownerReferences;
    expect(readPod(pod)).toMatchObject({ workflowUid: daemonStepRun.uid, workflowUidSource: 'env' });
    expect(short(verdict({ pod, wf: undefined, now: '10:05:00' }))).toMatchObject({ decision: 'wait', reason: 'owner-gone' });
  });
});

describe('Argo v4.0.5 only', () => {
  it('failedPodRestart: the evicted pod, its replacement and a queued old uid are all kept', () => {
    const wf = daemonStepWorkflow('4.0.5', 'daemon-restarting');
    const node = (wf.status as { nodes: Record<string, Json> }).nodes[daemonStepInfluxNodeId];
    expect(node).toMatchObject({ phase: 'Pending', failedPodRestarts: 1, restartingPodUID: daemonStepInfluxPodUid });
    const evicted = daemonStepPod('4.0.5', { phase: 'Failed' });
    expect(short(verdict({ pod: evicted, wf, now: '10:00:30' }))).toMatchObject({ decision: 'keep', reason: 'pod-not-running' });
    // Same name (the name comes from the node), new uid.
    const replacement = daemonStepPod('4.0.5', { uid: 'e8a1c3d5-7b29-4f60-8d14-a9c2b6e0f371', ready: false });
    expect(replacement.metadata.name).toBe(evicted.metadata.name);
    expect(short(verdict({ pod: replacement, wf, now: '10:00:40' }))).toMatchObject({ decision: 'keep', reason: 'scope-live' });
    expect(short(verdict({ pod: replacement, wf, now: '10:00:40', queuedUid: daemonStepInfluxPodUid }))).toMatchObject({ decision: 'keep', reason: 'pod-uid-changed' });
  });

  it('a daemon pod with an artifact-plugin sidecar is decided like any other', () => {
    const plugin = { name: 'my-s3', image: 'registry.example.com/argo-plugins/s3:v1', entrypoint: ['/s3-driver'], output: true };
    const pod = daemonStepPod('4.0.5', { controller: { artifactPlugins: [plugin] } });
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['wait', 'main', 'artifact-plugin-my-s3']);
    expect(short(verdict({ pod, wf: daemonStepWorkflow('4.0.5', 'daemon-ready'), now: '10:05:00' }))).toMatchObject({ decision: 'keep', reason: 'scope-live' });
    expect(short(verdict({ pod, wf: daemonStepWorkflow('4.0.5', 'scope-ended'), now: '10:05:00' }))).toMatchObject({ decision: 'reap', reason: 'boundary-fulfilled' });
  });

  it('the Workflow annotation v4 adds on every write changes nothing', () => {
    const v4 = daemonStepWorkflow('4.0.5', 'scope-ended');
    expect((v4.metadata as { annotations: Record<string, string> }).annotations['workflows.argoproj.io/last-seen-version']).toBeDefined();
    expect(state(v4)).toEqual(state(daemonStepWorkflow('3.7.18', 'scope-ended')));
  });
});
