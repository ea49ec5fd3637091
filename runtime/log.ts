// The one logger shape every long-running part uses: pino JSON, the guard's name, stable field names
// (see the README's logging section), so log queries work across the webhook and the reaper.
import { pino, type DestinationStream, type Logger } from 'pino';
import { guard } from '../core/keys.ts';

export type { Logger } from 'pino';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options = {
    name: guard.name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
