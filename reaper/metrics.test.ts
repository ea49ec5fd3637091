// Every metric the chart's alerts and dashboards query is one the code updates: a metric that is only
// defined reads as "all quiet" forever, and the alert built on it can never fire.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../webhook/metrics.ts';
import { createReaperMetrics } from './metrics.ts';

const root = join(import.meta.dirname, '..');

function files(dir: string, keep: (f: string) => boolean): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && keep(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** The metric names the chart's templates and files (alerts, dashboards) query. */
function queriedByChart(): string[] {
  const text = files('charts/argo-daemon-guard', (f) => /\.(ya?ml|json|tpl)$/.test(f)).map((f) => readFileSync(f, 'utf8')).join('\n');
  return [...new Set([...text.matchAll(/\bargo_daemon_guard_[a-z_]+/g)].map((m) => m[0]))].sort();
}

/** Each metric by name: the property of its shell's metrics object, and that shell's product sources. */
function definitions() {
  const out = new Map<string, { property: string; shell: string }>();
  for (const [shell, metrics] of [['reaper', createReaperMetrics({ defaultMetrics: false })], ['webhook', createMetrics({ defaultMetrics: false })]] as const) {
    for (const [property, metric] of Object.entries(metrics)) {
      if (property !== 'registry') out.set((metric as unknown as { name: string }).name, { property, shell });
    }
  }
  return out;
}

describe('the metrics the chart queries', () => {
  const queried = queriedByChart();
  const defined = definitions();

  it('are found in the chart (the check below has something to check)', () => {
    expect(queried.length).toBeGreaterThan(8);
    expect(queried).toContain('argo_daemon_guard_reaper_watch_restarts_total');
    expect(queried).toContain('argo_daemon_guard_reaper_dry_run');
  });

  it.each(queriedByChart())('%s is updated by the code, not only defined', (name) => {
    const d = defined.get(name);
    expect(d, `${name} is not defined by any metrics object`).toBeDefined();
    const sources = files(d!.shell, (f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'metrics.ts').map((f) => readFileSync(f, 'utf8'));
    const update = new RegExp(`\\.${d!.property}\\.(inc|dec|set|observe|startTimer)\\(`);
    expect(sources.some((s) => update.test(s)), `no ${d!.shell}/ source calls ${d!.property}.inc/set/observe`).toBe(true);
  });
});
