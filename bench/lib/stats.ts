// Latency samples → percentiles. Samples are kept whole (a few hundred thousand doubles at most), so
// the percentiles are exact, not bucketed.

export interface Summary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function sortedCopy(samples: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(samples as ArrayLike<number>);
  a.sort();
  return a;
}

export function summarize(samplesMs: ArrayLike<number>): Summary {
  const s = sortedCopy(samplesMs);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    count: s.length,
    meanMs: round(s.length ? sum / s.length : NaN),
    p50Ms: round(percentile(s, 50)),
    p90Ms: round(percentile(s, 90)),
    p99Ms: round(percentile(s, 99)),
    p999Ms: round(percentile(s, 99.9)),
    maxMs: round(s.length ? s[s.length - 1]! : NaN),
  };
}

/** Three significant decimals for milliseconds (microsecond resolution). */
export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** [percentile, ms] at each step: the compact form of a distribution kept in results.json. */
export function quantiles(samplesMs: ArrayLike<number>, steps: number[]): [number, number][] {
  const s = sortedCopy(samplesMs);
  return steps.map((p) => [p, round(p === 0 ? (s[0] ?? NaN) : percentile(s, p))]);
}

/** Concatenates sample arrays (rounds of one arm) into one. */
export function concat(parts: ArrayLike<number>[]): Float64Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Float64Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, i);
    i += p.length;
  }
  return out;
}
