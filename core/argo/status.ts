// A Workflow object reduced to what the reaper's decisions read: who it is,
// whether it is complete or being deleted, and its node map — from status.nodes, or decoded from
// status.compressedNodes (base64 of gzip / zstd / brotli JSON), or "offloaded" when Argo keeps the
// nodes in its SQL database. Never throws: a malformed object or an undecodable node map is a reason.
//
// The reaper keeps this shape in memory for every Workflow it watches (10,000 and more), so it holds
// only the nodes and fields a decision can read:
//   - Pod nodes (what a pod's node-id annotation points at): phase, daemoned, boundaryID, template;
//   - Steps and DAG nodes (the scopes a boundaryID points at): phase, boundaryID, finishedAt;
//   - nodes of a type this code does not know (a future Argo): kept whole, so they are never missing;
//   - every other type (StepGroup, TaskGroup, Retry, Container, Skipped, Suspend, HTTP, Plugin) is
//     dropped: no pod's node-id names one, and no boundaryID points at one.
// A Pod node's finishedAt is deliberately NOT kept: for a daemon it is the moment it became ready,
// and taking it as the moment a daemon ended would reap live daemons.
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib';
import { argo } from '../keys.ts';
import { at, preview, record, stringMap, text } from '../data.ts';
import type { Parsed } from './template.ts';

export const nodePhases = ['Pending', 'Running', 'Succeeded', 'Skipped', 'Failed', 'Error', 'Omitted'] as const;
/** A node phase as Argo writes it; '' when the field is missing or unrecognised (then: not fulfilled). */
export type NodePhase = (typeof nodePhases)[number] | '';

export const workflowPhases = ['Pending', 'Running', 'Succeeded', 'Failed', 'Error'] as const;
/** '' when the controller has not set a phase yet, or wrote one this code does not know. */
export type WorkflowPhase = (typeof workflowPhases)[number] | '';

/** Node types kept in memory; any type not listed in `droppedNodeTypes` is kept too. */
export const scopeNodeTypes = ['Steps', 'DAG'] as const;
export const droppedNodeTypes = ['StepGroup', 'TaskGroup', 'Retry', 'Container', 'Skipped', 'Suspend', 'HTTP', 'Plugin'] as const;

export interface NodeState {
  id: string;
  /** Argo's node type: Pod, Steps, DAG, or an unknown type kept as written. */
  type: string;
  phase: NodePhase;
  /** Id of the closest enclosing Steps/DAG node; '' for the root node and the workflow-level onExit node. */
  boundaryID: string;
  /** True only while Argo counts the daemon as up (Running and ready, not yet stopped). */
  daemoned: boolean;
  /** Pod nodes only: the template the pod runs (for messages). */
  templateName?: string;
  /** Scope (Steps/DAG) nodes only: when the scope finished, ms since the epoch, if written and valid. */
  finishedAt?: number;
}

export type Codec = 'gzip' | 'zstd' | 'brotli';

export type NodesState =
  | { kind: 'nodes'; source: 'inline' | Codec; nodes: ReadonlyMap<string, NodeState> }
  /** status.offloadNodeStatusVersion is set: the nodes are in Argo's database, nothing about scope is known. */
  | { kind: 'offloaded'; version: string }
  /** compressedNodes that do not decode, or a node map that is not a map: nothing about scope is known. */
  | { kind: 'unreadable'; reason: string };

export interface WorkflowState {
  uid: string;
  name: string;
  namespace: string;
  phase: WorkflowPhase;
  /** phase is Succeeded, Failed or Error (Argo does not complete a workflow while a node is daemoned). */
  completed: boolean;
  /** metadata.deletionTimestamp in ms since the epoch: the Workflow is being deleted. */
  deletionTimestamp: number | undefined;
  /** status.finishedAt in ms since the epoch, if written and valid. */
  finishedAt: number | undefined;
  /** The workflows.argoproj.io/controller-instanceid label. */
  instanceId: string | undefined;
  nodes: NodesState;
}

/** RFC 3339 text → ms since the epoch; anything else (missing, "null", garbage) → undefined. */
export function parseTime(value: unknown): number | undefined {
  const s = text(value);
  if (!s || !/^\d{4}-\d{2}-\d{2}T/.test(s)) return undefined;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | '' {
  return typeof value === 'string' && (values as readonly string[]).includes(value) ? (value as T) : '';
}

/** Interns the type string so 10,000 workflows share one copy of "Pod". */
function nodeType(value: unknown): string | undefined {
  const t = text(value);
  if (t === undefined) return undefined;
  if (t === 'Pod') return 'Pod';
  return oneOf(scopeNodeTypes, t) || t;
}

/** One entry of the node map, or undefined when it is of a type the decisions never read. */
export function reduceNode(id: string, raw: unknown): NodeState | undefined {
  const type = nodeType(at(raw, 'type')) ?? '';
  if ((droppedNodeTypes as readonly string[]).includes(type)) return undefined;
  const node: NodeState = {
    id,
    type,
    phase: oneOf(nodePhases, at(raw, 'phase')),
    boundaryID: text(at(raw, 'boundaryID')) ?? '',
    daemoned: at(raw, 'daemoned') === true,
  };
  if (type === 'Pod') {
    const templateName = text(at(raw, 'templateName')) ?? text(at(raw, 'templateRef', 'template'));
    if (templateName) node.templateName = templateName;
  } else {
    const finishedAt = parseTime(at(raw, 'finishedAt'));
    if (finishedAt !== undefined) node.finishedAt = finishedAt;
  }
  return node;
}

function reduceNodeMap(value: unknown): Map<string, NodeState> | undefined {
  const map = record(value);
  if (!map) return undefined;
  const out = new Map<string, NodeState>();
  for (const [key, raw] of Object.entries(map)) {
    if (!record(raw)) continue;
    // The map key is the id Argo looks nodes up by; the id field inside repeats it.
    const node = reduceNode(key, raw);
    if (node) out.set(key, node);
  }
  return out;
}

/** Larger than any node map a 3 MiB API object can hold once decompressed; stops a decompression bomb. */
export const maxDecompressedBytes = 256 * 1024 * 1024;

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

/** status.compressedNodes → the JSON text of the node map, which codec it was, or why not. */
export function decodeCompressedNodes(value: string): { ok: true; codec: Codec; json: string } | { ok: false; reason: string } {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/=\r\n]*$/.test(trimmed) || trimmed.length === 0) return { ok: false, reason: 'compressedNodes is not base64' };
  const bytes = Buffer.from(trimmed, 'base64');
  const options = { maxOutputLength: maxDecompressedBytes };
  const attempt = (codec: Codec, fn: () => Buffer): { ok: true; codec: Codec; json: string } | { ok: false; reason: string } => {
    try {
      return { ok: true, codec, json: fn().toString('utf8') };
    } catch (err) {
      return { ok: false, reason: `compressedNodes looks like ${codec} but does not decode: ${(err as Error).message}` };
    }
  };
  if (startsWith(bytes, [0x1f, 0x8b])) return attempt('gzip', () => gunzipSync(bytes, options));
  if (startsWith(bytes, [0x28, 0xb5, 0x2f, 0xfd])) return attempt('zstd', () => zstdDecompressSync(bytes, options));
  // Brotli has no magic number: it is what is left, and a failure to decode it is the final answer.
  const brotli = attempt('brotli', () => brotliDecompressSync(bytes, options));
  return brotli.ok ? brotli : { ok: false, reason: 'compressedNodes is neither gzip, zstd nor brotli' };
}

/** The node map of a Workflow's status, in whichever of Argo's three forms it comes. */
export function readNodes(status: unknown): NodesState {
  const version = at(status, 'offloadNodeStatusVersion');
  if (version !== undefined && version !== null && version !== '') {
    // A version is a string (or a number); anything else is quoted, never String()ed (which can throw).
    return { kind: 'offloaded', version: typeof version === 'string' || typeof version === 'number' ? String(version) : preview(version) };
  }
  const compressed = at(status, 'compressedNodes');
  if (compressed !== undefined && compressed !== null && compressed !== '') {
    if (typeof compressed !== 'string') return { kind: 'unreadable', reason: 'status.compressedNodes is not a string' };
    const decoded = decodeCompressedNodes(compressed);
    if (!decoded.ok) return { kind: 'unreadable', reason: decoded.reason };
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoded.json);
    } catch (err) {
      return { kind: 'unreadable', reason: `compressedNodes (${decoded.codec}) is not JSON: ${(err as Error).message}` };
    }
    const nodes = reduceNodeMap(parsed);
    if (!nodes) return { kind: 'unreadable', reason: `compressedNodes (${decoded.codec}) is not a map of nodes` };
    return { kind: 'nodes', source: decoded.codec, nodes };
  }
  const inline = at(status, 'nodes');
  // No node map at all: a Workflow the controller has not started yet. Empty, not unknown.
  if (inline === undefined || inline === null) return { kind: 'nodes', source: 'inline', nodes: new Map() };
  const nodes = reduceNodeMap(inline);
  if (!nodes) return { kind: 'unreadable', reason: 'status.nodes is not a map of nodes' };
  return { kind: 'nodes', source: 'inline', nodes };
}

const completedPhases: readonly WorkflowPhase[] = ['Succeeded', 'Failed', 'Error'];

/**
 * A Workflow (as the API server or `kubectl get wf -o yaml` gives it) → its reduced state. Fails only
 * when the object cannot be a Workflow the reaper could match a pod to (wrong kind, no uid or name).
 */
export function readWorkflow(obj: unknown): Parsed<WorkflowState> {
  const kind = at(obj, 'kind');
  if (kind !== undefined && kind !== argo.kinds.workflow) return { ok: false, reason: `kind ${JSON.stringify(kind)} is not ${argo.kinds.workflow}` };
  const meta = record(at(obj, 'metadata'));
  if (!meta) return { ok: false, reason: 'Workflow has no metadata' };
  const name = text(meta.name);
  if (!name) return { ok: false, reason: 'Workflow has no metadata.name' };
  const uid = text(meta.uid);
  if (!uid) return { ok: false, reason: `Workflow ${name} has no metadata.uid` };
  const status = at(obj, 'status');
  const phase = oneOf(workflowPhases, at(status, 'phase'));
  return {
    ok: true,
    value: {
      uid,
      name,
      namespace: text(meta.namespace) ?? '',
      phase,
      completed: completedPhases.includes(phase),
      deletionTimestamp: parseTime(meta.deletionTimestamp),
      finishedAt: parseTime(at(status, 'finishedAt')),
      instanceId: stringMap(meta.labels)[argo.controllerInstanceIdLabel],
      nodes: readNodes(status),
    },
  };
}

/** Argo's "fulfilled": completed (Succeeded, Failed, Error), Skipped or Omitted. */
export function fulfilled(phase: NodePhase): boolean {
  return phase === 'Succeeded' || phase === 'Failed' || phase === 'Error' || phase === 'Skipped' || phase === 'Omitted';
}
