// A small SVG of latency distributions: one panel per benchmark, one percentile curve per arm
// (x: percentile on a "nines" scale, 0 → 99.9; y: latency, log scale). Drawn from the quantiles kept in
// results.json, so running one part of the bench redraws every panel.

export interface Curve {
  label: string;
  /** [percentile, ms] pairs, ascending percentile. */
  points: [number, number][];
}

export interface Panel {
  title: string;
  curves: Curve[];
}

export const quantileSteps = [0, 10, 25, 50, 75, 90, 95, 97, 98, 99, 99.5, 99.7, 99.9];

const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];

/** x position of a percentile: "nines" = -log10(1 - p/100), capped at 99.9. */
function nines(p: number): number {
  return -Math.log10(1 - Math.min(p, 99.9) / 100);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

export function latencySvg(panels: Panel[], subtitle: string): string {
  const pw = 300;
  const ph = 220;
  const m = { l: 48, r: 40, t: 28, b: 36 };
  const cols = Math.min(panels.length, 4);
  const rows = Math.ceil(panels.length / cols);
  const width = cols * (pw + m.l + m.r);
  const height = rows * (ph + m.t + m.b + 60) + 24;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="16" font-size="12" fill="#333">${esc(subtitle)}</text>`,
  ];
  const xMax = nines(99.9);
  panels.forEach((panel, i) => {
    const ox = (i % cols) * (pw + m.l + m.r) + m.l;
    const oy = Math.floor(i / cols) * (ph + m.t + m.b + 60) + 24 + m.t;
    const all = panel.curves.flatMap((c) => c.points.map((p) => p[1])).filter((v) => v > 0 && Number.isFinite(v));
    if (all.length === 0) return;
    const yMin = 10 ** Math.floor(Math.log10(Math.min(...all)));
    const yMax = 10 ** Math.ceil(Math.log10(Math.max(...all)));
    const x = (p: number) => ox + (nines(p) / xMax) * pw;
    const y = (v: number) => oy + ph - ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
    out.push(`<text x="${ox}" y="${oy - 10}" font-size="11" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    for (const t of niceTicks(yMin, yMax)) {
      out.push(`<line x1="${ox}" x2="${ox + pw}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`);
      out.push(`<text x="${ox - 4}" y="${y(t) + 3}" text-anchor="end">${t >= 1 ? t : t.toPrecision(1)}</text>`);
    }
    for (const p of [50, 90, 99, 99.9]) {
      out.push(`<line x1="${x(p)}" x2="${x(p)}" y1="${oy}" y2="${oy + ph}" stroke="#eee"/>`);
      out.push(`<text x="${x(p)}" y="${oy + ph + 14}" text-anchor="middle">p${p}</text>`);
    }
    out.push(`<text x="${ox - 40}" y="${oy + ph / 2}" transform="rotate(-90 ${ox - 40} ${oy + ph / 2})" text-anchor="middle">ms</text>`);
    panel.curves.forEach((c, j) => {
      const color = colors[j % colors.length]!;
      const d = c.points.filter(([, v]) => Number.isFinite(v)).map(([p, v], k) => `${k ? 'L' : 'M'}${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      out.push(`<rect x="${ox + 4}" y="${oy + ph + 24 + j * 13}" width="10" height="3" fill="${color}"/>`);
      out.push(`<text x="${ox + 18}" y="${oy + ph + 29 + j * 13}">${esc(c.label)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
