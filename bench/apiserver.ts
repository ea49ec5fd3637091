// Pod creates through the real API server of the test cluster, at 10 and 50 concurrent creates, in
// four arms alternated within each round:
//   none                 no pod webhook registered;
//   do-nothing pair      the guard's own two pod webhooks (core/webhooks.ts: same rules, selectors,
//                        matchConditions, timeouts) pointed at bench/floor-server.ts in "echo" mode, a
//                        bare TLS server that allows everything: the floor any pod webhook pair pays;
//   replayed answers     the same pair pointed at that bare server in "replay" mode: it answers each pod
//                        with the guard's own answers for it, recorded before the rounds (the patch,
//                        warnings, audit annotations). The API server does all the work those answers
//                        cause, with no guard computing them: the floor for a webhook that labels and caps;
//   argo-daemon-guard    the guard's webhook process with the default policy.
// The pods are daemon pods as Argo creates them (legacy, v3.5 and init-less layouts in turn) owned by a
// real Workflow, written so that every rule the default policy reports fires (no readinessProbe, no
// requests, privileged, hostNetwork, hostPath, activeDeadlineSeconds over maxLifetime). They name a
// scheduler that does not exist, so they stay Pending: what is measured is the create, not what a
// scheduler and kwok do afterwards. Load comes from the separate load-generator process, as the admin,
// over keep-alive HTTPS. After each arm its pods are counted by label (in the guard's arm every one must
// carry the guard's label: failurePolicy Ignore would hide a failed call) and deleted. The CPU time each
// server process (API server, etcd, the webhooks) used during an arm's creates is read from /proc, so
// what an arm costs is attributed to the process that pays it; so is the number of TCP connections the
// machine accepted meanwhile (a new connection to a webhook is a TLS handshake on both sides).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startWebhook, stopWebhook, waitWebhook, webhookSpec } from '../test/cluster/cluster.ts';
import { registerWebhooks } from '../test/cluster/webhooks.ts';
import { freePort } from '../test/cluster/ports.ts';
import { fetchText } from '../test/cluster/kubeconfig.ts';
import { readRecord, start, stop, waitFor } from '../test/cluster/processes.ts';
import { repoRoot, type ClusterState } from '../test/cluster/state.ts';
import { guard } from '../core/keys.ts';
import { api, deleteNamespace, ensureNamespace, keepAliveClient } from './lib/cluster.ts';
import { errorCount, runLoad, type LoadResult } from './lib/load.ts';
import { cpuSeconds, tcpAccepted } from './lib/machine.ts';
import { log, sleep, table } from './lib/report.ts';
import { concat, median, round, summarize, type Summary } from './lib/stats.ts';
import { benchWorkflow, daemonPod, everyRuleTemplate } from './payloads.ts';
import type { Layout } from '../test/fixtures/pods.ts';

export const arms = ['none', 'do-nothing pair', 'replayed answers', 'argo-daemon-guard'] as const;
export type Arm = (typeof arms)[number];

/** A fresh value for every arm. */
const perArm = <T>(value: () => T): Record<Arm, T> => Object.fromEntries(arms.map((a) => [a, value()])) as Record<Arm, T>;

/** The server processes whose CPU is attributed, by the harness's process names. */
const serverProcesses = { 'kube-apiserver': 'kube-apiserver', etcd: 'etcd', 'guard webhook': 'webhook', 'bare pair': 'bench-floor-pair', 'bare replay': 'bench-replay' } as const;
type ServerProcess = keyof typeof serverProcesses;

export interface ApiserverOptions {
  /** Creates per arm, per concurrency, per round. */
  creates?: number;
  rounds?: number;
  concurrencies?: number[];
  /** Run the guard's webhook with --cpu-prof into this directory for the rounds. */
  cpuProfDir?: string;
}

export interface ArmSummary extends Summary {
  /** Median over rounds of creates per second. */
  throughput: number;
  throughputRounds: number[];
  /** p99 of each round: arms compared round by round are less exposed to load that comes and goes. */
  p99Rounds: number[];
  errors: number;
  /** Pods of the arm carrying the guard's daemon label, and pods created. */
  labeled: number;
  created: number;
  /** CPU milliseconds per pod created, by server process, over every round. */
  cpuMsPerCreate: Record<ServerProcess, number>;
  /** TCP connections accepted on the machine per pod created (webhook connections the API server opened). */
  connectionsPerCreate: number;
}

export interface ApiserverResults {
  baselineP99Ms: number;
  floorWebhookP99Ms: number;
  webhookP99Ms: number;
  /** The bare server replaying the guard's answers, p99 at 50 concurrent. */
  replayP99Ms: number;
  /** guard p99 / do-nothing pair p99 at 50 concurrent, all rounds pooled (target ≤ 1.1). */
  ratioAt50: number;
  /** The same ratio round by round (each round's arms ran back to back), and its median. */
  ratioAt50Rounds: number[];
  ratioAt50Median: number;
  /** guard p99 / replayed answers p99 at 50 concurrent: pooled, and by round. What the guard's own work adds. */
  ratioToReplayAt50: number;
  ratioToReplayAt50Rounds: number[];
  creates: number;
  rounds: number;
  byConcurrency: Record<string, Record<Arm, ArmSummary>>;
  samples: Record<string, Record<Arm, Float64Array>>;
}

const namespace = 'bench-pods';
const noScheduler = 'bench-no-scheduler';
const webhookConfigs = ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'];

async function unregister(s: ClusterState): Promise<void> {
  for (const kind of webhookConfigs) await api(s, `/apis/admissionregistration.k8s.io/v1/${kind}/argo-daemon-guard`, { method: 'DELETE', ok: [200, 404] });
}

async function floorCount(port: number, ca: string): Promise<number> {
  const r = await fetchText(`https://127.0.0.1:${port}/count`, { tls: { ca } });
  return (JSON.parse(r.body) as { count: number }).count;
}

export async function runApiserverBench(s: ClusterState, o: ApiserverOptions = {}): Promise<ApiserverResults> {
  const creates = o.creates ?? 1000;
  const rounds = o.rounds ?? 3;
  const concurrencies = o.concurrencies ?? [10, 50];
  await ensureNamespace(s, namespace);
  const wf = await api<{ metadata: { uid: string; name: string } }>(s, `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/workflows`, {
    method: 'POST',
    body: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata: { generateName: 'bench-owner-', namespace, labels: { 'workflows.argoproj.io/controller-instanceid': 'argo-daemon-guard-bench' } }, spec: { entrypoint: 'main', templates: [{ name: 'main', container: { image: 'alpine' } }] } },
  });
  const owner = { name: wf.metadata.name, namespace, uid: wf.metadata.uid };
  const bodies = (['legacy', 'v3.5', 'init-less'] as Layout[]).map((layout, i) => {
    const pod = daemonPod({ layout, template: everyRuleTemplate, workflow: owner, step: i, hostNetwork: true, generateName: true, instanceId: 'argo-daemon-guard-bench' });
    pod.spec.schedulerName = noScheduler;
    return JSON.stringify(pod);
  });

  if (o.cpuProfDir) {
    // The cluster's webhook again, profiled: the profile is written when it stops after the rounds.
    await stopWebhook(s);
    const profiled = start(s.stateDir, { ...webhookSpec(s), env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${o.cpuProfDir}` } });
    await waitWebhook(s, profiled);
  }
  const floorPort = await freePort();
  const floorDir = s.stateDir;
  /** A bare server of bench/floor-server.ts with the webhook's serving certificate; resolves to its URL once it answers. */
  const startBareServer = async (name: string, what: string, port: number, ...mode: string[]) => {
    const proc = start(floorDir, { name, command: process.execPath, args: [join(repoRoot, 'bench', 'floor-server.ts'), String(port), s.webhook.certFile, s.webhook.keyFile, ...mode], cwd: repoRoot });
    await waitFor({ what, timeoutMs: 30_000 }, async () => (await floorCount(port, s.webhook.caFile).then(() => true)) || undefined, proc);
    return `https://127.0.0.1:${port}`;
  };
  const floorUrl = await startBareServer('bench-floor-pair', 'the do-nothing webhook pair', floorPort, 'echo');
  const replayPort = await freePort();
  let replayUrl = '';

  /** A dry-run create: labeled or not, and how many calls each bare server got. */
  const probe = async (): Promise<{ labeled: boolean; pairCalls: number; replayCalls: number }> => {
    const calls = async () => [await floorCount(floorPort, s.webhook.caFile), replayUrl ? await floorCount(replayPort, s.webhook.caFile) : 0] as const;
    const before = await calls();
    const created = await api<{ metadata: { labels?: Record<string, string> } }>(s, `/api/v1/namespaces/${namespace}/pods?dryRun=All`, { method: 'POST', body: JSON.parse(bodies[0]!) });
    const after = await calls();
    return { labeled: created.metadata.labels?.[guard.daemonLabel] === 'true', pairCalls: after[0] - before[0], replayCalls: after[1] - before[1] };
  };
  const urlOf: Record<Exclude<Arm, 'none'>, () => string> = { 'do-nothing pair': () => floorUrl, 'replayed answers': () => replayUrl, 'argo-daemon-guard': () => s.webhook.url };
  const behaves: Record<Arm, (p: Awaited<ReturnType<typeof probe>>) => boolean> = {
    none: (p) => !p.labeled && p.pairCalls === 0 && p.replayCalls === 0,
    'do-nothing pair': (p) => !p.labeled && p.pairCalls >= 2,
    'replayed answers': (p) => p.labeled && p.replayCalls >= 2,
    'argo-daemon-guard': (p) => p.labeled && p.pairCalls === 0 && p.replayCalls === 0,
  };
  const switchTo = async (arm: Arm) => {
    if (arm === 'none') await unregister(s);
    else await registerWebhooks(s.kubeconfig, { url: urlOf[arm](), caFile: s.webhook.caFile });
    // The API server picks up a changed configuration within about a second; three probes in a row
    // showing the arm's behaviour make sure the measurement runs against it.
    let good = 0;
    for (let i = 0; i < 120 && good < 3; i++) {
      const ok = behaves[arm](await probe());
      good = ok ? good + 1 : 0;
      if (!ok) await sleep(250);
    }
    if (good < 3) throw new Error(`the API server did not switch to arm "${arm}"`);
  };

  /**
   * The guard's answers for each pod body, asked of its webhook directly with the objects the API
   * server sends: for /mutate the pod as decoded and defaulted (a dry run with no webhook, less what
   * is set after mutation), for /validate the pod as the guard mutated it (a dry run with the guard).
   */
  const recordGuardAnswers = async (): Promise<Record<string, Record<string, unknown>>> => {
    type PodObject = { metadata: Record<string, unknown> & { generateName: string }; status?: unknown };
    const dryRun = async (body: string) => api<PodObject>(s, `/api/v1/namespaces/${namespace}/pods?dryRun=All`, { method: 'POST', body: JSON.parse(body) });
    const ask = async (path: '/mutate' | '/validate', object: PodObject) => {
      const review = {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: randomUUID(),
          kind: { group: '', version: 'v1', kind: 'Pod' },
          resource: { group: '', version: 'v1', resource: 'pods' },
          requestKind: { group: '', version: 'v1', kind: 'Pod' },
          requestResource: { group: '', version: 'v1', resource: 'pods' },
          namespace,
          operation: 'CREATE',
          userInfo: { username: 'admin', groups: ['system:masters', 'system:authenticated'] },
          object,
          dryRun: false,
          options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
        },
      };
      const r = await fetchText(`${s.webhook.url}${path}`, { method: 'POST', tls: { ca: s.webhook.caFile }, headers: { 'content-type': 'application/json' }, body: JSON.stringify(review) });
      if (r.status !== 200) throw new Error(`recording the guard's answers: ${path} answered HTTP ${r.status} ${r.body.slice(0, 300)}`);
      const { uid: _uid, ...answer } = (JSON.parse(r.body) as { response: Record<string, unknown> }).response;
      return answer;
    };
    await switchTo('none');
    const plain = await Promise.all(bodies.map(dryRun));
    await switchTo('argo-daemon-guard');
    const mutated = await Promise.all(bodies.map(dryRun));
    const answers: Record<string, Record<string, unknown>> = {};
    for (const [i, pod] of plain.entries()) {
      const { name: _n, uid: _u, creationTimestamp: _c, resourceVersion: _r, ...metadata } = pod.metadata;
      answers[pod.metadata.generateName] = { '/mutate': await ask('/mutate', { metadata: { ...metadata, generateName: pod.metadata.generateName }, ...Object.fromEntries(Object.entries(pod).filter(([k]) => k !== 'metadata' && k !== 'status')) }), '/validate': await ask('/validate', mutated[i]!) };
    }
    if (Object.keys(answers).length !== bodies.length) throw new Error(`recording the guard's answers: ${bodies.length} pod bodies share generateNames`);
    if (!Object.values(answers).every((a) => (a['/mutate'] as { patch?: string }).patch)) throw new Error("recording the guard's answers: a /mutate answer carries no patch");
    return answers;
  };
  // Counting and deleting thousands of pods takes longer than the harness's one-shot client waits.
  const client = keepAliveClient(s, 4);
  const countPods = async (labelSelector?: string): Promise<number> => {
    let n = 0;
    let cont = '';
    do {
      const q = new URLSearchParams({ limit: '500', ...(labelSelector ? { labelSelector } : {}), ...(cont ? { continue: cont } : {}) });
      const list = (await client.request<{ items: unknown[]; metadata: { continue?: string } }>('GET', `/api/v1/namespaces/${namespace}/pods?${q}`)).body;
      n += list.items.length;
      cont = list.metadata.continue ?? '';
    } while (cont);
    return n;
  };
  const deleteAll = async () => {
    await client.request('DELETE', `/api/v1/namespaces/${namespace}/pods`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    for (let i = 0; i < 240 && (await countPods()) > 0; i++) await sleep(500);
  };

  const tls = { ca: readFileSync(s.pki.ca.cert, 'utf8'), cert: readFileSync(s.pki.clients.admin.cert, 'utf8'), key: readFileSync(s.pki.clients.admin.key, 'utf8') };
  const results: Record<string, Record<Arm, LoadResult[]>> = {};
  const cpu: Record<string, Record<Arm, Record<ServerProcess, number>>> = {};
  const accepted: Record<string, Record<Arm, number>> = {};
  const cpuNow = (): Record<ServerProcess, number> => {
    const out = {} as Record<ServerProcess, number>;
    for (const [label, name] of Object.entries(serverProcesses) as [ServerProcess, string][]) {
      const pid = readRecord(s.stateDir, name)?.pid;
      out[label] = pid === undefined ? 0 : cpuSeconds(pid);
    }
    return out;
  };
  const labeled: Record<string, Record<Arm, number>> = {};
  const created: Record<string, Record<Arm, number>> = {};
  try {
    await deleteAll();
    const answersFile = join(floorDir, 'bench-replay-answers.json');
    writeFileSync(answersFile, JSON.stringify(await recordGuardAnswers()));
    replayUrl = await startBareServer('bench-replay', 'the replaying webhook pair', replayPort, 'replay', answersFile);
    for (let round = 1; round <= rounds; round++) {
      const order = arms.map((_, i) => arms[(i + round - 1) % arms.length]!);
      for (const c of concurrencies) {
        results[c] ??= perArm(() => []);
        labeled[c] ??= perArm(() => 0);
        created[c] ??= perArm(() => 0);
        accepted[c] ??= perArm(() => 0);
        cpu[c] ??= perArm(() => Object.fromEntries(Object.keys(serverProcesses).map((p) => [p, 0])) as Record<ServerProcess, number>);
        for (const arm of order) {
          await switchTo(arm);
          const cpuBefore = cpuNow();
          const acceptedBefore = tcpAccepted();
          const r = await runLoad({
            origin: s.server,
            tls,
            requests: bodies.map((body) => ({ method: 'POST' as const, path: `/api/v1/namespaces/${namespace}/pods`, body })),
            connections: c,
            mode: { kind: 'closed', concurrency: c, count: creates },
            warmupMs: 1000,
            expectStatus: [201],
          });
          const cpuAfter = cpuNow();
          accepted[c]![arm] += tcpAccepted() - acceptedBefore;
          for (const p of Object.keys(serverProcesses) as ServerProcess[]) cpu[c]![arm][p] += cpuAfter[p] - cpuBefore[p];
          results[c]![arm].push(r);
          const all = await countPods();
          const withLabel = await countPods(`${guard.daemonLabel}=true`);
          labeled[c]![arm] += withLabel;
          created[c]![arm] += all;
          const sum = summarize(r.latenciesMs);
          log(`round ${round}, ${c} concurrent, ${arm}: ${r.rps.toFixed(0)} creates/s, p50 ${sum.p50Ms} ms, p99 ${sum.p99Ms} ms, errors ${errorCount(r)}, labeled ${withLabel}/${all}`);
          const labels = arm === 'argo-daemon-guard' || arm === 'replayed answers';
          if (labels && withLabel !== all) throw new Error(`${arm} arm: only ${withLabel} of ${all} daemon pods carry the guard's label`);
          if (!labels && withLabel !== 0) throw new Error(`${arm} arm: ${withLabel} pods carry the guard's label`);
          await deleteAll();
        }
      }
    }
  } finally {
    await stop(floorDir, 'bench-floor-pair');
    await stop(floorDir, 'bench-replay');
    if (o.cpuProfDir) {
      await stopWebhook(s);
      await startWebhook(s);
      log(`guard webhook CPU profile (API server arm) in ${o.cpuProfDir}`);
    }
    await client.close();
    await registerWebhooks(s.kubeconfig, { url: s.webhook.url, caFile: s.webhook.caFile }).catch(() => {});
    await deleteNamespace(s, namespace).catch(() => {});
  }

  const byConcurrency: ApiserverResults['byConcurrency'] = {};
  const samples: ApiserverResults['samples'] = {};
  for (const c of concurrencies) {
    byConcurrency[c] = {} as Record<Arm, ArmSummary>;
    samples[c] = {} as Record<Arm, Float64Array>;
    for (const arm of arms) {
      const rs = results[c]![arm];
      const all = concat(rs.map((r) => r.latenciesMs));
      samples[c]![arm] = all;
      byConcurrency[c]![arm] = {
        ...summarize(all),
        throughput: round(median(rs.map((r) => r.rps)), 1),
        throughputRounds: rs.map((r) => round(r.rps, 1)),
        p99Rounds: rs.map((r) => summarize(r.latenciesMs).p99Ms),
        errors: rs.reduce((a, r) => a + errorCount(r), 0),
        labeled: labeled[c]![arm],
        created: created[c]![arm],
        connectionsPerCreate: round(accepted[c]![arm] / created[c]![arm], 3),
        cpuMsPerCreate: Object.fromEntries(Object.entries(cpu[c]![arm]).map(([p, sec]) => [p, round((sec * 1000) / created[c]![arm], 2)])) as Record<ServerProcess, number>,
      };
    }
  }
  const at50 = byConcurrency[String(Math.max(...concurrencies))]!;
  return {
    baselineP99Ms: at50.none.p99Ms,
    floorWebhookP99Ms: at50['do-nothing pair'].p99Ms,
    webhookP99Ms: at50['argo-daemon-guard'].p99Ms,
    ratioAt50: round(at50['argo-daemon-guard'].p99Ms / at50['do-nothing pair'].p99Ms, 3),
    ratioAt50Rounds: at50['argo-daemon-guard'].p99Rounds.map((g, i) => round(g / at50['do-nothing pair'].p99Rounds[i]!, 3)),
    ratioAt50Median: round(median(at50['argo-daemon-guard'].p99Rounds.map((g, i) => g / at50['do-nothing pair'].p99Rounds[i]!)), 3),
    replayP99Ms: at50['replayed answers'].p99Ms,
    ratioToReplayAt50: round(at50['argo-daemon-guard'].p99Ms / at50['replayed answers'].p99Ms, 3),
    ratioToReplayAt50Rounds: at50['argo-daemon-guard'].p99Rounds.map((g, i) => round(g / at50['replayed answers'].p99Rounds[i]!, 3)),
    creates,
    rounds,
    byConcurrency,
    samples,
  };
}

export function apiserverTables(r: ApiserverResults): string {
  let out = '';
  for (const [c, armsOf] of Object.entries(r.byConcurrency)) {
    const none = armsOf.none;
    out += table(
      `Pod create through the API server, ${c} concurrent (${r.creates} creates per arm per round, ${r.rounds} rounds, arms alternated; ms)`,
      ['arm', 'p50', 'p99', 'p999', 'p99 by round', 'creates/s (median)', 'creates/s by round', 'vs none: p50', 'p99', 'creates/s', 'errors', 'labeled'],
      arms.map((a) => {
        const x = armsOf[a];
        return [a, x.p50Ms, x.p99Ms, x.p999Ms, x.p99Rounds.map((v) => Math.round(v)).join(' / '), x.throughput, x.throughputRounds.join(' / '), `×${(x.p50Ms / none.p50Ms).toFixed(2)}`, `×${(x.p99Ms / none.p99Ms).toFixed(2)}`, `${(((x.throughput - none.throughput) / none.throughput) * 100).toFixed(0)} %`, x.errors, `${x.labeled}/${x.created}`];
      }),
    );
    const processes = Object.keys(serverProcesses) as ServerProcess[];
    out += table(
      `Server CPU per pod created, ${c} concurrent (ms; /proc, during the creates of every round)`,
      ['arm', ...processes, 'total', 'TCP connections accepted per create'],
      arms.map((a) => {
        const x = armsOf[a].cpuMsPerCreate;
        return [a, ...processes.map((p) => x[p]), round(processes.reduce((t, p) => t + x[p], 0), 2), armsOf[a].connectionsPerCreate];
      }),
    );
  }
  return (
    out +
    `guard p99 / do-nothing pair p99 at 50 concurrent: ${r.ratioAt50} pooled; by round ${r.ratioAt50Rounds.join(' / ')}, median ${r.ratioAt50Median} (target ≤ 1.1)\n` +
    `guard p99 / replayed answers p99 at 50 concurrent: ${r.ratioToReplayAt50} pooled; by round ${r.ratioToReplayAt50Rounds.join(' / ')}\n`
  );
}
