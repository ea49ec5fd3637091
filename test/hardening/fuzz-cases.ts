// Fuzzed AdmissionReviews for the running webhook process, and the oracle for its answers. Shared by
// the hardening test (a smaller run in the suite) and bench/fuzz.ts (100,000 requests, numbers in
// bench/results.json). Deterministic: a seed gives the same sequence of requests.
//
// Every case starts from a realistic request (a daemon pod in any layout, a non-daemon pod, a
// Workflow, a WorkflowTemplate) and breaks it: fields removed, replaced by values of another type,
// ARGO_TEMPLATE garbled, nesting and strings blown up, JSON cut short, prototype keys, non-object roots.
// The contract (webhook/app.ts): when the body is JSON whose request.uid is a non-empty string, the
// answer is 200 with an AdmissionReview for that uid and a boolean `allowed`; otherwise 400 with a JSON
// {"error": "..."}.
import { admissionReview, type Json } from '../fixtures/admission.ts';
import { influxdbTemplate, layouts, redisTemplate, workflowPod, influxClientPod, type Layout } from '../fixtures/pods.ts';

export interface FuzzCase {
  path: '/mutate' | '/validate';
  body: string;
  /** The uid the answer must carry, or undefined when a 400 is the only right answer. */
  uid: string | undefined;
}

/** mulberry32: small, fast, good enough to pick mutations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const weird: unknown[] = [
  null, true, false, 0, -1, 1.5, 1e308, -0, '', ' ', 'null', '[]', '{}', '\u0000', '\ud800', '🦀'.repeat(50), 'x'.repeat(70_000),
  [], [null], [[[]]], {}, { __proto__: null }, { constructor: { prototype: {} } }, { toString: 'x', valueOf: 1 },
  // Objects that String() and template literals cannot convert ("Cannot convert object to primitive
  // value"), alone and inside an array (String([x]) converts x).
  { toString: 1 }, { toString: {}, valueOf: [] }, [{ toString: 1 }], { name: { toString: 1 } },
  '2026-13-45T99:99:99Z', 'offloaded', '{"daemon":true', '{"daemon":"true"}', 9007199254740993, Number.MAX_SAFE_INTEGER,
];

function randomValue(r: Rand, depth = 0): unknown {
  const k = r();
  if (k < 0.5 || depth > 3) return structuredClone(pick(r, weird));
  if (k < 0.75) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Json = {};
  for (let i = Math.floor(r() * 4); i > 0; i--) o[pick(r, ['name', 'kind', 'uid', 'metadata', 'spec', 'env', 'value', 'daemon', '__proto__', 'constructor', 'toString', 'valueOf', 'x'])] = randomValue(r, depth + 1);
  return o;
}

/** Every (object or array) node of a JSON tree with the path to it. */
function nodes(v: unknown, path: (string | number)[] = [], out: { path: (string | number)[]; value: unknown }[] = []) {
  out.push({ path, value: v });
  if (Array.isArray(v)) v.forEach((x, i) => nodes(x, [...path, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodes(x, [...path, k], out);
  return out;
}

function setAt(root: unknown, path: (string | number)[], value: unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(cur) && typeof last === 'number') cur.splice(last, 1);
    else delete cur[last];
  } else cur[last] = value;
}

function deepNest(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

let counter = 0;

const deepStepsMarker = '__deep_inline_steps__';

/** The text of a `steps` list whose inline templates nest `depth` deep, a daemon at the bottom. */
function deepInlineSteps(depth: number): string {
  const leaf = '[[{"name":"s","inline":{"name":"leaf","daemon":true,"container":{"image":"redis"}}}]]';
  return '[[{"name":"s","inline":{"steps":'.repeat(depth) + leaf + '}}]]'.repeat(depth);
}

function baseObject(r: Rand): Json {
  const layout = pick(r, layouts) as Layout;
  const k = r();
  if (k < 0.45) return workflowPod({ workflow: 'wf', namespace: 'ns', workflowUid: 'u-1', nodeName: 'wf[0].db', template: pick(r, [redisTemplate, influxdbTemplate]), layout, offloaded: r() < 0.05 }) as unknown as Json;
  if (k < 0.6) return influxClientPod(layout) as unknown as Json;
  const kind = pick(r, ['Workflow', 'WorkflowTemplate', 'CronWorkflow', 'ClusterWorkflowTemplate']);
  const spec = { entrypoint: 'main', templates: [{ name: 'main', steps: [[{ name: 'db', template: 'redis', withItems: [1, 2, 3] }]] }, redisTemplate] };
  return { apiVersion: 'argoproj.io/v1alpha1', kind, metadata: { name: 'w', namespace: 'ns' }, spec: kind === 'CronWorkflow' ? { schedule: '* * * * *', workflowSpec: spec } : spec };
}

/** The API server sends at most 3 MiB; larger cases are drawn again. */
const maxBody = 3 * 1024 * 1024;

/** One fuzz case. Most are structurally close to real requests, so they reach deep into the code. */
export function fuzzCase(r: Rand): FuzzCase {
  for (;;) {
    const c = drawCase(r);
    if (Buffer.byteLength(c.body) <= maxBody) return c;
  }
}

function drawCase(r: Rand): FuzzCase {
  const path = r() < 0.5 ? '/mutate' : '/validate';
  const uid = `fuzz-${++counter}-${Math.floor(r() * 1e9)}`;
  const k = r();
  // Not JSON at all, or JSON that is not an object.
  if (k < 0.04) return { path, uid: undefined, body: pick(r, ['', ' ', 'not json', '{', '{"request":', '\u0000\u0001', '[', 'nul', '"', '{"a":1}}', '\ufeff{}']) };
  if (k < 0.07) return { path, uid: undefined, body: JSON.stringify(randomValue(r)) ?? 'null' };
  if (k < 0.08) return { path, uid: undefined, body: deepNest(1000 + Math.floor(r() * 20_000)) };

  // A deep copy: the fixtures share objects (volume mounts, templates) that the mutations must not touch.
  const review = structuredClone(admissionReview(baseObject(r), { uid, ...(r() < 0.1 ? { dryRun: true } : {}), ...(r() < 0.05 ? { operation: 'UPDATE' as const } : {}) }));
  // Mutations of the request and the object in it.
  const mutations = Math.floor(r() * 6);
  for (let i = 0; i < mutations; i++) {
    const all = nodes(review).filter((n) => n.path.length > 0);
    if (all.length === 0) break;
    const target = pick(r, all);
    const m = r();
    if (m < 0.35) setAt(review, target.path, undefined);
    else if (m < 0.75) setAt(review, target.path, randomValue(r));
    else if (m < 0.85) setAt(review, target.path, JSON.parse(deepNest(50)));
    else if (m < 0.95 && typeof target.value === 'string') setAt(review, target.path, target.value.slice(0, Math.floor(r() * target.value.length)));
    else setAt(review, target.path, 'x'.repeat(Math.floor(r() * (r() < 0.1 ? 200_000 : 5_000))));
  }
  // Every name-like string field (metadata.name, container and template names, kinds) is where a
  // reader expects a string: sometimes put an unconvertible object in one of them.
  if (r() < 0.15) {
    const named = nodes(review).filter((n) => n.path.length > 0 && typeof n.value === 'string' && ['name', 'generateName', 'kind', 'template'].includes(String(n.path[n.path.length - 1])));
    if (named.length) setAt(review, pick(r, named).path, pick<unknown>(r, [{ toString: 1 }, [{ toString: 1 }], { toString: 'x', valueOf: 1 }, 7, ['main']]));
  }
  // ARGO_TEMPLATE garbled on purpose, sometimes.
  if (r() < 0.2) {
    const env = nodes(review).filter((n) => n.value && typeof n.value === 'object' && (n.value as Json).name === 'ARGO_TEMPLATE');
    if (env.length) {
      const e = pick(r, env).value as Json;
      const t = typeof e.value === 'string' ? e.value : '{}';
      e.value = pick(r, [t.slice(0, Math.floor(r() * t.length)), t.replace('"daemon":true', '"daemon":"yes"'), '{"daemon":true,"container":5}', '{"daemon":true,"containerSet":{"containers":[null,1,"x"]}}', 'offloaded', '[]', 'null', JSON.stringify(randomValue(r)) ?? '']);
    }
  }
  // Inline templates nested far deeper than any workflow (a recursive reader would run out of stack).
  // Spliced into the text: JSON.stringify itself would run out of stack on such an object.
  let deep = false;
  if (r() < 0.01) {
    const obj = (review.request as Json | undefined)?.object as Json | undefined;
    const spec = (obj?.kind === 'CronWorkflow' ? (obj?.spec as Json | undefined)?.workflowSpec : obj?.spec) as Json | undefined;
    if (spec && Array.isArray(spec.templates)) ((deep = true), spec.templates.push({ name: 'deep', steps: deepStepsMarker }));
  }
  let body = JSON.stringify(review);
  if (deep) body = body.replace(JSON.stringify(deepStepsMarker), deepInlineSteps(2000 + Math.floor(r() * 20_000)));
  // Prototype keys, spelled in the text (JSON.stringify would not keep them).
  if (r() < 0.03) body = body.replace('"request":{', '"request":{"__proto__":{"uid":"polluted"},"constructor":{"prototype":{"allowed":false}},');
  // Cut short: never JSON.
  if (r() < 0.03) return { path, uid: undefined, body: body.slice(0, Math.floor(r() * body.length)) };
  return { path, body, uid: expectedUid(body) };
}

/** The uid the contract requires in the answer: request.uid when the body is JSON and it is a non-empty string. */
export function expectedUid(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const req = isRecord(parsed) ? parsed.request : undefined;
  const uid = isRecord(req) ? req.uid : undefined;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks one answer; returns what is wrong with it, or undefined when it keeps the contract. */
export function checkAnswer(c: FuzzCase, status: number, contentType: string | undefined, text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `answer is not JSON (HTTP ${status}): ${text.slice(0, 120)}`;
  }
  if (!String(contentType ?? '').startsWith('application/json')) return `content-type ${contentType}`;
  if (c.uid === undefined) {
    if (status !== 400) return `expected 400 for a request without a readable uid, got ${status}: ${text.slice(0, 160)}`;
    if (!isRecord(body) || typeof body.error !== 'string' || body.error === '') return `400 without an error message: ${text.slice(0, 160)}`;
    return undefined;
  }
  if (status !== 200) return `expected 200 for uid ${c.uid}, got ${status}: ${text.slice(0, 160)}`;
  if (!isRecord(body) || body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') return `not an AdmissionReview: ${text.slice(0, 160)}`;
  const res = body.response;
  if (!isRecord(res)) return 'AdmissionReview without a response';
  if (res.uid !== c.uid) return `uid ${JSON.stringify(res.uid)} instead of ${c.uid}`;
  if (typeof res.allowed !== 'boolean') return `allowed is ${JSON.stringify(res.allowed)}`;
  if (res.patch !== undefined) {
    if (res.patchType !== 'JSONPatch' || typeof res.patch !== 'string') return 'patch without patchType JSONPatch';
    let ops: unknown;
    try {
      ops = JSON.parse(Buffer.from(res.patch, 'base64').toString('utf8'));
    } catch {
      return 'patch is not base64 JSON';
    }
    if (!Array.isArray(ops) || ops.some((o) => !isRecord(o) || typeof o.op !== 'string' || typeof o.path !== 'string')) return 'patch is not a JSON patch';
  }
  if (res.warnings !== undefined && (!Array.isArray(res.warnings) || res.warnings.some((w) => typeof w !== 'string'))) return 'warnings is not a list of strings';
  if (!res.allowed && !(isRecord(res.status) && typeof res.status.message === 'string')) return 'a denial without a status message';
  return undefined;
}

export interface FuzzRun {
  sent: number;
  wellFormed: number;
  failures: number;
  /** The first few contract breaches, for the report. */
  examples: string[];
  statuses: Record<string, number>;
  elapsedMs: number;
}

/** Sends `count` fuzz cases to the webhook on 127.0.0.1:port over keep-alive HTTPS and checks every answer. */
export async function runFuzz(o: { port: number; ca: string; count: number; seed: number; concurrency?: number; onProgress?: (sent: number) => void }): Promise<FuzzRun> {
  const { Pool } = await import('undici');
  const pool = new Pool(`https://127.0.0.1:${o.port}`, { connections: o.concurrency ?? 16, pipelining: 1, connect: { ca: o.ca, servername: 'localhost' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const r = rng(o.seed);
  const out: FuzzRun = { sent: 0, wellFormed: 0, failures: 0, examples: [], statuses: {}, elapsedMs: 0 };
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < o.count) {
      next++;
      const c = fuzzCase(r);
      let problem: string | undefined;
      try {
        const res = await pool.request({ method: 'POST', path: c.path, headers: { 'content-type': 'application/json' }, body: c.body });
        const text = await res.body.text();
        out.statuses[res.statusCode] = (out.statuses[res.statusCode] ?? 0) + 1;
        problem = checkAnswer(c, res.statusCode, res.headers['content-type'] as string | undefined, text);
      } catch (err) {
        problem = `request failed: ${(err as Error).message}`;
      }
      out.sent++;
      if (problem) {
        out.failures++;
        if (out.examples.length < 10) out.examples.push(`${c.path} ${c.body.slice(0, 200)} → ${problem}`);
      } else out.wellFormed++;
      if (out.sent % 10_000 === 0) o.onProgress?.(out.sent);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 16 }, worker));
  out.elapsedMs = performance.now() - started;
  await pool.close();
  return out;
}
