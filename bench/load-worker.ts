// The load generator: a separate process (forked by bench/lib/load.ts) that sends HTTPS requests over
// keep-alive connections (undici's Pool) and records each latency with microsecond resolution.
//   closed loop: `concurrency` requests always in flight (throughput);
//   open loop:   `rate` requests a second on a fixed schedule, each latency measured from the moment
//                it was due, so a slow answer is not hidden by the requests it holds back
//                (no coordinated omission).
// The parent sends one job on the IPC channel and gets one result back; the worker then exits.
import { Pool } from 'undici';

export interface LoadRequest {
  method: 'POST' | 'GET';
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** A label for per-kind results (e.g. "pod/mutate"). */
  kind?: string;
}

export type LoadMode =
  | { kind: 'closed'; concurrency: number; count?: number; durationMs?: number }
  | { kind: 'open'; rate: number; durationMs: number };

export interface LoadJob {
  origin: string;
  tls: { ca: string; cert?: string; key?: string; servername?: string };
  requests: LoadRequest[];
  connections: number;
  mode: LoadMode;
  /** Run the same mode this long first, unrecorded (connections, JIT, caches). */
  warmupMs?: number;
  /** Answers with another status count as errors. */
  expectStatus: number[];
  /** Every n-th answer is parsed and handed to the parent (to check it); 0: none. */
  sampleEvery?: number;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
}

export interface LoadResult {
  latenciesMs: Float64Array;
  /** Open loop: how late each request was sent after it was due (in the latencies already). */
  sendLateMs: Float64Array;
  kinds: string[];
  /** Index into kinds for each latency. */
  kindOf: Uint8Array;
  count: number;
  /** Requests answered during the warm-up (not in the latencies). */
  warmupCount: number;
  errors: Record<string, number>;
  statuses: Record<string, number>;
  elapsedMs: number;
  rps: number;
  samples: { kind: string; status: number; body: string }[];
}

interface Recorder {
  lat: number[];
  /** How late each request left the generator (ms after it was due): the generator's own lag. */
  late: number[];
  kindIdx: number[];
  errors: Record<string, number>;
  statuses: Record<string, number>;
  samples: LoadResult['samples'];
  n: number;
}

function newRecorder(): Recorder {
  return { lat: [], late: [], kindIdx: [], errors: {}, statuses: {}, samples: [], n: 0 };
}

async function run(job: LoadJob): Promise<LoadResult> {
  const pool = new Pool(job.origin, {
    connections: job.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: job.timeoutMs ?? 30_000,
    bodyTimeout: job.timeoutMs ?? 30_000,
    connect: { ca: job.tls.ca, cert: job.tls.cert, key: job.tls.key, servername: job.tls.servername, rejectUnauthorized: true },
  });
  const kinds = [...new Set(job.requests.map((r) => r.kind ?? 'all'))];
  const kindIndex = job.requests.map((r) => kinds.indexOf(r.kind ?? 'all'));
  const bodies = job.requests.map((r) => (r.body === undefined ? undefined : Buffer.from(r.body)));
  const headers = job.requests.map((r, i) => ({
    ...(bodies[i] ? { 'content-type': 'application/json', 'content-length': String(bodies[i]!.length) } : {}),
    accept: 'application/json',
    ...r.headers,
  }));
  let next = 0;

  const one = async (rec: Recorder, dueAt: number): Promise<void> => {
    const i = next++ % job.requests.length;
    const r = job.requests[i]!;
    let status = 0;
    rec.late.push(performance.now() - dueAt);
    try {
      const res = await pool.request({ method: r.method, path: r.path, headers: headers[i], body: bodies[i] ?? null });
      status = res.statusCode;
      const sample = job.sampleEvery && rec.n % job.sampleEvery === 0;
      rec.n++;
      if (sample) rec.samples.push({ kind: kinds[kindIndex[i]!]!, status, body: await res.body.text() });
      else await res.body.dump({ limit: Infinity });
      const took = performance.now() - dueAt;
      rec.statuses[status] = (rec.statuses[status] ?? 0) + 1;
      if (!job.expectStatus.includes(status)) rec.errors[`HTTP ${status}`] = (rec.errors[`HTTP ${status}`] ?? 0) + 1;
      rec.lat.push(took);
      rec.kindIdx.push(kindIndex[i]!);
    } catch (err) {
      const msg = (err as Error).message.slice(0, 120);
      rec.errors[msg] = (rec.errors[msg] ?? 0) + 1;
    }
  };

  const phase = async (mode: LoadMode, rec: Recorder): Promise<number> => {
    const started = performance.now();
    if (mode.kind === 'closed') {
      const until = mode.durationMs !== undefined ? started + mode.durationMs : Infinity;
      let remaining = mode.count ?? Infinity;
      const loop = async () => {
        while (remaining > 0 && performance.now() < until) {
          remaining--;
          await one(rec, performance.now());
        }
      };
      await Promise.all(Array.from({ length: mode.concurrency }, loop));
    } else {
      const interval = 1000 / mode.rate;
      const total = Math.floor((mode.durationMs / 1000) * mode.rate);
      const inFlight = new Set<Promise<void>>();
      let sent = 0;
      await new Promise<void>((resolve) => {
        const tick = () => {
          const now = performance.now();
          while (sent < total && started + sent * interval <= now) {
            const p = one(rec, started + sent * interval);
            inFlight.add(p);
            void p.finally(() => inFlight.delete(p));
            sent++;
          }
          if (sent >= total) return resolve();
          setTimeout(tick, Math.max(0, Math.min(1, started + sent * interval - performance.now())));
        };
        tick();
      });
      await Promise.all(inFlight);
    }
    return performance.now() - started;
  };

  const warm = newRecorder();
  if (job.warmupMs) await phase(job.mode.kind === 'closed' ? { ...job.mode, count: undefined, durationMs: job.warmupMs } : { ...job.mode, durationMs: job.warmupMs }, warm);
  next = 0;
  const rec = newRecorder();
  const elapsedMs = await phase(job.mode, rec);
  await pool.close();
  const count = rec.lat.length;
  return {
    latenciesMs: Float64Array.from(rec.lat),
    sendLateMs: Float64Array.from(rec.late),
    kinds,
    kindOf: Uint8Array.from(rec.kindIdx),
    count,
    warmupCount: warm.lat.length,
    errors: rec.errors,
    statuses: rec.statuses,
    elapsedMs,
    rps: (count / elapsedMs) * 1000,
    samples: rec.samples,
  };
}

process.once('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send!({ ok: true, result }, () => process.exit(0)),
    (err: Error) => process.send!({ ok: false, error: err.stack ?? err.message }, () => process.exit(1)),
  );
});
