// What a command of the one binary is, and how every command parses its options: node:util parseArgs,
// -h/--help, and on a bad option the message plus the command's usage on stderr with exit code 2.
// The shells (webhook, reaper) define their commands here; the CLI only lists and loads them.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export type CommandArgs<O extends Options> =
  | { ok: true; values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values']; positionals: string[] }
  | { ok: false; exitCode: number };

export function commandArgs<O extends Options>(command: string, argv: string[], options: O, usage: string): CommandArgs<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } } as O, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`${command}: ${(err as Error).message}\n\n${usage}\n`);
    return { ok: false, exitCode: 2 };
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage + '\n');
    return { ok: false, exitCode: 0 };
  }
  return { ok: true, values: parsed.values, positionals: parsed.positionals };
}

/** A usage error: the message, the usage, exit code 2. */
export function usageError(command: string, message: string, usage: string): number {
  process.stderr.write(`${command}: ${message}\n\n${usage}\n`);
  return 2;
}
