// Which Prometheus metrics the product exports (the webhook's and the reaper's registries) and which
// of them product code really updates, so that an alert or a dashboard panel can never again query a
// series that stays at zero.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetrics } from '../../webhook/metrics.ts';
import { createReaperMetrics } from '../../reaper/metrics.ts';
import { repoRoot } from '../../scripts/generate-chart-files.ts';

/** Product code: what ships in the image (tests and the metric definitions themselves excluded). */
const productDirs = ['webhook', 'reaper', 'runtime', 'cli', 'core'];

function productFiles(dir: string): { path: string; text: string }[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && e.name !== 'metrics.ts' && !e.name.startsWith('test-support'))
    .map((e) => {
      const path = join(e.parentPath, e.name);
      return { path: path.slice(repoRoot.length + 1), text: readFileSync(path, 'utf8') };
    });
}

export interface ExportedMetric {
  /** The property of createMetrics() / createReaperMetrics() that holds it. */
  key: string;
  type: string;
  /** Product files with a call that changes its value (inc, dec, set, observe, startTimer, labels). */
  updatedIn: string[];
}

/** Exported metric name → where it is defined and updated. Histograms also answer for _bucket, _sum, _count. */
export function exportedMetrics(): Map<string, ExportedMetric> {
  const files = productDirs.flatMap(productFiles);
  const out = new Map<string, ExportedMetric>();
  for (const set of [createMetrics({ defaultMetrics: false }), createReaperMetrics({ defaultMetrics: false })]) {
    for (const [key, metric] of Object.entries(set)) {
      if (key === 'registry') continue;
      const { name, constructor } = metric as { name: string; constructor: { name: string } };
      const call = new RegExp(`\\.${key}\\??\\.(inc|dec|set|observe|startTimer|labels)\\(`);
      const entry = { key, type: constructor.name, updatedIn: files.filter((f) => call.test(f.text)).map((f) => f.path) };
      out.set(name, entry);
      if (entry.type === 'Histogram') for (const suffix of ['_bucket', '_sum', '_count']) out.set(name + suffix, entry);
    }
  }
  return out;
}

/** The product's metric names a PromQL expression reads. */
export function metricsIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\bargo_daemon_guard_[a-z_]+/g)].map((m) => m[0]))];
}

/** For each query: the metrics it reads that are not exported, or exported but never updated. */
export function deadMetrics(queries: { where: string; expr: string }[]): string[] {
  const exported = exportedMetrics();
  const problems: string[] = [];
  for (const q of queries) {
    for (const name of metricsIn(q.expr)) {
      const m = exported.get(name);
      if (!m) problems.push(`${q.where}: ${name} is not exported by webhook/metrics.ts or reaper/metrics.ts`);
      else if (m.updatedIn.length === 0) problems.push(`${q.where}: ${name} (metrics.${m.key}) is exported but no product code updates it`);
    }
  }
  return problems;
}
