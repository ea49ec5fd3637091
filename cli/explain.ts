// `argo-daemon-guard explain`: the reaper's decision for pods on disk, with the reaper's own code and
// config, so what it prints is what the reaper would do.
import { readFileSync } from 'node:fs';
import { defaultReaperConfig, parseReaperConfig, ReaperConfigError, type ReaperConfig } from '../core/leftover/config.ts';
import { explain, explainJson, explainText } from '../core/leftover/explain.ts';
import { commandArgs, usageError, type Command } from '../runtime/command.ts';
import { readDocuments } from './documents.ts';

const help = `usage: argo-daemon-guard explain --pods FILE [--workflow FILE] [--config FILE] [--now T] [--first-seen T] [--json]

Decides, for each pod in --pods, what the reaper would do: keep, wait (until notBefore), reap, or
unknown, with the reason.

  --pods FILE        pods: \`kubectl get pod NAME -o yaml\`, a List (\`kubectl get pods -o yaml\`), or many documents
  --workflow FILE    the Workflow(s): \`kubectl get wf NAME -o yaml\` (JSON too, or a List); without it the
                     pods' Workflow counts as gone
  --config FILE      the reaper's config (grace margin, dry-run, ...), so notBefore matches the reaper
  --now T            the moment to decide at (RFC 3339; default: now)
  --first-seen T     when the reaper first saw the state a decision waits on (owner gone, node missing);
                     default: --now
  --json             one JSON object per pod: {"namespace","pod","uid","decision","reason","notBefore"}

Exit codes: 0 decided; 2 bad usage, an unreadable file or an invalid config.`;

function time(flag: string, value: string | undefined, fallback: Date): Date {
  if (value === undefined) return fallback;
  const t = new Date(value);
  if (Number.isNaN(t.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) throw new Error(`${flag} ${JSON.stringify(value)} is not an RFC 3339 time (e.g. 2026-11-23T07:00:00Z)`);
  return t;
}

export const explainCommand: Command = {
  summary: "explain the reaper's decision for pods on disk",
  async run(argv) {
    const args = commandArgs(
      'explain',
      argv,
      { pods: { type: 'string' }, workflow: { type: 'string' }, config: { type: 'string' }, now: { type: 'string' }, 'first-seen': { type: 'string' }, json: { type: 'boolean' } },
      help,
    );
    if (!args.ok) return args.exitCode;
    const { values } = args;
    if (args.positionals.length) return usageError('explain', `unexpected argument ${args.positionals[0]}`, help);
    if (!values.pods) return usageError('explain', '--pods FILE is required', help);
    try {
      let config: ReaperConfig = defaultReaperConfig;
      if (values.config) config = parseReaperConfig(values.config, readFileSync(values.config, 'utf8'));
      const now = time('--now', values.now, new Date());
      const firstSeen = time('--first-seen', values['first-seen'], now);
      const ex = explain({
        pods: readDocuments(values.pods),
        ...(values.workflow ? { workflows: readDocuments(values.workflow) } : {}),
        config,
        now,
        firstSeen,
      });
      for (const p of ex.problems) process.stderr.write(`explain: skipped ${p}\n`);
      process.stdout.write(values.json ? explainJson(ex) : explainText(ex, config));
      return 0;
    } catch (err) {
      const e = err as Error;
      process.stderr.write(`explain: ${e instanceof ReaperConfigError ? e.message : e.message.startsWith('ENOENT') ? `cannot read config ${values.config}` : e.message}\n`);
      return 2;
    }
  },
};
