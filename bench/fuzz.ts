// 100,000 fuzzed AdmissionReviews (test/hardening/fuzz-cases.ts) against the running webhook process:
// every answer checked against the contract, the process still up at the end, no unhandled rejection
// or error in its log, and its RSS before and after. The hardening test runs the same with fewer
// requests as part of the suite; this is the full run, whose numbers go into bench/results.json.
import { readFileSync, rmSync } from 'node:fs';
import { isRunning } from '../test/cluster/processes.ts';
import { runFuzz } from '../test/hardening/fuzz-cases.ts';
import { benchStateDir, log, table } from './lib/report.ts';
import { guardWebhook, rssMB, writeCerts } from './lib/webhook-process.ts';

export interface FuzzResults {
  requests: number;
  seed: number;
  wellFormed: number;
  failures: number;
  examples: string[];
  statuses: Record<string, number>;
  seconds: number;
  alive: boolean;
  unhandledRejections: number;
  errorLogLines: number;
  errorMessages: string[];
  /** RSS before the first request, after the first 10,000 (the heap grown to its working size), and at the end. */
  rssMB: { before: number; afterWarmup: number; after: number };
  /** RSS every 10,000 requests: flat after the warm-up, or a leak. */
  rssEvery10k: number[];
  /**
   * The same run against a webhook whose V8 old space is capped: a leak would end in an out-of-memory
   * crash or a contract breach; growth that is only the heap sizing itself up stays under the cap.
   */
  capped: { maxOldSpaceMB: number; wellFormed: number; alive: boolean; rssEvery10k: number[] };
}

const cappedOldSpaceMB = 48;

/** Whether the run kept every promise: the contract on every answer, the process up, nothing logged as an error. */
export function fuzzPassed(r: FuzzResults): boolean {
  return r.failures === 0 && r.wellFormed === r.requests && r.alive && r.unhandledRejections === 0 && r.errorLogLines === 0 && r.capped.alive && r.capped.wellFormed === r.requests;
}

export async function runFuzzBench(o: { requests?: number; seed?: number } = {}): Promise<FuzzResults> {
  const requests = o.requests ?? 100_000;
  const seed = o.seed ?? 20261123;
  const full = await fuzzOnce(requests, seed);
  log(`fuzz: again, with the webhook's old space capped at ${cappedOldSpaceMB} MB`);
  const capped = await fuzzOnce(requests, seed, cappedOldSpaceMB);
  return { ...full, capped: { maxOldSpaceMB: cappedOldSpaceMB, wellFormed: capped.wellFormed, alive: capped.alive, rssEvery10k: capped.rssEvery10k } };
}

async function fuzzOnce(requests: number, seed: number, maxOldSpaceMB?: number): Promise<Omit<FuzzResults, 'capped'>> {
  const dir = benchStateDir('fuzz');
  const certs = await writeCerts(dir);
  const webhook = await guardWebhook(dir, certs, maxOldSpaceMB ? { maxOldSpaceMB } : {});
  try {
    const before = rssMB(webhook.proc.pid);
    const series: number[] = [];
    const run = await runFuzz({
      port: webhook.port,
      ca: certs.caPem,
      count: requests,
      seed,
      concurrency: 16,
      onProgress: (n) => {
        series.push(rssMB(webhook.proc.pid));
        log(`fuzz: ${n}/${requests}, webhook RSS ${series.at(-1)} MB`);
      },
    });
    const alive = isRunning(webhook.proc);
    const after = alive ? rssMB(webhook.proc.pid) : NaN;
    const logLines = readFileSync(webhook.logFile, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level?: string; msg?: string });
    return {
      requests,
      seed,
      wellFormed: run.wellFormed,
      failures: run.failures,
      examples: run.examples,
      statuses: run.statuses,
      seconds: Math.round(run.elapsedMs / 100) / 10,
      alive,
      unhandledRejections: logLines.filter((l) => l.msg === 'unhandled promise rejection').length,
      errorLogLines: logLines.filter((l) => l.level === 'error' || l.level === 'fatal').length,
      errorMessages: [...new Set(logLines.filter((l) => l.level === 'error' || l.level === 'fatal').map((l) => `${l.msg}: ${JSON.stringify((l as { err?: unknown }).err ?? '').slice(0, 300)}`))].slice(0, 5),
      rssMB: { before, afterWarmup: series[0] ?? NaN, after },
      rssEvery10k: series,
    };
  } finally {
    await webhook.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function fuzzTables(r: FuzzResults): string {
  return (
    table(`Fuzz: ${r.requests} malformed AdmissionReviews against the running webhook (seed ${r.seed})`, ['measure', 'value'], [
      ['answers keeping the contract', `${r.wellFormed}/${r.requests}`],
      ['contract breaches', r.failures],
      ['HTTP statuses', Object.entries(r.statuses).map(([k, v]) => `${k}: ${v}`).join(', ')],
      ['process alive at the end', r.alive ? 'yes' : 'NO'],
      ['unhandled rejections / error log lines', `${r.unhandledRejections} / ${r.errorLogLines}`],
      ['RSS before → after 10,000 → at the end', `${r.rssMB.before} → ${r.rssMB.afterWarmup} → ${r.rssMB.after} MB`],
      ['RSS every 10,000', `${r.rssEvery10k.join(', ')} MB`],
      [`the same, old space capped at ${r.capped.maxOldSpaceMB} MB`, `${r.capped.wellFormed}/${r.requests} kept the contract, ${r.capped.alive ? 'alive' : 'DEAD'} at the end; RSS every 10,000: ${r.capped.rssEvery10k.join(', ')} MB`],
      ['verdict', fuzzPassed(r) ? 'passed' : 'FAILED'],
      ['time', `${r.seconds} s`],
    ]) + (r.errorMessages.length ? `error log lines:\n${r.errorMessages.map((e) => `  ${e}`).join('\n')}\n` : '') + (r.examples.length ? `first breaches:\n${r.examples.map((e) => `  ${e}`).join('\n')}\n` : '')
  );
}
