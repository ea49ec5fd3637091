// The chart's Grafana dashboard (files/grafana-dashboard.json), built from this short list of panels so
// that every query is written once and a test can read each query's metric back out of it.
// scripts/generate-chart-files.ts writes it; the chart puts it in a ConfigMap labeled grafana_dashboard.

type Panel = { title: string; description: string; unit: string; kind: 'timeseries' | 'stat'; queries: { expr: string; legend: string }[] };

const sel = '{namespace="$namespace"}';
const rate = (metric: string, by: string) => `sum by (${by}) (rate(${metric}${sel}[$__rate_interval]))`;
const quantiles = (metric: string, by: string) =>
  [0.5, 0.99].map((q) => ({ expr: `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket${sel}[$__rate_interval])))`, legend: `p${q * 100}${by ? ` {{${by}}}` : ''}` }));

/** Rows (a string) and panels, in reading order: admission first, then the reaper, then health. */
const layout: (Panel | string)[] = [
  'Admission (webhook)',
  { title: 'Admissions by endpoint, kind and decision', description: 'Admission requests answered per second (argo_daemon_guard_admissions_total).', unit: 'reqps', kind: 'timeseries', queries: [{ expr: rate('argo_daemon_guard_admissions_total', 'endpoint, kind, decision'), legend: '{{endpoint}} {{kind}} {{decision}}' }] },
  { title: 'Policy findings by rule and mode', description: 'Findings per second; audit-mode findings appear only here and in the log.', unit: 'short', kind: 'timeseries', queries: [{ expr: rate('argo_daemon_guard_policy_findings_total', 'rule, mode'), legend: '{{rule}} ({{mode}})' }] },
  { title: 'Admission latency', description: 'From a complete request body to the answer, by endpoint.', unit: 's', kind: 'timeseries', queries: quantiles('argo_daemon_guard_admission_duration_seconds', 'endpoint') },
  { title: 'Admission errors by stage', description: 'Requests the webhook could not handle normally (body: 400; review, handler: admitted unchecked).', unit: 'reqps', kind: 'timeseries', queries: [{ expr: rate('argo_daemon_guard_admission_errors_total', 'endpoint, stage'), legend: '{{endpoint}} {{stage}}' }] },
  'Reaper',
  { title: 'Decisions by decision and reason', description: 'Reaper decisions about daemon pods per second.', unit: 'short', kind: 'timeseries', queries: [{ expr: rate('argo_daemon_guard_reaper_decisions_total', 'decision, reason'), legend: '{{decision}} {{reason}}' }] },
  { title: 'Leftover daemons', description: 'Daemon pods whose scope is over and that are still present.', unit: 'short', kind: 'timeseries', queries: [{ expr: `max(argo_daemon_guard_reaper_leftovers${sel})`, legend: 'leftovers' }] },
  { title: 'Unknown decisions by reason', description: 'Daemon pods the reaper cannot decide on; they are never deleted.', unit: 'short', kind: 'timeseries', queries: [{ expr: `max by (reason) (argo_daemon_guard_reaper_unknown_decisions${sel})`, legend: '{{reason}}' }] },
  { title: 'Reaps by reason and outcome', description: 'Leftover daemons acted on per second (would-reap in dry-run).', unit: 'short', kind: 'timeseries', queries: [{ expr: rate('argo_daemon_guard_reaper_reaps_total', 'reason, outcome'), legend: '{{reason}} {{outcome}}' }] },
  { title: 'Reap latency', description: 'From the end of a leftover\'s grace to its deletion verified.', unit: 's', kind: 'timeseries', queries: quantiles('argo_daemon_guard_reaper_reap_latency_seconds', '') },
  { title: 'Stuck pods', description: 'Reaped pods still present after their grace.', unit: 'short', kind: 'stat', queries: [{ expr: `max(argo_daemon_guard_reaper_stuck_pods${sel})`, legend: 'stuck' }] },
  'Health',
  { title: 'Reaper leader', description: '1 for the replica holding the Lease; no 1 at all means nothing is reaped.', unit: 'short', kind: 'timeseries', queries: [{ expr: `max by (pod) (argo_daemon_guard_reaper_leader${sel})`, legend: '{{pod}}' }] },
  { title: 'Reaper dry-run', description: '1 while the reaper is in global dry-run (config, flag or circuit breaker).', unit: 'short', kind: 'stat', queries: [{ expr: `max(argo_daemon_guard_reaper_dry_run${sel})`, legend: 'dry-run' }] },
  { title: 'Circuit breaker open', description: '1 while the circuit breaker holds the reaper in dry-run.', unit: 'short', kind: 'stat', queries: [{ expr: `max(argo_daemon_guard_reaper_circuit_open${sel})`, legend: 'open' }] },
  { title: 'Watch restarts by informer and cause', description: 'List/watch restarts after errors, stalls (silent) or an expired resourceVersion.', unit: 'short', kind: 'timeseries', queries: [{ expr: `sum by (informer, cause) (increase(argo_daemon_guard_reaper_watch_restarts_total${sel}[$__rate_interval]))`, legend: '{{informer}} {{cause}}' }] },
  { title: 'Serving certificate expires in', description: 'Time left on the webhook\'s serving certificate (the soonest of the replicas).', unit: 's', kind: 'stat', queries: [{ expr: `min(argo_daemon_guard_serving_cert_expiry_timestamp_seconds${sel}) - time()`, legend: 'expires in' }] },
  { title: 'Policy loaded', description: '1 when the latest policy loaded; 0: it was refused and the last good one is in use.', unit: 'short', kind: 'stat', queries: [{ expr: `min(argo_daemon_guard_policy_last_reload_success${sel})`, legend: 'loaded' }] },
];

const datasource = { type: 'prometheus', uid: '${datasource}' };

export function grafanaDashboard() {
  const panels: Record<string, unknown>[] = [];
  let x = 0;
  let y = 0;
  let id = 1;
  for (const item of layout) {
    if (typeof item === 'string') {
      if (x) y += 8;
      x = 0;
      panels.push({ id: id++, type: 'row', title: item, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y } });
      y += 1;
      continue;
    }
    const w = item.kind === 'stat' ? 6 : 12;
    if (x + w > 24) {
      x = 0;
      y += 8;
    }
    panels.push({
      id: id++,
      type: item.kind,
      title: item.title,
      description: item.description,
      datasource,
      gridPos: { h: 8, w, x, y },
      fieldConfig: { defaults: { unit: item.unit }, overrides: [] },
      options: item.kind === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'value' } : { legend: { displayMode: 'list', placement: 'bottom' } },
      targets: item.queries.map((q, i) => ({ refId: String.fromCharCode(65 + i), datasource, expr: q.expr, legendFormat: q.legend })),
    });
    x += w;
  }
  return {
    comment: 'Generated by scripts/chart-dashboard.ts. Do not edit: run `npm run chart:generate`.',
    uid: 'argo-daemon-guard',
    title: 'argo-daemon-guard',
    tags: ['argo', 'argo-daemon-guard'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus' },
        { name: 'namespace', label: 'Namespace', type: 'query', datasource, query: { query: 'label_values({__name__=~"argo_daemon_guard_.+"}, namespace)', refId: 'namespace' }, refresh: 2 },
      ],
    },
    panels,
  };
}
