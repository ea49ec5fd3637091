// argo-daemon-guard: one binary, one command per part (webhook, reaper, and the offline tools). Each
// command lives in its own module and is loaded only when asked for, so `lint` never pulls in the
// Kubernetes client.
import type { Command } from '../runtime/command.ts';

export type { Command };

const commands: Record<string, () => Promise<Command>> = {
  webhook: async () => (await import('../webhook/main.ts')).webhookCommand,
  reaper: async () => (await import('../reaper/main.ts')).reaperCommand,
  lint: async () => (await import('./lint.ts')).lintCommand,
  explain: async () => (await import('./explain.ts')).explainCommand,
  'uninstall-webhooks': async () => (await import('./uninstall-webhooks.ts')).uninstallWebhooksCommand,
  'self-test': async () => (await import('./self-test.ts')).selfTestCommand,
};

function usage(): string {
  return [
    'usage: argo-daemon-guard <command> [options]',
    '',
    'commands:',
    '  webhook             serve the mutating and validating admission webhooks over HTTPS',
    '  reaper              delete leftover daemon pods whose scope is over',
    '  lint FILE...        check Workflows and templates against the daemon policy, offline',
    '  explain --pods F    what the reaper would decide for pods on disk, and why',
    '  uninstall-webhooks  delete a release\'s webhook configurations (the chart\'s pre-delete hook)',
    '  self-test           check a running installation from inside the cluster (the chart\'s helm test)',
    '',
    'Run `argo-daemon-guard <command> --help` for a command\'s options.',
    'Exit codes: 0 ok, 1 an enforce finding (lint), 2 bad usage or unreadable input.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`argo-daemon-guard: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  return (await load()).run(rest);
}

process.exitCode = await main(process.argv.slice(2));
