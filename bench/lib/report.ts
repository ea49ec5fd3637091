// Tables on stdout, and the shared bench state: where processes of a run keep their pid files and logs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot } from '../../test/cluster/paths.ts';

export function table(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => '| ' + r.map((c, i) => String(c ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  const sep = '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|';
  return [`\n${title}`, line(cells[0]!), sep, ...cells.slice(1).map(line)].join('\n') + '\n';
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

let dirs = 0;

/**
 * Pid files and logs of the processes a bench part starts (not the cluster's own state directory); a
 * new one each call (the harness's HTTPS client caches files by path, certificates included).
 */
export function benchStateDir(part: string): string {
  const dir = join(cacheRoot(), 'bench', `${part}-${process.pid}-${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
