// The cluster's processes: started detached (each leads its own process group, so it outlives the
// command that started it and can be stopped as a group), recorded in a pid file with what identifies
// it (pid, start time, command line), logged to a file, waited on until ready, and stopped with SIGTERM
// then SIGKILL. Any process (the CLI, a test worker) can stop a component another one started.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { commandLine, groupMembers, isAlive, processStartTime } from './procfs.ts';
import { sleep } from './lock.ts';

export interface ProcessSpec {
  /** Component name: pid file run/<name>.json, log logs/<name>.log. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * A network namespace (a name under /run/netns) to run in. nsenter execs the command, so the pid
   * and the executable recorded are the command's own.
   */
  netns?: string;
}

export interface ProcessRecord {
  name: string;
  pid: number;
  /** /proc start time: tells our process from a later one that reuses the pid. */
  start: string | undefined;
  command: string;
  args: string[];
  logFile: string;
  startedAt: string;
}

export function runDir(stateDir: string): string {
  return join(stateDir, 'run');
}

export function logDir(stateDir: string): string {
  return join(stateDir, 'logs');
}

export function logFileOf(stateDir: string, name: string): string {
  return join(logDir(stateDir), `${name}.log`);
}

function pidFile(stateDir: string, name: string): string {
  return join(runDir(stateDir), `${name}.json`);
}

export function readRecord(stateDir: string, name: string): ProcessRecord | undefined {
  try {
    return JSON.parse(readFileSync(pidFile(stateDir, name), 'utf8')) as ProcessRecord;
  } catch {
    return undefined;
  }
}

export function records(stateDir: string): ProcessRecord[] {
  if (!existsSync(runDir(stateDir))) return [];
  return readdirSync(runDir(stateDir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => readRecord(stateDir, f.slice(0, -'.json'.length)))
    .filter((r): r is ProcessRecord => r !== undefined);
}

/** Still our process: alive, same start time, same executable. */
export function isRunning(r: ProcessRecord): boolean {
  if (!isAlive(r.pid)) return false;
  if (r.start !== undefined && processStartTime(r.pid) !== r.start) return false;
  const argv = commandLine(r.pid);
  return argv.length === 0 || argv[0] === r.command || argv.includes(r.command);
}

export function start(stateDir: string, spec: ProcessSpec): ProcessRecord {
  mkdirSync(runDir(stateDir), { recursive: true });
  mkdirSync(logDir(stateDir), { recursive: true });
  const existing = readRecord(stateDir, spec.name);
  if (existing && isRunning(existing)) throw new Error(`${spec.name} is already running (pid ${existing.pid})`);
  const logFile = logFileOf(stateDir, spec.name);
  const fd = openSync(logFile, 'a');
  writeSync(fd, `\n===== ${new Date().toISOString()} start ${spec.name}: ${spec.command} ${spec.args.join(' ')}\n`);
  let child;
  try {
    const [command, args] = spec.netns ? ['nsenter', [`--net=/run/netns/${spec.netns}`, '--', spec.command, ...spec.args]] : [spec.command, spec.args];
    child = spawn(command, args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command}); see ${logFile}`);
  child.on('error', () => {});
  child.unref();
  const rec: ProcessRecord = {
    name: spec.name,
    pid: child.pid,
    start: processStartTime(child.pid),
    command: spec.command,
    args: spec.args,
    logFile,
    startedAt: new Date().toISOString(),
  };
  const tmp = pidFile(stateDir, spec.name) + '.tmp';
  writeFileSync(tmp, JSON.stringify(rec, null, 2));
  renameSync(tmp, pidFile(stateDir, spec.name));
  return rec;
}

export function logTail(file: string, lines = 20): string {
  try {
    const size = statSync(file).size;
    const text = readFileSync(file, 'utf8').slice(Math.max(0, size - 64 * 1024));
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Polls `check` until it returns a value; fails early, with the end of its log, if the process that
 * should become ready dies.
 */
export async function waitFor<T>(o: WaitOptions, check: () => Promise<T | undefined | false>, proc?: ProcessRecord): Promise<T> {
  const deadline = Date.now() + o.timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (proc && !isRunning(proc)) {
      throw new Error(`${proc.name} exited while waiting for ${o.what}; end of ${proc.logFile}:\n${logTail(proc.logFile)}`);
    }
    if (Date.now() > deadline) {
      const tail = proc ? `\nend of ${proc.logFile}:\n${logTail(proc.logFile)}` : '';
      throw new Error(`timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${o.what}${lastError ? ` (last error: ${lastError})` : ''}${tail}`);
    }
    await sleep(o.intervalMs ?? 250);
  }
}

function signalGroup(r: ProcessRecord, signal: NodeJS.Signals): void {
  try {
    process.kill(-r.pid, signal);
  } catch {
    try {
      process.kill(r.pid, signal);
    } catch {
      /* gone */
    }
  }
}

/**
 * Stops one component: SIGTERM to its process group, SIGKILL after `graceMs`. Signals only a process
 * whose pid, start time and executable match what we recorded, never a pid someone else now uses.
 */
export async function stop(stateDir: string, name: string, graceMs = 10_000): Promise<boolean> {
  const r = readRecord(stateDir, name);
  if (!r) return false;
  let stopped = false;
  if (isRunning(r)) {
    signalGroup(r, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && (isRunning(r) || groupMembers(r.pid).length > 0)) await sleep(100);
    if (isRunning(r) || groupMembers(r.pid).length > 0) {
      signalGroup(r, 'SIGKILL');
      const hard = Date.now() + 5_000;
      while (Date.now() < hard && isRunning(r)) await sleep(50);
    }
    stopped = true;
  } else if (isAlive(r.pid) && r.start !== undefined && processStartTime(r.pid) === r.start) {
    // Same process, different executable name in /proc (exec'd): still ours.
    signalGroup(r, 'SIGKILL');
    stopped = true;
  }
  rmSync(pidFile(stateDir, name), { force: true });
  return stopped;
}

/** Synchronous last resort (process 'exit' handlers cannot wait): SIGKILL every recorded group. */
export function killAllNow(stateDir: string): void {
  for (const r of records(stateDir)) {
    if (isRunning(r)) signalGroup(r, 'SIGKILL');
    rmSync(pidFile(stateDir, r.name), { force: true });
  }
}
