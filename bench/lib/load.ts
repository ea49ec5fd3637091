// Runs one load job in a separate process (bench/load-worker.ts), so the generator never shares an
// event loop with what it measures.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../test/cluster/state.ts';
import type { LoadJob, LoadResult } from '../load-worker.ts';

export type { LoadJob, LoadResult, LoadRequest, LoadMode } from '../load-worker.ts';

export function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(repoRoot, 'bench', 'load-worker.ts'), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.once('message', (m: { ok: true; result: LoadResult } | { ok: false; error: string }) => {
      settled = true;
      if (m.ok) resolve(m.result);
      else reject(new Error(`load generator failed: ${m.error}`));
    });
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`load generator exited with ${code} before answering`));
    });
    child.send(job);
  });
}

/** The latencies of one kind of request in a result. */
export function latenciesOf(r: LoadResult, kind: string): Float64Array {
  const k = r.kinds.indexOf(kind);
  const out: number[] = [];
  for (let i = 0; i < r.latenciesMs.length; i++) if (r.kindOf[i] === k) out.push(r.latenciesMs[i]!);
  return Float64Array.from(out);
}

export function errorCount(r: LoadResult): number {
  return Object.values(r.errors).reduce((a, b) => a + b, 0);
}
