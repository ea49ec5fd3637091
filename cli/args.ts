// The option parsing every command shares lives with the shells (runtime/command.ts); kept here under
// its old name for the CLI modules that still import it from here.
export { commandArgs, usageError, type CommandArgs } from '../runtime/command.ts';
