// Summarises a V8 CPU profile (node --cpu-prof): the functions with the most self time, and the
// total time under each function of interest (inclusive), as shares of the sampled time.
//   node bench/profile-summary.ts <file.cpuprofile> [--top N] [--inclusive name,name,...] [--callers name,...]
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: Node): string {
  const url = n.callFrame.url.replace(/^file:\/\/\/work\/main\//, '').replace(/^.*node_modules\//, '~');
  return `${n.callFrame.functionName || '(anonymous)'} ${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
}

export function summarise(p: Profile, top = 25, inclusiveNames: string[] = [], callersOf: string[] = []): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()].filter(([id]) => ['(idle)', '(program)'].includes(byId.get(id)!.callFrame.functionName)).reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;

  const selfByLabel = new Map<string, number>();
  for (const [id, t] of self) {
    const l = label(byId.get(id)!);
    selfByLabel.set(l, (selfByLabel.get(l) ?? 0) + t);
  }
  const lines = [`sampled ${(total / 1e6).toFixed(2)} s, busy (not idle/program) ${(busy / 1e6).toFixed(2)} s`, '', 'self time (share of busy):'];
  for (const [l, t] of [...selfByLabel.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((t / busy) * 100).toFixed(1).padStart(5)} %  ${l}`);

  if (inclusiveNames.length) {
    lines.push('', 'inclusive time (share of busy; a sample counts once per name even if the function recurses):');
    for (const name of inclusiveNames) {
      let t = 0;
      for (const [id, dt] of self) {
        for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
          if (byId.get(cur)!.callFrame.functionName === name) {
            t += dt;
            break;
          }
        }
      }
      lines.push(`  ${((t / busy) * 100).toFixed(1).padStart(5)} %  ${name}`);
    }
  }
  for (const name of callersOf) {
    // Self time of `name`, by the chain of its 4 nearest callers.
    const chains = new Map<string, number>();
    for (const [id, dt] of self) {
      if (byId.get(id)!.callFrame.functionName !== name) continue;
      const chain: string[] = [];
      for (let cur = parent.get(id); cur !== undefined && chain.length < (Number(process.env.DEPTH) || 4); cur = parent.get(cur)) chain.push(label(byId.get(cur)!));
      const k = chain.join(' < ');
      chains.set(k, (chains.get(k) ?? 0) + dt);
    }
    lines.push('', `callers of ${name} (share of busy):`);
    for (const [k, t] of [...chains.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6)) lines.push(`  ${((t / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);
  }
  return lines.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile> [--top N] [--inclusive a,b,c]\n');
    process.exit(2);
  }
  const top = rest.includes('--top') ? Number(rest[rest.indexOf('--top') + 1]) : 25;
  const inc = rest.includes('--inclusive') ? rest[rest.indexOf('--inclusive') + 1]!.split(',') : [];
  const callers = rest.includes('--callers') ? rest[rest.indexOf('--callers') + 1]!.split(',') : [];
  process.stdout.write(summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top, inc, callers));
}
