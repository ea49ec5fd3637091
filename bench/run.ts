// `npm run bench [-- webhook|apiserver|reaper|fuzz ...] [--quick] [--no-wait] [--cpu-prof DIR]`
// Runs the benchmarks (all by default), prints a table per benchmark, and merges what it measured into
// bench/results.json (a part not run keeps its earlier numbers, with the machine and load it ran at),
// then redraws bench/latency.svg from results.json.
//   --quick     short runs and a small reaper scale: for checking the benchmarks work, not for numbers
//   --no-wait   do not wait for the 1-minute load average to drop below 1 before starting
//   --cpu-prof  write CPU profiles of the guard's processes (webhook, reaper) into DIR
//   --redraw    only redraw bench/latency.svg from bench/results.json
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../test/cluster/state.ts';
import { commitOf, machine, versionsOf, waitQuiet } from './lib/machine.ts';
import { log } from './lib/report.ts';
import { quantiles } from './lib/stats.ts';
import { latencySvg, quantileSteps, type Panel } from './lib/svg.ts';
import { runWebhookBench, webhookTables } from './webhook.ts';
import { apiserverTables, runApiserverBench } from './apiserver.ts';
import { reaperTables, runReaperBench } from './reaper.ts';
import { fuzzPassed, fuzzTables, runFuzzBench } from './fuzz.ts';
import { benchCluster } from './lib/cluster.ts';

const parts = ['webhook', 'fuzz', 'apiserver', 'reaper'] as const;
type Part = (typeof parts)[number];

const resultsFile = join(repoRoot, 'bench', 'results.json');
const svgFile = join(repoRoot, 'bench', 'latency.svg');

type Results = Record<string, unknown> & { runs?: Record<string, unknown> };

function readResults(): Results {
  if (!existsSync(resultsFile)) return {};
  try {
    return JSON.parse(readFileSync(resultsFile, 'utf8')) as Results;
  } catch {
    return {};
  }
}

function drawSvg(results: Results): void {
  const panels: Panel[] = [];
  const dist = (part: string) => (results[part] as { distribution?: Record<string, Record<string, [number, number][]>> } | undefined)?.distribution;
  const curves = (d: Record<string, [number, number][]> | undefined) => Object.entries(d ?? {}).map(([label, points]) => ({ label, points }));
  const load = (part: string) => {
    const run = results.runs?.[part] as { loadAverageStart?: number[]; loadAverageEnd?: number[] } | undefined;
    return run?.loadAverageStart ? ` (load ${run.loadAverageStart[0]}→${run.loadAverageEnd?.[0] ?? '?'})` : '';
  };
  const w = dist('webhook');
  if (w) panels.push({ title: `Webhook at ${(results.webhook as { rateRps: number }).rateRps} req/s${load('webhook')}`, curves: curves(w.arms) });
  const a = dist('apiserver');
  if (a) for (const [k, d] of Object.entries(a)) panels.push({ title: `Pod create, ${k} concurrent${load('apiserver')}`, curves: curves(d) });
  const r = dist('reaper');
  if (r) panels.push({ title: `Reap after end of grace, 500 at once${load('reaper')}`, curves: curves(r.reap) });
  const m = results.machine as { cpuModel?: string; cores?: number; memoryGiB?: number } | undefined;
  writeFileSync(svgFile, latencySvg(panels, `argo-daemon-guard: latency by percentile (ms, log scale) · ${m?.cores ?? '?'} cores ${m?.cpuModel ?? ''}, ${m?.memoryGiB ?? '?'} GiB · 1-minute load average at start→end of each part`));
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--redraw')) {
    drawSvg(readResults());
    log(`redrew ${svgFile} from ${resultsFile}`);
    return 0;
  }
  const quick = argv.includes('--quick');
  const noWait = argv.includes('--no-wait');
  const profIdx = argv.indexOf('--cpu-prof');
  const cpuProfDir = profIdx >= 0 ? resolve(argv[profIdx + 1] ?? 'bench/profiles') : undefined;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const named = argv.filter((a) => (parts as readonly string[]).includes(a)) as Part[];
  const unknown = argv.filter((a, i) => !a.startsWith('--') && !(parts as readonly string[]).includes(a) && argv[i - 1] !== '--cpu-prof');
  if (unknown.length) {
    process.stderr.write(`usage: npm run bench [-- ${parts.join('|')} ...] [--quick] [--no-wait] [--cpu-prof DIR] [--redraw]\n`);
    return 2;
  }
  // The parts without a cluster first, so an idle cluster never runs beside them.
  const order: Part[] = ['webhook', 'fuzz', 'apiserver', 'reaper'];
  const todo = order.filter((p) => (named.length ? named.includes(p) : true));

  const quiet = noWait ? { quiet: false, load: machine().loadAverage[0]! } : await waitQuiet(1, 20 * 60_000, log);
  if (!noWait && !quiet.quiet) log(`the machine did not get quiet (load ${quiet.load.toFixed(2)}): measuring anyway; the load is recorded with the numbers`);
  const results = readResults();
  const at = machine();
  results.machine = at;
  results.versions = versionsOf();
  results.runs ??= {};
  const record = (part: Part, value: Record<string, unknown>, distribution?: Record<string, unknown>) => {
    results[part] = { ...value, ...(distribution ? { distribution } : {}) };
    results.runs![part] = { at: new Date().toISOString(), commit: commitOf(), quick, loadAverageStart: loadStart, loadAverageEnd: machine().loadAverage, waitedForQuiet: !noWait, quietReached: quiet.quiet };
    writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n');
    drawSvg(results);
  };
  let loadStart = at.loadAverage;
  /** Parts whose run shows a broken promise (not a missed target): the bench then exits 1. */
  const failed: string[] = [];
  let cluster: Awaited<ReturnType<typeof benchCluster>> | undefined;
  try {
    for (const part of todo) {
      if ((part === 'apiserver' || part === 'reaper') && !cluster) cluster = await benchCluster(quick);
      loadStart = machine().loadAverage;
      log(`${part}: starting (load average ${loadStart.join(', ')})`);
      if (part === 'webhook') {
        const r = await runWebhookBench(quick ? { rounds: 2, durationMs: 3000, warmupMs: 1000, ...(cpuProfDir ? { cpuProfDir } : {}) } : cpuProfDir ? { cpuProfDir } : {});
        process.stdout.write(webhookTables(r));
        const { samples, ...rest } = r;
        record('webhook', rest, { arms: { 'floor (fixed answer)': quantiles(samples.floor, quantileSteps), 'bare TLS + JSON.parse': quantiles(samples.parse, quantileSteps), 'argo-daemon-guard': quantiles(samples.guard, quantileSteps) } });
      } else if (part === 'apiserver') {
        const r = await runApiserverBench(cluster!.state, { ...(quick ? { creates: 150, rounds: 1 } : {}), ...(cpuProfDir ? { cpuProfDir } : {}) });
        process.stdout.write(apiserverTables(r));
        const { samples, ...rest } = r;
        const distribution: Record<string, Record<string, [number, number][]>> = {};
        for (const [c, arms] of Object.entries(samples)) distribution[c] = Object.fromEntries(Object.entries(arms).map(([arm, s]) => [arm, quantiles(s, quantileSteps)]));
        record('apiserver', rest, distribution);
      } else if (part === 'reaper') {
        const r = await runReaperBench(cluster!.state, quick ? { workflows: 600, pods: 120, ending: 40, defaultsEnding: 20 } : cpuProfDir ? { cpuProfDir } : {});
        process.stdout.write(reaperTables(r));
        const { samples, ...rest } = r;
        record('reaper', rest, {
          reap: {
            'raised limits': quantiles(samples.raised, quantileSteps),
            defaults: quantiles(samples.defaults, quantileSteps),
            'floor: deletes alone': quantiles(samples.floorDeletes, quantileSteps),
            'floor: Workflow read + delete': quantiles(samples.floorReadAndDelete, quantileSteps),
          },
        });
        for (const [arm, a] of [['raised limits', r.raised], ['defaults', r.defaults]] as const) {
          if (a.maxDeletesPerPod > 1) failed.push(`reaper, ${arm}: a pod deleted ${a.maxDeletesPerPod} times`);
          if (a.deleted + a.wouldReap !== a.ended) failed.push(`reaper, ${arm}: ${a.ended} scopes ended, ${a.deleted} deleted + ${a.wouldReap} would-reap`);
        }
      } else if (part === 'fuzz') {
        const r = await runFuzzBench(quick ? { requests: 5000 } : {});
        process.stdout.write(fuzzTables(r));
        record('fuzz', r as unknown as Record<string, unknown>);
        if (!fuzzPassed(r)) failed.push('fuzz: the webhook broke its contract (see the table)');
      }
    }
  } finally {
    await cluster?.stop();
  }
  log(`results in ${resultsFile}; chart in ${svgFile}`);
  for (const f of failed) log(`FAILED: ${f}`);
  return failed.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
