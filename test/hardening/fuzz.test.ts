// Fuzzed AdmissionReviews (fuzz-cases.ts) against a running webhook process of its own (the harness's
// webhook command line, on its own port, with the test cluster's certificate and credentials): every
// answer keeps the contract, the process is still up afterwards, and it logged no unhandled rejection.
// The suite sends 10,000; `npm run bench -- fuzz` sends 100,000 and records the numbers.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { startWebhook, stopWebhook } from '../cluster/cluster.ts';
import { freePort } from '../cluster/ports.ts';
import { isRunning, logFileOf, readRecord } from '../cluster/processes.ts';
import { cluster } from '../integration/helpers.ts';
import { runFuzz } from './fuzz-cases.ts';

const requests = 10_000;

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

test(`${requests} fuzzed AdmissionReviews against the running webhook: every answer well-formed, no crash, no unhandled rejection`, async () => {
  const s = cluster();
  const name = 'webhook-fuzz';
  const port = await freePort();
  await startWebhook(s, { name, port });
  try {
    const proc = readRecord(s.stateDir, name)!;
    const before = rssMB(proc.pid);
    const run = await runFuzz({ port, ca: readFileSync(s.webhook.caFile, 'utf8'), count: requests, seed: 14 });
    const after = isRunning(proc) ? rssMB(proc.pid) : NaN;
    console.log(`fuzz: ${run.sent} requests in ${(run.elapsedMs / 1000).toFixed(1)} s, statuses ${JSON.stringify(run.statuses)}, webhook RSS ${before} → ${after} MB`);
    expect(run.examples).toEqual([]);
    expect(run.wellFormed).toBe(requests);
    expect(isRunning(proc), 'the webhook process is still running').toBe(true);
    const lines = readFileSync(logFileOf(s.stateDir, name), 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; level?: string });
    expect(lines.filter((l) => l.msg === 'unhandled promise rejection')).toEqual([]);
    expect(lines.filter((l) => l.level === 'fatal')).toEqual([]);
    // No request reached the handler's last-resort catch: every malformed input got a decision and a
    // reason from the core, not an internal error ("admission failed; admitting unchecked").
    const failed = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('admission failed'));
    expect(failed.slice(0, 5), `${failed.length} "admission failed" log lines`).toEqual([]);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([]);
  } finally {
    await stopWebhook(s, name);
  }
});
