// A lock file that two processes (two `npm run cluster -- up`, a test run and a build) use so that
// only one of them builds a binary or starts a cluster in one state directory at a time. The holder
// is recorded by pid and process start time, so a lock left by a process that died (or a pid that
// was reused) is recognised as stale and taken over.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { processStartTime, isAlive } from './procfs.ts';

interface Holder {
  pid: number;
  start: string | undefined;
  what: string;
  since: string;
}

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

function holderAlive(h: Holder): boolean {
  if (!isAlive(h.pid)) return false;
  return h.start === undefined || processStartTime(h.pid) === h.start;
}

function tryTake(file: string, what: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  const me: Holder = { pid: process.pid, start: processStartTime(process.pid), what, since: new Date().toISOString() };
  writeSync(fd, JSON.stringify(me));
  closeSync(fd);
  return true;
}

export interface LockOptions {
  /** What the holder does, shown to whoever waits ("build kube-apiserver v1.35.4"). */
  what: string;
  /** Called every `reportEverySeconds` while waiting. */
  onWait?: (holder: Holder, waitedSeconds: number) => void;
  reportEverySeconds?: number;
  /** Give up after this long (default: wait as long as it takes; a cold build takes many minutes). */
  timeoutSeconds?: number;
}

/** Runs `fn` holding the lock `file`; waits while another live process holds it. */
export async function withLock<T>(file: string, o: LockOptions, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  let lastReport = 0;
  for (;;) {
    if (tryTake(file, o.what)) break;
    const holder = readHolder(file);
    if (!holder) {
      // Being written this instant, or garbage: give the writer a moment, then treat as stale.
      await sleep(200);
      const again = readHolder(file);
      if (!again) rmSync(file, { force: true });
      continue;
    }
    if (!holderAlive(holder)) {
      rmSync(file, { force: true });
      continue;
    }
    const waited = (Date.now() - started) / 1000;
    if (o.timeoutSeconds !== undefined && waited > o.timeoutSeconds) {
      throw new Error(`timed out after ${Math.round(waited)}s waiting for ${file}, held by pid ${holder.pid} (${holder.what}) since ${holder.since}`);
    }
    if (o.onWait && waited - lastReport >= (o.reportEverySeconds ?? 15)) {
      lastReport = waited;
      o.onWait(holder, Math.round(waited));
    }
    await sleep(500);
  }
  const release = () => {
    const h = readHolder(file);
    if (h && h.pid === process.pid) rmSync(file, { force: true });
  };
  // A lock must not outlive its holder even when the holder is interrupted.
  process.once('exit', release);
  try {
    return await fn();
  } finally {
    process.off('exit', release);
    release();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
