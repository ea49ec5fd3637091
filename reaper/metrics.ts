// The reaper's Prometheus metrics, on a registry of its own. Labels are reasons, decisions and
// outcomes from closed sets: never a pod or workflow name.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { guard } from '../core/keys.ts';

const p = `${guard.metricPrefix}reaper_`;

export function createReaperMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    decisions: new Counter({ name: `${p}decisions_total`, help: 'Decisions made, by decision and reason', labelNames: ['decision', 'reason'] as const, registers }),
    reaps: new Counter({
      name: `${p}reaps_total`,
      help: 'Leftover daemons acted on, by reason and outcome (deleted, would-reap, stuck, forced, gone, uid-changed, error)',
      labelNames: ['reason', 'outcome'] as const,
      registers,
    }),
    reapLatency: new Histogram({
      name: `${p}reap_latency_seconds`,
      help: 'From the moment a leftover could be reaped (end of grace) to its deletion verified',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    leftovers: new Gauge({ name: `${p}leftovers`, help: 'Daemon pods whose scope is over and that are still present (waiting for grace or reaped)', registers }),
    unknown: new Gauge({ name: `${p}unknown_decisions`, help: 'Daemon pods whose decision is unknown (offloaded status, unreadable template, ...)', labelNames: ['reason'] as const, registers }),
    stuck: new Gauge({ name: `${p}stuck_pods`, help: 'Pods still present after their grace following a delete', registers }),
    leader: new Gauge({ name: `${p}leader`, help: '1 while this replica holds the reaper Lease', registers }),
    circuitOpen: new Gauge({ name: `${p}circuit_open`, help: '1 while the circuit breaker holds the reaper in dry-run', registers }),
    dryRun: new Gauge({ name: `${p}dry_run`, help: '1 while the reaper is in global dry-run (config, flag or circuit breaker)', registers }),
    watchRestarts: new Counter({ name: `${p}watch_restarts_total`, help: 'List/watch restarts by informer and cause (resync, error, silent, expired); each retry after a failed list counts', labelNames: ['informer', 'cause'] as const, registers }),
    cached: new Gauge({ name: `${p}cached_objects`, help: 'Objects held in memory, by informer', labelNames: ['informer'] as const, registers }),
    configReloads: new Counter({ name: `${p}config_reload_total`, help: 'Config file reloads by outcome', labelNames: ['outcome'] as const, registers }),
  };
}

export type ReaperMetrics = ReturnType<typeof createReaperMetrics>;
