// The webhook handler benchmark: the guard's webhook process (cli/main.ts webhook, default policy,
// logging at info to a file) against the floor — a bare Node TLS server answering a fixed
// AdmissionReview — with the same certificate, the same requests and the same load generator (a
// separate process, HTTPS keep-alive). Arms alternate within each of three rounds; each round measures
//   throughput: a closed loop with `connections` requests in flight, and
//   latency:    an open loop at `rate` req/s (1,000 by default).
// Requests rotate through an ~9 KB legacy-layout daemon pod to /mutate and /validate and a Workflow
// with 20 templates to /validate.
import { rmSync } from 'node:fs';
import { cpuSeconds } from './lib/machine.ts';
import { floorServer, guardWebhook, rssMB, writeCerts, type Launched } from './lib/webhook-process.ts';
import { errorCount, latenciesOf, runLoad, type LoadResult } from './lib/load.ts';
import { benchStateDir, log, table } from './lib/report.ts';
import { concat, median, round, summarize, type Summary } from './lib/stats.ts';
import { handlerRequests } from './payloads.ts';

export interface WebhookOptions {
  rounds?: number;
  /** Closed loop: requests in flight. */
  connections?: number;
  /** Open loop: requests a second. */
  rate?: number;
  durationMs?: number;
  warmupMs?: number;
  /** Write a CPU profile of the guard's webhook process into this directory. */
  cpuProfDir?: string;
}

export interface ArmResult {
  /** Median over rounds of the closed-loop throughput. */
  rps: number;
  rpsRounds: number[];
  /** CPU time of the server process per request in the closed loop (median over rounds), µs: the cost, whatever else runs on the machine. */
  cpuUsPerRequest: number;
  /** Open loop: how late the generator sent requests after they were due (part of every latency here). */
  generatorLagMs: { p50: number; p99: number };
  /** At the open-loop rate, all rounds pooled. */
  latency: Summary;
  byKind: Record<string, Summary>;
  errors: number;
  /** Open-loop samples (ms), for the chart. */
  samples: Float64Array;
}

/** floor: fixed answer; parse: the same bare server, but it parses the body to answer with its uid. */
export const webhookArms = ['floor', 'parse', 'guard'] as const;
export type WebhookArm = (typeof webhookArms)[number];
const armLabel: Record<WebhookArm, string> = { floor: 'floor (bare TLS, fixed answer)', parse: 'bare TLS + JSON.parse (uid echo)', guard: 'argo-daemon-guard' };

export interface WebhookResults {
  rps: number;
  floorRps: number;
  ratio: number;
  /** guard / the bare server that also parses the body: how much of the gap is reading JSON at all. */
  ratioToParse: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  floorP99Ms: number;
  rateRps: number;
  connections: number;
  rounds: number;
  requestBytes: Record<string, number>;
  arms: Record<WebhookArm, Omit<ArmResult, 'samples'>>;
  webhookRssMB: { before: number; after: number };
  samples: Record<WebhookArm, Float64Array>;
}

export async function runWebhookBench(o: WebhookOptions = {}): Promise<WebhookResults> {
  const rounds = o.rounds ?? 3;
  const connections = o.connections ?? 32;
  const rate = o.rate ?? 1000;
  const durationMs = o.durationMs ?? 10_000;
  const warmupMs = o.warmupMs ?? 2_000;
  const dir = benchStateDir('webhook');
  const certs = await writeCerts(dir);
  const started: Launched[] = [];
  try {
    const guard = await guardWebhook(dir, certs, o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {});
    started.push(guard);
    const floorProc = await floorServer(dir, certs, 'fixed');
    started.push(floorProc);
    const parseProc = await floorServer(dir, certs, 'echo');
    started.push(parseProc);
    const procs: Record<WebhookArm, Launched> = { floor: floorProc, parse: parseProc, guard };

    const requests = handlerRequests();
    const requestBytes = Object.fromEntries(requests.map((r) => [r.kind, Buffer.byteLength(r.body)]));
    log(`webhook: requests ${Object.entries(requestBytes).map(([k, v]) => `${k} ${v} B`).join(', ')}; ${rounds} rounds, ${connections} connections closed loop, ${rate} req/s open loop, ${durationMs / 1000} s each`);
    const job = (port: number) => ({
      origin: `https://127.0.0.1:${port}`,
      tls: { ca: certs.caPem, servername: 'localhost' },
      requests: requests.map((r) => ({ method: 'POST' as const, path: r.path, body: r.body, kind: r.kind })),
      expectStatus: [200],
      warmupMs,
      sampleEvery: 5000,
    });
    const rssBefore = rssMB(guard.proc.pid);

    const perArm = <T>(f: () => T) => ({ floor: f(), parse: f(), guard: f() }) as Record<WebhookArm, T>;
    const throughput = perArm<number[]>(() => []);
    const open = perArm<LoadResult[]>(() => []);
    const errors = perArm(() => 0);
    const cpuPerRequest = perArm<number[]>(() => []);
    for (let round = 1; round <= rounds; round++) {
      const order = webhookArms.map((_, i) => webhookArms[(i + round - 1) % webhookArms.length]!);
      for (const arm of order) {
        const { port, proc } = procs[arm];
        const cpu0 = cpuSeconds(proc.pid);
        const closed = await runLoad({ ...job(port), connections, mode: { kind: 'closed', concurrency: connections, durationMs } });
        cpuPerRequest[arm].push(((cpuSeconds(proc.pid) - cpu0) / (closed.count + closed.warmupCount)) * 1e6);
        const opened = await runLoad({ ...job(port), connections: 16, mode: { kind: 'open', rate, durationMs } });
        checkSamples(arm, closed);
        throughput[arm].push(closed.rps);
        open[arm].push(opened);
        errors[arm] += errorCount(closed) + errorCount(opened);
        const s = summarize(opened.latenciesMs);
        log(`round ${round} ${arm}: ${Math.round(closed.rps)} req/s closed loop (${cpuPerRequest[arm].at(-1)!.toFixed(0)} µs CPU/req); at ${rate} req/s p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms p999 ${s.p999Ms} ms; errors ${errorCount(closed) + errorCount(opened)}`);
      }
    }
    const rssAfter = rssMB(guard.proc.pid);

    const arm = (a: WebhookArm): ArmResult => {
      const samples = concat(open[a].map((r) => r.latenciesMs));
      const byKind: Record<string, Summary> = {};
      for (const k of requests.map((r) => r.kind)) byKind[k] = summarize(concat(open[a].map((r) => latenciesOf(r, k))));
      const lag = summarize(concat(open[a].map((r) => r.sendLateMs)));
      return { rps: round(median(throughput[a]), 0), rpsRounds: throughput[a].map((x) => Math.round(x)), cpuUsPerRequest: round(median(cpuPerRequest[a]), 1), latency: summarize(samples), generatorLagMs: { p50: lag.p50Ms, p99: lag.p99Ms }, byKind, errors: errors[a], samples };
    };
    const all = perArm(() => undefined as unknown as ArmResult);
    for (const a of webhookArms) all[a] = arm(a);
    const strip = (x: ArmResult) => {
      const { samples: _s, ...rest } = x;
      return rest;
    };
    return {
      rps: all.guard.rps,
      floorRps: all.floor.rps,
      ratio: round(all.guard.rps / all.floor.rps, 3),
      ratioToParse: round(all.guard.rps / all.parse.rps, 3),
      p50Ms: all.guard.latency.p50Ms,
      p99Ms: all.guard.latency.p99Ms,
      p999Ms: all.guard.latency.p999Ms,
      floorP99Ms: all.floor.latency.p99Ms,
      rateRps: rate,
      connections,
      rounds,
      requestBytes,
      arms: { floor: strip(all.floor), parse: strip(all.parse), guard: strip(all.guard) },
      webhookRssMB: { before: rssBefore, after: rssAfter },
      samples: { floor: all.floor.samples, parse: all.parse.samples, guard: all.guard.samples },
    };
  } finally {
    for (const p of started.reverse()) await p.stop();
    if (o.cpuProfDir) log(`webhook CPU profile in ${o.cpuProfDir}`);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The guard's answers are AdmissionReviews with the request's uid; a wrong answer fails the run. */
function checkSamples(arm: WebhookArm, r: LoadResult): void {
  for (const s of r.samples) {
    const body = JSON.parse(s.body) as { kind?: string; response?: { uid?: string; allowed?: boolean; patch?: string } };
    if (s.status !== 200 || body.kind !== 'AdmissionReview' || typeof body.response?.uid !== 'string') {
      throw new Error(`${arm}: unexpected answer to ${s.kind}: HTTP ${s.status} ${s.body.slice(0, 200)}`);
    }
    if (arm === 'guard' && s.kind === 'pod/mutate' && !body.response.patch) throw new Error(`guard: the daemon pod was not labeled: ${s.body.slice(0, 300)}`);
  }
}

export function webhookTables(r: WebhookResults): string {
  const rows = webhookArms.map((a) => {
    const x = r.arms[a];
    return [armLabel[a], x.rps, x.rpsRounds.join(' / '), x.cpuUsPerRequest, x.latency.p50Ms, x.latency.p99Ms, x.latency.p999Ms, `${x.generatorLagMs.p50} / ${x.generatorLagMs.p99}`, x.errors];
  });
  const kinds = Object.keys(r.arms.guard.byKind).map((k) => {
    const g = r.arms.guard.byKind[k]!;
    const f = r.arms.floor.byKind[k]!;
    return [k, r.requestBytes[k] ?? 0, f.p50Ms, f.p99Ms, g.p50Ms, g.p99Ms, g.p999Ms];
  });
  return (
    table(`Webhook handler: ${r.rounds} rounds, arms alternated; throughput with ${r.connections} requests in flight, latency at ${r.rateRps} req/s (ms)`, ['arm', 'req/s (median)', 'req/s by round', 'server CPU µs/req', 'p50', 'p99', 'p999', 'generator lag p50 / p99', 'errors'], rows) +
    table('Webhook handler by request (ms, at the open-loop rate)', ['request', 'bytes', 'floor p50', 'floor p99', 'guard p50', 'guard p99', 'guard p999'], kinds) +
    `ratio guard/floor: ${r.ratio} (target ≥ 0.8); guard/(bare TLS + JSON.parse): ${r.ratioToParse}; guard p99 at ${r.rateRps} req/s: ${r.p99Ms} ms (target ≤ 2 ms); webhook RSS ${r.webhookRssMB.before} → ${r.webhookRssMB.after} MB\n`
  );
}
